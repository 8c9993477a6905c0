"""skopeo round trips with Wharf on S3 (a real SeaweedFS), as issue 5 asks: a multi-layer
image and a multi-arch index in and back out, digests identical, plus a repo-to-repo copy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Server, run_wharf
from tests.storage_services import S3Endpoint, seaweed

from .clients import Layout, make_image, make_index, run, unique_repo

__all__ = ["seaweed"]  # the S3 server fixture

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.timeout(300)]

NO_TLS = ["--src-tls-verify=false", "--dest-tls-verify=false"]


@pytest.fixture(scope="module")
def s3_server(seaweed: S3Endpoint, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("wharf-s3-e2e") / "data"
    with run_wharf(data, workers=2, env=seaweed.wharf_env(part_size="5MiB")) as server:
        yield server


def skopeo(env: dict[str, str], *args: str) -> str:
    return run(["skopeo", *args], env=env, timeout=120).stdout


def test_skopeo_round_trips_on_s3(
    tmp_path: Path, s3_server: Server, seaweed: S3Endpoint, client_env: dict[str, str]
) -> None:
    registry = s3_server.url.split("://", 1)[1]
    src = make_image(tmp_path / "src", "v1", layers=3)
    digest, _, raw = src.manifest("v1")
    repo = unique_repo("s3")
    skopeo(client_env, "copy", *NO_TLS, f"oci:{src.path}:v1", f"docker://{registry}/{repo}:v1")
    # repo to repo on the same registry: layers mount, nothing is re-uploaded
    other = unique_repo("s3")
    skopeo(
        client_env,
        "copy",
        *NO_TLS,
        f"docker://{registry}/{repo}:v1",
        f"docker://{registry}/{other}:v1",
    )
    out = Layout(tmp_path / "out")
    skopeo(client_env, "copy", *NO_TLS, f"docker://{registry}/{other}:v1", f"oci:{out.path}:v1")
    assert out.descriptor("v1")["digest"] == digest
    assert out.manifest("v1")[2] == raw
    for blob in src.image_blobs(digest):
        assert out.blob(blob) == src.blob(blob)

    index_layout, index_digest = make_index(tmp_path / "multi", "m", ["amd64", "arm64"])
    skopeo(
        client_env,
        "copy",
        "--all",
        *NO_TLS,
        f"oci:{index_layout.path}:m",
        f"docker://{registry}/{repo}:multi",
    )
    back = Layout(tmp_path / "back")
    skopeo(
        client_env,
        "copy",
        "--all",
        *NO_TLS,
        f"docker://{registry}/{repo}:multi",
        f"oci:{back.path}:m",
    )
    assert back.descriptor("m")["digest"] == index_digest
    # the blobs really live in the bucket
    listing = seaweed.client().list_objects_v2(Bucket=seaweed.bucket, Prefix="blobs/")  # type: ignore[attr-defined]
    keys = {o["Key"] for o in listing.get("Contents", [])}
    assert f"blobs/sha256/{digest[7:9]}/{digest[7:]}" in keys
