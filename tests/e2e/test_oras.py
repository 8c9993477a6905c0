"""oras-py against Wharf: artifacts with custom media types, `subject`, the referrers API."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import oras.defaults
import oras.oci
import oras.provider
import pytest
import requests

from tests.helpers import Server

from .clients import OCI_INDEX, OCI_MANIFEST, sha256_digest, unique_repo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PAYLOAD_TYPE = "application/vnd.wharf.e2e.payload.v1"
CONFIG_TYPE = "application/vnd.wharf.e2e.config.v1+json"
SIGNATURE_TYPE = "application/vnd.wharf.e2e.signature.v1+json"
SBOM_TYPE = "application/vnd.wharf.e2e.sbom.v1+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"


def fetch_manifest(server: Server, repo: str, reference: str) -> tuple[str, bytes]:
    r = requests.get(
        f"{server.url}/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST}
    )
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == sha256_digest(r.content)
    return r.headers["Docker-Content-Digest"], r.content


def push_referrer(
    reg: oras.provider.Registry,
    tmp_path: Path,
    target_repo: str,
    subject: dict[str, Any],
    artifact_type: str,
    name: str,
) -> tuple[str, dict[str, Any], bytes]:
    """An artifact manifest with `artifactType` and `subject`, pushed by digest (untagged)."""
    layer_file = tmp_path / name
    layer_file.write_bytes(
        json.dumps({"signed": subject["digest"], "nonce": os.urandom(8).hex()}).encode()
    )
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"{}")
    untagged = reg.get_container(f"{target_repo}:placeholder")
    layer = oras.oci.NewLayer(str(layer_file), media_type=artifact_type)
    layer["annotations"] = {oras.defaults.annotation_title: name}
    # (oras answers 200 without uploading when the blob is already there.)
    assert reg.upload_blob(str(layer_file), untagged, layer).status_code in (200, 201, 202)
    config = {"mediaType": EMPTY_TYPE, "digest": sha256_digest(b"{}"), "size": 2}
    assert reg.upload_blob(str(empty), untagged, config).status_code in (200, 201, 202)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": config,
        "layers": [layer],
        "subject": subject,
        "annotations": {"org.opencontainers.image.created": "2026-11-25T00:00:00Z"},
    }
    # requests serialises json= with json.dumps(allow_nan=False): the digest of those bytes.
    body = json.dumps(manifest, allow_nan=False).encode()
    digest = sha256_digest(body)
    response = reg.upload_manifest(manifest, reg.get_container(f"{target_repo}@{digest}"))
    assert response.status_code == 201, response.text
    assert response.headers.get("Docker-Content-Digest") == digest
    assert response.headers.get("OCI-Subject") == subject["digest"], dict(response.headers)
    return digest, manifest, body


def test_oras_artifacts_subject_and_referrers(
    tmp_path: Path, registry: str, e2e_server: Server
) -> None:
    reg = oras.provider.Registry(hostname=registry, insecure=True)
    repo = unique_repo("oras")
    target_repo = f"{registry}/{repo}"

    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(40 * 1024))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"purpose": "wharf e2e"}))
    # Chunked upload in 16 KiB pieces: POST, several PATCHes, closing PUT.
    response = reg.push(
        f"{target_repo}:v1",
        files=[f"{payload}:{PAYLOAD_TYPE}"],
        manifest_config=f"{config}:{CONFIG_TYPE}",
        manifest_annotations={"org.opencontainers.image.title": "wharf-e2e"},
        disable_path_validation=True,
        do_chunked=True,
        chunk_size=16 * 1024,
        quiet=True,
    )
    assert response.status_code == 201, response.text
    subject_digest, subject_raw = fetch_manifest(e2e_server, repo, "v1")
    subject_manifest = json.loads(subject_raw)
    assert subject_manifest["config"]["mediaType"] == CONFIG_TYPE
    assert [layer["mediaType"] for layer in subject_manifest["layers"]] == [PAYLOAD_TYPE]
    subject = {"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": len(subject_raw)}

    sig_digest, sig_manifest, _ = push_referrer(
        reg, tmp_path, target_repo, subject, SIGNATURE_TYPE, "signature.json"
    )
    sbom_digest, _, _ = push_referrer(reg, tmp_path, target_repo, subject, SBOM_TYPE, "sbom.json")

    # All referrers (through oras' own request machinery).
    r = reg.do_request(
        f"http://{target_repo.split('/', 1)[0]}/v2/{repo}/referrers/{subject_digest}"
    )
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith(OCI_INDEX)
    listing = r.json()
    assert listing["schemaVersion"] == 2
    assert listing["mediaType"] == OCI_INDEX
    by_digest = {d["digest"]: d for d in listing["manifests"]}
    assert set(by_digest) == {sig_digest, sbom_digest}, listing
    sig = by_digest[sig_digest]
    assert sig["mediaType"] == OCI_MANIFEST
    assert sig["artifactType"] == SIGNATURE_TYPE
    assert sig["size"] > 0
    assert sig.get("annotations") == sig_manifest["annotations"]

    # Filtered by artifactType.
    r = requests.get(
        f"{e2e_server.url}/v2/{repo}/referrers/{subject_digest}",
        params={"artifactType": SIGNATURE_TYPE},
    )
    assert r.status_code == 200, r.text
    assert r.headers.get("OCI-Filters-Applied") == "artifactType", dict(r.headers)
    assert [d["digest"] for d in r.json()["manifests"]] == [sig_digest]

    # A subject nobody refers to: an empty index, not a 404.
    r = requests.get(f"{e2e_server.url}/v2/{repo}/referrers/{sig_digest}")
    assert r.status_code == 200, r.text
    assert r.json()["manifests"] == []

    # Pull both artifacts back with oras.
    pulled = reg.pull(f"{target_repo}:v1", outdir=str(tmp_path / "pulled"))
    assert [Path(p).name for p in pulled] == ["payload.bin"]
    assert Path(pulled[0]).read_bytes() == payload.read_bytes()
    pulled = reg.pull(f"{target_repo}@{sig_digest}", outdir=str(tmp_path / "pulled-sig"))
    assert [Path(p).name for p in pulled] == ["signature.json"]
    assert Path(pulled[0]).read_bytes() == (tmp_path / "signature.json").read_bytes()
    assert reg.get_manifest(f"{target_repo}@{sig_digest}")["subject"] == subject

    # Deleting a referrer takes it out of the listing.
    r = requests.delete(f"{e2e_server.url}/v2/{repo}/manifests/{sbom_digest}")
    assert r.status_code == 202, r.text
    r = requests.get(f"{e2e_server.url}/v2/{repo}/referrers/{subject_digest}")
    assert r.status_code == 200, r.text
    assert [d["digest"] for d in r.json()["manifests"]] == [sig_digest]


def test_oras_referrer_before_its_subject(
    tmp_path: Path, registry: str, e2e_server: Server
) -> None:
    """A referrer may be pushed before its subject exists (distribution-spec v1.1)."""
    reg = oras.provider.Registry(hostname=registry, insecure=True)
    repo = unique_repo("oras-early")
    absent = os.urandom(64)
    subject = {"mediaType": OCI_MANIFEST, "digest": sha256_digest(absent), "size": len(absent)}
    digest, _, _ = push_referrer(
        reg, tmp_path, f"{registry}/{repo}", subject, SIGNATURE_TYPE, "early.json"
    )
    r = requests.get(f"{e2e_server.url}/v2/{repo}/referrers/{subject['digest']}")
    assert r.status_code == 200, r.text
    assert [(d["digest"], d["artifactType"]) for d in r.json()["manifests"]] == [
        (digest, SIGNATURE_TYPE)
    ]
