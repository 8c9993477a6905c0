from __future__ import annotations

import json

import pytest

from wharf.registry.oci.errors import RegistryError
from wharf.registry.oci.manifests import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    accepts,
    parse_manifest,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def image(**extra: object) -> dict[str, object]:
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": D1,
            "size": 2,
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": D2, "size": 3}
        ],
        **extra,
    }


def parse(doc: object, content_type: str | None = OCI_MANIFEST):  # type: ignore[no-untyped-def]
    return parse_manifest(json.dumps(doc).encode(), content_type)


def test_image_manifest_references() -> None:
    parsed = parse(image())
    assert parsed.media_type == OCI_MANIFEST
    assert parsed.blobs == [D1, D2]
    assert parsed.children == []
    assert parsed.artifact_type == "application/vnd.oci.image.config.v1+json"


def test_artifact_type_and_subject() -> None:
    subject = {"mediaType": OCI_MANIFEST, "digest": D3, "size": 10}
    parsed = parse(image(artifactType="application/x-sig", subject=subject, annotations={"a": "b"}))
    assert parsed.artifact_type == "application/x-sig"
    assert parsed.subject == D3
    assert json.loads(parsed.annotations or b"") == {"a": "b"}


def test_index_children() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": D1, "size": 5}],
    }
    parsed = parse(doc, OCI_INDEX)
    assert parsed.children == [D1]
    assert parsed.artifact_type is None


def test_docker_types() -> None:
    doc = image(mediaType=DOCKER_MANIFEST)
    assert parse(doc, DOCKER_MANIFEST).media_type == DOCKER_MANIFEST
    lst = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": []}
    assert parse(lst, DOCKER_LIST).media_type == DOCKER_LIST


def test_foreign_layers_are_not_required() -> None:
    doc = image()
    doc["layers"] = [
        {
            "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "digest": D2,
            "size": 1,
            "urls": ["https://example.invalid/layer"],
        }
    ]
    assert parse(doc).blobs == [D1]


def test_media_type_inferred_without_content_type() -> None:
    doc = image()
    del doc["mediaType"]
    assert parse(doc, None).media_type == OCI_MANIFEST


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"not json", OCI_MANIFEST),
        (b"[]", OCI_MANIFEST),
        (json.dumps(image(schemaVersion=1)).encode(), OCI_MANIFEST),
        (json.dumps(image(schemaVersion=3)).encode(), OCI_MANIFEST),
        (json.dumps(image()).encode(), OCI_INDEX),  # mediaType mismatch
        (json.dumps(image()).encode(), "application/vnd.docker.distribution.manifest.v1+json"),
        (json.dumps(image()).encode(), "text/plain"),
        (json.dumps(image(config={"digest": "x"})).encode(), OCI_MANIFEST),
        (json.dumps(image(layers={})).encode(), OCI_MANIFEST),
        (json.dumps(image(annotations={"a": 1})).encode(), OCI_MANIFEST),
        (json.dumps(image(subject={"digest": D1})).encode(), OCI_MANIFEST),
        (json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX}).encode(), OCI_INDEX),
    ],
)
def test_invalid_manifests(body: bytes, content_type: str) -> None:
    with pytest.raises(RegistryError) as info:
        parse_manifest(body, content_type)
    assert info.value.error.code == "MANIFEST_INVALID"


def test_accept_negotiation() -> None:
    assert accepts([], OCI_MANIFEST)
    assert accepts(["*/*"], OCI_INDEX)
    assert accepts([f"{DOCKER_MANIFEST}, {OCI_MANIFEST};q=0.5"], OCI_MANIFEST)
    assert not accepts([DOCKER_MANIFEST], OCI_INDEX)
