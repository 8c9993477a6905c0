"""The distribution API through a real socket, beyond what the conformance suite covers.

Failure paths and what must never happen (500s, stray files) are checked against the
application in this process (`app` and its `client`, see tests/inproc.py); multi-process
behaviour against a 2-worker `wharf serve` (`wharf`): chunks landing on different workers,
writers in two processes, metrics summed over workers, graceful shutdown, start-up
failures, TLS."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest
import requests

from .helpers import OCI_INDEX, OCI_MANIFEST, Client, Server, run_wharf, sha256
from .inproc import InProcessServer, serve_in_process


def unique(prefix: str = "t") -> str:
    return f"{prefix}/r{os.urandom(4).hex()}"


def raw_request(url: str, request_line: str) -> bytes:
    """Send a path exactly as written (no client-side normalisation)."""
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"{request_line}\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_chunked_upload_across_workers(wharf: Server) -> None:
    """Each PATCH is a new connection, so with 2 workers chunks land on both processes;
    the hash state travels in the session row."""
    client = Client(wharf.url)
    repo = unique()
    data = os.urandom(3 * 1024 * 1024 + 17)
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202
    location = r.headers["Location"]
    offset = 0
    for size in (1, 1024 * 1024, 5, 2 * 1024 * 1024):
        chunk = data[offset : offset + size]
        r = requests.patch(
            client.url + location,
            data=chunk,
            headers={
                "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                "Content-Type": "application/octet-stream",
                "Connection": "close",
            },
        )
        assert r.status_code == 202, r.text
        offset += len(chunk)
        assert r.headers["Range"] == f"0-{offset - 1}"
        location = r.headers["Location"]
    rest = data[offset:]
    r = requests.put(client.url + location, params={"digest": sha256(data)}, data=rest)
    assert r.status_code == 201, r.text
    got = client.request("GET", f"/v2/{repo}/blobs/{sha256(data)}")
    assert got.content == data


def test_chunked_upload_sha512_verified_by_rehash(client: Client) -> None:
    repo = unique()
    data = os.urandom(100_000)
    location = client.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    r = client.request("PATCH", location, data=data)
    assert r.status_code == 202
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    r = client.request("PUT", r.headers["Location"], params={"digest": digest})
    assert r.status_code == 201, r.text
    assert client.request("GET", f"/v2/{repo}/blobs/{digest}").content == data


def test_digest_mismatch_leaves_nothing_behind(app: InProcessServer, client: Client) -> None:
    repo = unique()
    storage = app.data_dir / "storage"
    before = files_under(storage / "blobs")
    data = os.urandom(50_000)
    wrong = sha256(b"something else")
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": wrong}, data=data)
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    location = client.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    r = client.request("PUT", location, params={"digest": wrong}, data=data)
    assert r.status_code == 400
    assert client.request("GET", location).status_code == 404
    assert files_under(storage / "blobs") == before
    assert client.request("HEAD", f"/v2/{repo}/blobs/{wrong}").status_code == 404


def test_concurrent_patch_on_one_upload_is_refused(wharf: Server) -> None:
    client = Client(wharf.url)
    repo = unique()
    location = client.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    staged = wharf.data_dir / "storage" / "uploads" / location.rsplit("/", 1)[1] / "data"
    release = threading.Event()
    first = os.urandom(5 * 1024 * 1024)  # over the write buffer, so it reaches the disk

    def slow_body():  # type: ignore[no-untyped-def]
        yield first
        release.wait(20)
        yield b"b" * 1000

    results: list[int] = []
    t = threading.Thread(
        target=lambda: results.append(
            requests.patch(client.url + location, data=slow_body()).status_code
        )
    )
    t.start()
    deadline = time.monotonic() + 20
    while staged.stat().st_size < 4 * 1024 * 1024 and time.monotonic() < deadline:
        time.sleep(0.05)  # the first PATCH holds the upload's lease once it writes
    second = requests.patch(client.url + location, data=b"c" * 10)
    release.set()
    t.join()
    assert results == [202]
    assert second.status_code in (400, 416)
    assert second.json()["errors"][0]["code"] in ("BLOB_UPLOAD_INVALID",)
    assert client.request("GET", location).headers["Range"] == f"0-{len(first) + 999}"


def test_interrupted_patch_keeps_previous_offset(client: Client) -> None:
    repo = unique()
    location = client.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    first = os.urandom(1000)
    r = client.request("PATCH", location, data=first)
    assert r.status_code == 202
    host, port = client.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port))) as sock:  # announce 1 MB, send 10 KB
        sock.sendall(
            f"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n".encode()
            + os.urandom(10_000)
        )
        time.sleep(0.3)
    time.sleep(0.5)
    status = client.request("GET", location)
    assert status.status_code == 204
    assert status.headers["Range"] == "0-999"
    rest = os.urandom(500)
    r = client.request("PATCH", location, data=rest, headers={"Content-Range": "1000-1499"})
    assert r.status_code == 202, r.text
    r = client.request("PUT", location, params={"digest": sha256(first + rest)})
    assert r.status_code == 201, r.text


def test_upload_to_other_repo_is_unknown(client: Client) -> None:
    location = client.request("POST", f"/v2/{unique()}/blobs/uploads/").headers["Location"]
    upload_id = location.rsplit("/", 1)[1]
    r = client.request("GET", f"/v2/{unique()}/blobs/uploads/{upload_id}")
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    r = client.request("GET", f"/v2/{unique()}/blobs/uploads/../../etc")
    assert r.status_code in (400, 404)


def test_automatic_mount_without_from(client: Client) -> None:
    source, target = unique(), unique()
    digest = client.push_blob(source, b"shared layer")
    r = client.request("POST", f"/v2/{target}/blobs/uploads/", params={"mount": digest})
    assert r.status_code == 201
    assert r.headers["Docker-Content-Digest"] == digest
    assert client.request("GET", f"/v2/{target}/blobs/{digest}").content == b"shared layer"
    unknown = sha256(b"never pushed")
    r = client.request("POST", f"/v2/{target}/blobs/uploads/", params={"mount": unknown})
    assert r.status_code == 202  # falls back to a normal upload


def test_blob_visible_only_where_linked(client: Client) -> None:
    a, b = unique(), unique()
    digest = client.push_blob(a, b"only in a")
    assert client.request("HEAD", f"/v2/{a}/blobs/{digest}").status_code == 200
    assert client.request("HEAD", f"/v2/{b}/blobs/{digest}").status_code == 404


def test_ranges(client: Client) -> None:
    repo = unique()
    data = bytes(range(256)) * 40
    digest = client.push_blob(repo, data)
    url = f"/v2/{repo}/blobs/{digest}"
    r = client.request("GET", url, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.content == data[10:20]
    assert r.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    r = client.request("GET", url, headers={"Range": "bytes=-5"})
    assert r.status_code == 206 and r.content == data[-5:]
    r = client.request("GET", url, headers={"Range": f"bytes={len(data) - 1}-99999999"})
    assert r.status_code == 206 and r.content == data[-1:]
    r = client.request("GET", url, headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{len(data)}"
    assert r.json()["errors"][0]["code"] == "SIZE_INVALID"
    r = client.request("GET", url, headers={"Range": "bytes=0-1,4-5"})
    assert r.status_code == 200 and r.content == data
    head = client.request("HEAD", url)
    assert head.headers["Content-Length"] == str(len(data))
    assert head.content == b""


def test_manifest_content_negotiation_and_head(client: Client) -> None:
    repo = unique()
    digest, _ = client.push_image(repo, "v1")
    url = f"/v2/{repo}/manifests/v1"
    r = client.request("GET", url, headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == OCI_MANIFEST
    assert r.headers["Docker-Content-Digest"] == digest
    assert sha256(r.content) == digest
    r = client.request(
        "GET", url, headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    )
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    head = client.request("HEAD", f"/v2/{repo}/manifests/{digest}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Docker-Content-Digest"] == digest


def test_index_requires_children_in_repo(client: Client) -> None:
    repo = unique()
    child, manifest = client.push_image(repo, None)
    size = len(json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": size}],
    }
    _, r = client.push_manifest(unique(), "multi", index, OCI_INDEX)
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    digest, r = client.push_manifest(repo, "multi", index, OCI_INDEX)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert client.request("GET", f"/v2/{repo}/manifests/multi").headers["Content-Type"] == OCI_INDEX


def test_manifest_too_large(client: Client) -> None:
    body = b"{" + b" " * (4 * 1024 * 1024 + 10) + b"}"
    r = client.request(
        "PUT",
        f"/v2/{unique()}/manifests/big",
        data=body,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 413
    assert r.json()["errors"][0]["code"] == "SIZE_INVALID"


def test_delete_manifest_removes_its_tags(client: Client) -> None:
    repo = unique()
    digest, _ = client.push_image(repo, "a")
    r = client.request(
        "PUT",
        f"/v2/{repo}/manifests/b",
        data=client.request("GET", f"/v2/{repo}/manifests/a").content,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201
    assert client.request("GET", f"/v2/{repo}/tags/list").json()["tags"] == ["a", "b"]
    assert client.request("DELETE", f"/v2/{repo}/manifests/{digest}").status_code == 202
    assert client.request("GET", f"/v2/{repo}/tags/list").json()["tags"] == []
    assert client.request("GET", f"/v2/{repo}/manifests/a").status_code == 404


@pytest.mark.parametrize(
    "request_line",
    [
        "GET /v2/../../etc/passwd HTTP/1.1",
        "GET /v2/%2e%2e/%2e%2e/etc/blobs/sha256:" + "0" * 64 + " HTTP/1.1",
        "GET /v2/a%2f..%2f..%2fetc/manifests/latest HTTP/1.1",
        "GET /v2/a/blobs/sha256:..%2f..%2f" + "0" * 58 + " HTTP/1.1",
        "POST /v2/a/blobs/uploads/?digest=sha256:..%2F..%2Fx HTTP/1.1",
        "GET /v2/a/blobs/uploads/..%2F..%2Fetc HTTP/1.1",
        "PUT /v2/a/manifests/..%2F..%2Fx HTTP/1.1",
        "GET /v2/" + "a/" * 200 + "tags/list HTTP/1.1",
        "GET /v2/a/tags/list?n=-1 HTTP/1.1",
        "GET /v2/a/tags/list?n=abc HTTP/1.1",
        "GET /v2/a/referrers/notadigest HTTP/1.1",
        "PATCH /v2/a/manifests/x HTTP/1.1",
    ],
)
def test_hostile_requests_get_client_errors(app: InProcessServer, request_line: str) -> None:
    before = files_under(app.data_dir)
    response = raw_request(app.url, request_line)
    status = int(response.split(b" ", 2)[1])
    assert 400 <= status < 500, response[:300]
    if status != 404 or b"application/json" in response:
        body = response.split(b"\r\n\r\n", 1)[1]
        if body:
            assert json.loads(body)["errors"][0]["code"]
    assert {
        f for f in files_under(app.data_dir) - before if not f.endswith((".db-wal", ".db-shm"))
    } <= {f for f in files_under(app.data_dir) if f.startswith("storage/uploads/")}


def test_unknown_paths_get_oci_errors(client: Client) -> None:
    r = client.request("GET", "/nothing/here")
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"]
    r = client.request("POST", "/v2/_catalog")
    assert r.status_code == 405
    assert r.json()["errors"][0]["code"] == "UNSUPPORTED"


def base_requests_counted(metrics: str) -> int:
    return sum(
        int(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith('wharf_http_requests_total{endpoint="base",method="GET"')
    )


@pytest.mark.slow  # waits for every worker to publish its figures
def test_health_and_metrics(wharf: Server) -> None:
    client = Client(wharf.url)
    assert client.request("GET", "/healthz").json() == {"status": "ok"}
    before = base_requests_counted(requests.get(f"{client.url}/metrics").text)
    for _ in range(40):  # new connections, so both workers serve some
        requests.get(f"{client.url}/v2/", headers={"Connection": "close"})
    time.sleep(1.5)  # each worker publishes its figures every second
    for _ in range(6):  # whichever worker answers the scrape, it reports both
        metrics = requests.get(f"{client.url}/metrics", headers={"Connection": "close"}).text
        assert re.search(r'^wharf_workers\{replica="[^"]+"\} 2$', metrics, re.M)
        assert "wharf_http_request_duration_seconds_bucket" in metrics
        assert base_requests_counted(metrics) >= before + 40


@pytest.mark.slow  # two server processes, one stopped mid-upload
def test_graceful_shutdown_finishes_in_flight_upload(tmp_path: Path) -> None:
    with run_wharf(tmp_path / "data", workers=1) as server:
        repo = unique()
        data = os.urandom(2 * 1024 * 1024)
        started = threading.Event()

        def body():  # type: ignore[no-untyped-def]
            yield data[:1024]
            started.set()
            time.sleep(1.0)
            yield data[1024:]

        result: list[requests.Response] = []
        t = threading.Thread(
            target=lambda: result.append(
                requests.post(
                    f"{server.url}/v2/{repo}/blobs/uploads/",
                    params={"digest": sha256(data)},
                    data=body(),
                )
            )
        )
        t.start()
        started.wait(5)
        time.sleep(0.2)
        assert server.stop() == 0
        t.join()
        assert result[0].status_code == 201
    with run_wharf(tmp_path / "data", workers=1) as server:
        got = Client(server.url).request("GET", f"/v2/{repo}/blobs/{sha256(data)}")
        assert got.content == data


def test_external_url_in_location(tmp_path: Path) -> None:
    external = "https://registry.example.test"
    with serve_in_process(tmp_path / "data", external_url=external) as server:
        r = Client(server.url).request("POST", "/v2/x/blobs/uploads/")
        assert r.headers["Location"].startswith("https://registry.example.test/v2/x/blobs/uploads/")


def test_deletes_can_be_disabled(tmp_path: Path) -> None:
    with serve_in_process(tmp_path / "data", delete_enabled=False) as server:
        client = Client(server.url)
        digest, _ = client.push_image("x/y", "t")
        r = client.request("DELETE", f"/v2/x/y/manifests/{digest}")
        assert r.status_code == 405
        assert r.json()["errors"][0]["code"] == "UNSUPPORTED"


@pytest.mark.slow  # a server process that must fail at start
def test_bad_config_fails_at_start_naming_the_key(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="WHARF_STORAGE__DRIVER"),
        run_wharf(tmp_path / "data", env={"WHARF_STORAGE__DRIVER": "tape"}),
    ):
        pass


@pytest.mark.slow  # a TLS server process of its own
def test_tls(tmp_path: Path) -> None:
    from .tls import make_certificate

    cert, key = make_certificate(tmp_path)
    env = {"WHARF_TLS__CERTIFICATE": str(cert), "WHARF_TLS__KEY": str(key)}
    with run_wharf(tmp_path / "data", env=env, scheme="https") as server:
        r = requests.get(f"{server.url}/v2/", verify=str(cert))
        assert r.status_code == 200
        assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"


BIG = 9 * 1024 * 1024  # over directread.MIN_DIRECT_BODY: the body bypasses the event loop


def test_large_bodies_read_directly_then_connection_closes(client: Client) -> None:
    repo = unique()
    data = os.urandom(BIG)
    session = requests.Session()
    r = session.post(
        f"{client.url}/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)}, data=data
    )
    assert r.status_code == 201, r.text
    assert r.headers.get("Connection", "").lower() == "close"
    # the same client session goes on working (on a new connection)
    r = session.get(f"{client.url}/v2/{repo}/blobs/{sha256(data)}")
    assert r.content == data
    # chunked upload of big chunks, plus a big final PUT body
    location = session.post(f"{client.url}/v2/{repo}/blobs/uploads/").headers["Location"]
    parts = [os.urandom(BIG), os.urandom(BIG + 3), os.urandom(BIG)]
    offset = 0
    for part in parts[:2]:
        r = session.patch(
            client.url + location,
            data=part,
            headers={"Content-Range": f"{offset}-{offset + len(part) - 1}"},
        )
        assert r.status_code == 202, r.text
        offset += len(part)
        location = r.headers["Location"]
    whole = b"".join(parts)
    r = session.put(client.url + location, params={"digest": sha256(whole)}, data=parts[2])
    assert r.status_code == 201, r.text
    assert session.head(f"{client.url}/v2/{repo}/blobs/{sha256(whole)}").headers[
        "Content-Length"
    ] == str(len(whole))


def test_large_body_with_expect_continue(client: Client) -> None:
    repo = unique()
    data = os.urandom(BIG)
    host, port = client.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"POST /v2/{repo}/blobs/uploads/?digest={sha256(data)} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {len(data)}\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100")
        sock.sendall(data)
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 201"), reply[:200]
    assert client.request("GET", f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_large_body_cut_short_keeps_upload_intact(client: Client) -> None:
    repo = unique()
    location = client.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    host, port = client.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            f"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Length: {BIG * 2}\r\n\r\n".encode()
            + os.urandom(BIG)
        )
        time.sleep(0.5)
    data = os.urandom(100)
    deadline = time.monotonic() + 10
    while True:  # the cut-off request holds the lease until the server notices the reset
        r = client.request("PATCH", location, data=data, headers={"Content-Range": "0-99"})
        if r.status_code != 400 or time.monotonic() > deadline:
            break
        assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
        time.sleep(0.1)
    assert r.status_code == 202, r.text
    r = client.request("PUT", location, params={"digest": sha256(data)})
    assert r.status_code == 201, r.text
    assert client.request("GET", "/v2/").status_code == 200
