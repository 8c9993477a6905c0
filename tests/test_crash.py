"""Crashes: a killed server or worker loses nothing that was acknowledged."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest
import requests

from .helpers import Client, run_wharf, sha256

# server processes started, killed and restarted: seconds each
pytestmark = pytest.mark.slow


def worker_pids(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [int(pid) for pid in children]


def test_upload_resumes_after_server_is_killed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first, second = os.urandom(3 * 1024 * 1024), os.urandom(2 * 1024 * 1024 + 7)
    with run_wharf(data_dir, workers=1) as server:
        client = Client(server.url)
        committed = client.push_blob("crash/app", b"committed before the crash")
        location = client.request("POST", "/v2/crash/app/blobs/uploads/").headers["Location"]
        r = client.request("PATCH", location, data=first, headers={"Content-Range": "0-3145727"})
        assert r.status_code == 202
        # a second PATCH is cut off mid-body by SIGKILL
        host, port = server.url.split("//")[1].split(":")
        sock = socket.create_connection((host, int(port)))
        sock.sendall(
            f"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Length: {20 * 2**20}\r\n\r\n".encode()
            + os.urandom(5 * 2**20)
        )
        time.sleep(0.3)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        sock.close()
    with run_wharf(data_dir, workers=1) as server:
        client = Client(server.url)
        assert client.request("GET", f"/v2/crash/app/blobs/{committed}").content == (
            b"committed before the crash"
        )
        status = client.request("GET", location)
        assert status.status_code == 204
        assert status.headers["Range"] == f"0-{len(first) - 1}"
        # the killed writer's lease is not waited out: its process is gone
        r = client.request("PATCH", location, data=second)
        assert r.status_code == 202, r.text
        r = client.request("PUT", r.headers["Location"], params={"digest": sha256(first + second)})
        assert r.status_code == 201, r.text
        got = client.request("GET", f"/v2/crash/app/blobs/{sha256(first + second)}")
        assert got.content == first + second


def test_killed_worker_is_replaced(tmp_path: Path) -> None:
    with run_wharf(tmp_path / "data", workers=2) as server:
        client = Client(server.url)
        digest = client.push_blob("crash/w", b"survives")
        before = worker_pids(server.process.pid)
        assert len(before) == 2
        os.kill(before[0], signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            now = worker_pids(server.process.pid)
            if len(now) == 2 and before[0] not in now:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"worker not replaced: {worker_pids(server.process.pid)}")
        for _ in range(20):  # every request lands on a live worker
            r = requests.get(f"{server.url}/v2/crash/w/blobs/{digest}", timeout=5)
            assert r.content == b"survives"
