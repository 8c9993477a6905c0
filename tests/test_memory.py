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


@pytest.mark.slow
def test_two_gib_upload_keeps_rss_flat(tmp_path: Path) -> None:
    size = 2 * GIB
    digest = hashlib.sha256()
    for block in blocks(size):
        digest.update(block)
    expected = "sha256:" + digest.hexdigest()
    with run_wharf(tmp_path / "data", workers=1) as server:
        pid = server.process.pid
        # warm up: the first requests import and allocate what every request needs
        requests.post(
            f"{server.url}/v2/m/warm/blobs/uploads/",
            params={"digest": "sha256:" + hashlib.sha256(BLOCK * 8).hexdigest()},
            data=BLOCK * 8,
        )
        _, baseline = peak_and_current_rss(pid)
        r = requests.post(
            f"{server.url}/v2/m/big/blobs/uploads/",
            params={"digest": expected},
            data=blocks(size),
            timeout=600,
        )
        assert r.status_code == 201, r.text
        peak, _ = peak_and_current_rss(pid)
        head = requests.head(f"{server.url}/v2/m/big/blobs/{expected}")
        assert head.headers["Content-Length"] == str(size)
        growth = peak - baseline
        print(f"baseline RSS {baseline / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB")
        assert growth < 64 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB during a 2 GiB upload"
        assert peak < 150 * 2**20
