"""Memory stays flat whatever the blob size: a 2 GiB upload must not grow the process."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .helpers import run_wharf

GIB = 1024**3
BLOCK = os.urandom(1024 * 1024)


def peak_and_current_rss(pid: int) -> tuple[int, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmHWM"].split()[0]) * 1024, int(fields["VmRSS"].split()[0]) * 1024


def blocks(total: int) -> Iterator[bytes]:
    for _ in range(total // len(BLOCK)):
        yield BLOCK


class SizedBody:
    """A file-like body of known length: sent with Content-Length (the direct-read path)."""

    def __init__(self, total: int) -> None:
        self.left = total
        self.len = total

    def read(self, _size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        self.left -= len(BLOCK)
        return BLOCK


@pytest.mark.slow
@pytest.mark.parametrize(
    ("size", "framing"),
    [(2 * GIB, "content-length"), (GIB, "chunked")],
)
def test_big_upload_keeps_rss_flat(tmp_path: Path, size: int, framing: str) -> None:
    digest = hashlib.sha256()
    for block in blocks(size):
        digest.update(block)
    expected = "sha256:" + digest.hexdigest()
    with run_wharf(tmp_path / "data", workers=1) as server:
        pid = server.process.pid
        # warm up: the first requests import and allocate what every request needs
        warm = BLOCK * 8
        requests.post(
            f"{server.url}/v2/m/warm/blobs/uploads/",
            params={"digest": "sha256:" + hashlib.sha256(warm).hexdigest()},
            data=warm,
        )
        _, baseline = peak_and_current_rss(pid)
        body = SizedBody(size) if framing == "content-length" else blocks(size)
        r = requests.post(
            f"{server.url}/v2/m/big/blobs/uploads/",
            params={"digest": expected},
            data=body,
            timeout=600,
        )
        assert r.status_code == 201, r.text
        peak, _ = peak_and_current_rss(pid)
        head = requests.head(f"{server.url}/v2/m/big/blobs/{expected}")
        assert head.headers["Content-Length"] == str(size)
        growth = peak - baseline
        print(f"{framing}: baseline RSS {baseline / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB")
        assert growth < 64 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB during the upload"
        assert peak < 150 * 2**20
