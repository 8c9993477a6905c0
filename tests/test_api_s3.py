"""The registry API, and the OCI conformance suite, with Wharf storing blobs on S3
(a real SeaweedFS server), two worker processes so chunks land on different ones."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from conformance import run
from tests.helpers import OCI_MANIFEST, Client, Server, run_wharf, sha256
from tests.storage_services import S3Endpoint, seaweed

__all__ = ["seaweed"]  # the S3 server fixture

MiB = 1024 * 1024
pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def s3_wharf(seaweed: S3Endpoint, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("wharf-s3") / "data"
    with run_wharf(data, workers=2, env=seaweed.wharf_env(part_size="5MiB")) as server:
        yield server


@pytest.fixture
def s3_client(s3_wharf: Server) -> Client:
    return Client(s3_wharf.url)


def test_monolithic_push_and_range_get(s3_client: Client, seaweed: S3Endpoint) -> None:
    for size in (0, 1, 1000, 7 * MiB + 3, 13 * MiB + 5):  # the last: read directly off the socket
        data = os.urandom(size)
        digest = s3_client.push_blob("s3/mono", data)
        r = s3_client.request("GET", f"/v2/s3/mono/blobs/{digest}")
        assert r.status_code == 200 and r.content == data
        head = s3_client.request("HEAD", f"/v2/s3/mono/blobs/{digest}")
        assert head.headers["Content-Length"] == str(size)
        if size > 20:
            r = s3_client.request(
                "GET", f"/v2/s3/mono/blobs/{digest}", headers={"Range": "bytes=10-19"}
            )
            assert r.status_code == 206 and r.content == data[10:20]
            r = s3_client.request(
                "GET", f"/v2/s3/mono/blobs/{digest}", headers={"Range": f"bytes={size - 1}-"}
            )
            assert r.status_code == 206 and r.content == data[-1:]
    # the blob really is in the bucket, at its content address
    objects = seaweed.client().list_objects_v2(Bucket=seaweed.bucket, Prefix="blobs/")  # type: ignore[attr-defined]
    keys = {o["Key"] for o in objects.get("Contents", [])}
    assert f"blobs/sha256/{digest[7:9]}/{digest[7:]}" in keys


def test_chunked_push_with_small_chunks(s3_client: Client) -> None:
    sizes = [1, 1000, 3 * MiB, 6 * MiB, 7, 5 * MiB, 2]
    chunks = [os.urandom(n) for n in sizes]
    data = b"".join(chunks)
    r = s3_client.request("POST", "/v2/s3/chunked/blobs/uploads/")
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    offset = 0
    for chunk in chunks:
        r = s3_client.request(
            "PATCH",
            location,
            data=chunk,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
            },
        )
        assert r.status_code == 202, r.text
        offset += len(chunk)
        assert r.headers["Range"] == f"0-{offset - 1}"
        location = r.headers["Location"]
    digest = sha256(data)
    sep = "&" if "?" in location else "?"
    r = s3_client.request("PUT", f"{location}{sep}digest={digest}")
    assert r.status_code == 201, r.text
    r = s3_client.request("GET", f"/v2/s3/chunked/blobs/{digest}")
    assert hashlib.sha256(r.content).hexdigest() == digest[7:]


def test_manifest_round_trip(s3_client: Client) -> None:
    digest, manifest = s3_client.push_image("s3/image", "v1")
    r = s3_client.request("GET", "/v2/s3/image/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == digest
    assert r.json() == manifest
    r = s3_client.request(
        "GET", f"/v2/s3/image/manifests/{digest}", headers={"Accept": OCI_MANIFEST}
    )
    assert r.status_code == 200 and sha256(r.content) == digest
    for layer in manifest["layers"]:  # type: ignore[attr-defined]
        r = s3_client.request("GET", f"/v2/s3/image/blobs/{layer['digest']}")
        assert r.status_code == 200 and sha256(r.content) == layer["digest"]


def test_redirect_to_presigned_url(seaweed: S3Endpoint, tmp_path: Path) -> None:
    env = seaweed.wharf_env(redirect="true", prefix="redirecting")
    with run_wharf(tmp_path / "data", env=env) as server:
        client = Client(server.url)
        data = os.urandom(5000)
        digest = client.push_blob("s3/redirect", data)
        r = client.request("GET", f"/v2/s3/redirect/blobs/{digest}")
        assert r.status_code == 307
        assert r.headers["Location"].startswith(seaweed.url)
        fetched = requests.get(r.headers["Location"], timeout=10)
        assert fetched.status_code == 200 and fetched.content == data


def test_start_fails_on_missing_bucket(seaweed: S3Endpoint, tmp_path: Path) -> None:
    env = seaweed.wharf_env(bucket="no-such-bucket")
    missing = pytest.raises(RuntimeError, match=r"storage\.s3\.bucket.*no-such-bucket")
    with missing, run_wharf(tmp_path / "data", env=env):
        pass
    env = seaweed.wharf_env(secret_key="wrong")
    denied = pytest.raises(RuntimeError, match=r"storage\.s3: access .*denied")
    with denied, run_wharf(tmp_path / "data2", env=env):
        pass


def test_conformance_on_s3(s3_wharf: Server) -> None:
    out = io.StringIO()
    report = run(s3_wharf.url, out=out)
    assert report.passed > 50, out.getvalue()
    assert report.ok, "\n".join(f"{r.id}: {r.reason}" for r in report.failures())
