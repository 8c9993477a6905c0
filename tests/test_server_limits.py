"""Slow, stuck and abusive clients against a real `wharf serve`: header and body timeouts,
the keep-alive idle timeout, the per-client connection cap, and malformed requests that
must cost a few short log lines, never a traceback each."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import Client, Server, run_wharf, sha256
from wharf.registry.config import ConfigError, load_settings

REPO = "limits/test"
MiB = 1024 * 1024


def connect(server: Server, timeout: float = 10.0) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    return sock


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    sock.settimeout(limit)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"not closed within {limit} s; received {received[:300]!r}") from None
    return received, time.monotonic() - started


def log_entries(server: Server) -> list[dict[str, object]]:
    entries = []
    for line in server.log().splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    return entries


def fault_lines(server: Server, fault: str) -> list[dict[str, object]]:
    return [e for e in log_entries(server) if e.get("fault") == fault]


def wait_for(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)


@pytest.fixture
def fast_limits(tmp_path: Path) -> Iterator[Server]:
    env = {
        "WHARF_LIMITS__HEADER_TIMEOUT": "1",
        "WHARF_LIMITS__BODY_IDLE_TIMEOUT": "1",
        "WHARF_LIMITS__KEEPALIVE_TIMEOUT": "1.5",
    }
    with run_wharf(tmp_path / "data", env=env) as server:
        yield server


# --- configuration ------------------------------------------------------------------------
def test_limits_defaults_env_override_and_errors_naming_the_key() -> None:
    limits = load_settings(environ={}).limits
    assert limits.header_timeout == 10
    assert limits.body_idle_timeout == 60
    assert limits.keepalive_timeout == 75
    assert limits.max_connections_per_client == 256
    env = {"WHARF_LIMITS__HEADER_TIMEOUT": "2.5", "WHARF_LIMITS__MAX_CONNECTIONS_PER_CLIENT": "0"}
    overridden = load_settings(environ=env).limits
    assert overridden.header_timeout == 2.5 and overridden.max_connections_per_client == 0
    with pytest.raises(ConfigError) as bad:
        load_settings(environ={"WHARF_LIMITS__BODY_IDLE_TIMEOUT": "-1"})
    assert "limits.body_idle_timeout" in str(bad.value)
    assert "WHARF_LIMITS__BODY_IDLE_TIMEOUT" in str(bad.value)
    with pytest.raises(ConfigError, match=r"limits\.header_timeouts"):
        load_settings(environ={"WHARF_LIMITS__HEADER_TIMEOUTS": "3"})


# --- timeouts -----------------------------------------------------------------------------
def test_incomplete_request_headers_get_408_and_close(fast_limits: Server) -> None:
    with connect(fast_limits) as sock:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\n")
        received, took = read_until_closed(sock, 8)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert took < 4, took
    wait_for(lambda: fault_lines(fast_limits, "header_timeout"))
    lines = fault_lines(fast_limits, "header_timeout")
    assert len(lines) == 1 and lines[0]["level"] == "info", lines
    assert lines[0]["remote"] == "127.0.0.1"


def test_dripped_headers_are_cut_off_even_while_bytes_flow(fast_limits: Server) -> None:
    with connect(fast_limits) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nX-Slow: ")
        try:
            for _ in range(40):  # one byte every 0.1 s would take 4 s
                sock.sendall(b"a")
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received, _ = read_until_closed(sock, 8)
        took = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert took < 3.5, took


def test_connection_that_sends_nothing_is_closed(fast_limits: Server) -> None:
    with connect(fast_limits) as sock:
        received, took = read_until_closed(sock, 8)
    assert received == b"" and took < 4, (received, took)


def test_stalled_request_body_is_aborted(fast_limits: Server) -> None:
    body = os.urandom(4096)
    head = (
        f"POST /v2/{REPO}/blobs/uploads/?digest={sha256(body)} HTTP/1.1\r\n"
        f"Host: x\r\nContent-Length: {len(body)}\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    with connect(fast_limits) as sock:
        sock.sendall(head + body[:100])
        received, took = read_until_closed(sock, 8)
    assert took < 4, took
    assert received == b"" or received.startswith(b"HTTP/1.1 4"), received
    wait_for(lambda: fault_lines(fast_limits, "body_timeout"))
    assert len(fault_lines(fast_limits, "body_timeout")) == 1
    assert "Traceback" not in fast_limits.log()


def test_slow_body_survives_while_bytes_keep_flowing(fast_limits: Server) -> None:
    """12 pieces 0.3 s apart: 3.6 s in all, far past the 1 s idle timeout, never idle."""
    body = os.urandom(12 * 20_000)
    head = (
        f"POST /v2/{REPO}/blobs/uploads/?digest={sha256(body)} HTTP/1.1\r\n"
        f"Host: x\r\nContent-Length: {len(body)}\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    with connect(fast_limits) as sock:
        sock.sendall(head)
        for start in range(0, len(body), 20_000):
            time.sleep(0.3)
            sock.sendall(body[start : start + 20_000])
        sock.settimeout(10)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:300]
    assert requests.get(f"{fast_limits.url}/v2/{REPO}/blobs/{sha256(body)}").content == body


def _patch_head(server: Server, length: int) -> bytes:
    r = requests.post(f"{server.url}/v2/{REPO}/blobs/uploads/", timeout=10)
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    path = location.removeprefix(server.url)
    return (
        f"PATCH {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def test_big_body_read_straight_off_the_socket_obeys_the_idle_timeout(
    fast_limits: Server,
) -> None:
    """16 MiB bodies take the direct-read path (a thread reading the socket), which used to
    wait 120 s for a stalled client whatever the configuration said."""
    head = _patch_head(fast_limits, 16 * MiB)
    with connect(fast_limits) as sock:
        sock.sendall(head + os.urandom(10 * MiB))
        received, took = read_until_closed(sock, 10)
    assert took < 5, took
    assert received.startswith(b"HTTP/1.1 400 "), received[:200]
    assert b"mid-body" in received


def test_big_body_read_straight_off_the_socket_survives_pauses_shorter_than_idle(
    fast_limits: Server,
) -> None:
    data = os.urandom(16 * MiB)
    head = _patch_head(fast_limits, len(data))
    with connect(fast_limits) as sock:
        sock.sendall(head)
        for start in range(0, len(data), 2 * MiB):  # 8 pieces, 0.4 s apart: 3.2 s in all
            sock.sendall(data[start : start + 2 * MiB])
            time.sleep(0.4)
        sock.settimeout(10)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 202 "), answer[:300]


def test_idle_keepalive_connection_is_closed(fast_limits: Server) -> None:
    with connect(fast_limits) as sock:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 "), first
        rest, took = read_until_closed(sock, 8)
    assert rest == b"" and took < 4, (rest, took)


# --- connections per client -----------------------------------------------------------------
def test_connections_beyond_the_per_client_cap_are_refused(tmp_path: Path) -> None:
    env = {"WHARF_LIMITS__MAX_CONNECTIONS_PER_CLIENT": "3"}
    with run_wharf(tmp_path / "data", env=env) as server:
        time.sleep(0.3)  # let the health-check connection of run_wharf close
        held = [connect(server) for _ in range(3)]
        try:
            for sock in held:  # all three are served
                sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
                sock.settimeout(5)
                assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
            for _ in range(5):
                with connect(server) as extra:
                    received, took = read_until_closed(extra, 5)
                assert received.startswith(b"HTTP/1.1 503 "), received
                assert b"Retry-After: " in received and took < 2
            held.pop().close()
            time.sleep(0.3)
            assert Client(server.url).request("GET", "/v2/").status_code == 200
        finally:
            for sock in held:
                sock.close()
        refusals = fault_lines(server, "too_many_connections")
        assert len(refusals) == 5 and all(e["level"] == "info" for e in refusals)


# --- malformed requests ---------------------------------------------------------------------
BAD_REQUESTS = [
    b"GARBAGE\r\n\r\n",
    b"GET /v2/ HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
    b"GET /v2/ HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
]


def test_a_flood_of_malformed_requests_costs_a_few_short_lines(tmp_path: Path) -> None:
    with run_wharf(tmp_path / "data", workers=2) as server:
        statuses = set()
        for n in range(1000):
            with connect(server) as sock:
                sock.sendall(BAD_REQUESTS[n % len(BAD_REQUESTS)])
                received, _ = read_until_closed(sock, 5)
            statuses.add(received[9:12])  # (aiohttp answers unparsable requests in HTTP/1.0)
        assert statuses == {b"400"}, statuses
        assert requests.get(f"{server.url}/v2/", timeout=5).status_code == 200
        server.stop()
        entries = log_entries(server)
        text = server.log()
    errors = [e for e in entries if e["level"] in ("error", "critical")]
    assert errors == [] and "Traceback" not in text, errors[:3]
    bad = [e for e in entries if e.get("fault") == "bad_request"]
    summaries = [e for e in entries if e.get("fault") == "suppressed"]
    # 20 lines per worker per 10 s window: the whole flood is 40-80 lines, plus summaries
    assert 20 <= len(bad) <= 2 * 20 * 3, len(bad)
    assert 1 <= len(summaries) <= 2 * 3, summaries
    assert len(bad) + sum(sum(e["suppressed"].values()) for e in summaries) == 1000  # type: ignore[union-attr]
    assert all(e["level"] == "info" and e["remote"] == "127.0.0.1" for e in bad)
    assert all(len(str(e["msg"])) < 260 for e in bad)
    assert any("GARBAGE" in str(e["msg"]) or "method" in str(e["msg"]).lower() for e in bad)
