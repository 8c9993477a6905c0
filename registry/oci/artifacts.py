"""Artifacts as Harbor's API describes them, worked out from manifest bodies (and config
blobs): Harbor's media type, type (IMAGE, CHART, CNAB, …), size, the additions each type
offers, the attributes its config yields, an index's references, and which referrers are
accessories (signatures, SBOMs, …) of which kind. Pure functions over parsed JSON: no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from wharf.registry.oci.manifests import DOCKER_LIST, INDEX_TYPES, OCI_INDEX

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
CNAB_MANIFEST = "application/vnd.cnab.manifest.v1"
WASM_CONFIG = "application/vnd.wasm.config.v1+json"
HARBOR_SBOM = "application/vnd.goharbor.harbor.sbom.v1"
MODEL_MANIFEST = "application/vnd.cncf.model.manifest.v1+json"
NOTATION_SIGNATURE = "application/vnd.cncf.notary.signature"
COSIGN_CONFIG = "application/vnd.dev.cosign.artifact.sig.v1+json"
COSIGN_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
NYDUS_BOOTSTRAP = "containerd.io/snapshot/nydus-bootstrap"

# the annotations that mark a wasm module packed as an image
WASM_VARIANT = ("module.wasm.image/variant", "compat")
WASM_HANDLER = ("run.oci.handler", "wasm")
# an index (CNAB) may carry the artifact's media type in its annotations
INDEX_ARTIFACT_TYPE = "org.opencontainers.artifactType"

BUILD_HISTORY = "build_history"
VALUES_YAML = "values.yaml"
README_MD = "readme.md"
DEPENDENCIES = "dependencies"
LICENSE = "license"
FILES = "files"
SBOM = "sbom"
# every addition Harbor's API names (others are a 422: not in its enumeration)
ADDITIONS = (BUILD_HISTORY, VALUES_YAML, README_MD, DEPENDENCIES, SBOM, LICENSE, FILES)

# Harbor's accessory types
COSIGN = "signature.cosign"
NOTATION = "signature.notation"
NYDUS = "accelerator.nydus"
SUBJECT = "subject.accessory"
HARBOR_SBOM_ACCESSORY = "sbom.harbor"
SIGNATURES = frozenset({COSIGN, NOTATION})

UNKNOWN = "UNKNOWN"
_VENDOR_CONFIG = re.compile(r"^application/vnd\.[^.]*\.(.*)\.config\.[^.]*\+json$")


@dataclass(frozen=True, slots=True)
class Processor:
    """How Harbor handles one kind of artifact: its type, the additions it offers, and
    what of its config becomes ``extra_attrs`` (``image``, ``wasm``, ``all``: the whole
    config, ``none``)."""

    type: str
    additions: tuple[str, ...] = ()
    attributes: str = "none"
    manifest: bool = True  # a manifest's processor (not an index's)


IMAGE_MANIFEST = Processor("IMAGE", (BUILD_HISTORY,), "image")
IMAGE_INDEX = Processor("IMAGE", manifest=False)
PROCESSORS: dict[str, Processor] = {
    OCI_CONFIG: IMAGE_MANIFEST,
    DOCKER_CONFIG: IMAGE_MANIFEST,
    OCI_INDEX: IMAGE_INDEX,
    DOCKER_LIST: IMAGE_INDEX,
    HELM_CONFIG: Processor("CHART", (VALUES_YAML, README_MD, DEPENDENCIES), "all"),
    CNAB_MANIFEST: Processor("CNAB", manifest=False),
    WASM_CONFIG: Processor("WASM", (BUILD_HISTORY,), "wasm"),
    HARBOR_SBOM: Processor("SBOM", (), "all"),
    MODEL_MANIFEST: Processor("CNAI", (README_MD, LICENSE, FILES), "all"),
}


def _annotations(doc: dict[str, Any]) -> dict[str, Any]:
    found = doc.get("annotations")
    return found if isinstance(found, dict) else {}


def _config(doc: dict[str, Any]) -> dict[str, Any]:
    found = doc.get("config")
    return found if isinstance(found, dict) else {}


def _descriptors(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    found = doc.get(key)
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []


def is_wasm(doc: dict[str, Any]) -> bool:
    annotations = _annotations(doc)
    return any(annotations.get(k) == v for k, v in (WASM_VARIANT, WASM_HANDLER))


def media_type(doc: dict[str, Any], manifest_media_type: str) -> str:
    """Harbor's ``media_type``: a manifest's config media type (a wasm module's own), an
    index's own media type unless its annotations name the artifact's (CNAB)."""
    if manifest_media_type in INDEX_TYPES:
        named = _annotations(doc).get(INDEX_ARTIFACT_TYPE)
        return named if isinstance(named, str) and named else manifest_media_type
    if is_wasm(doc):
        return WASM_CONFIG
    found = _config(doc).get("mediaType")
    return found if isinstance(found, str) else ""


def own_size(doc: dict[str, Any], body_size: int, manifest_media_type: str) -> int:
    """The manifest's bytes plus its config's and its layers' (an index: only its own;
    Harbor adds its children's sizes)."""
    if manifest_media_type in INDEX_TYPES:
        return body_size
    size = body_size
    for descriptor in [_config(doc), *_descriptors(doc, "layers")]:
        value = descriptor.get("size")
        if isinstance(value, int) and not isinstance(value, bool):
            size += value
    return size


def resolved_type(artifact_type: str | None, media_type: str) -> str:
    """What picks the processor: the manifest's artifactType, else Harbor's media type."""
    return artifact_type or media_type


def processor(artifact_type: str | None, media_type: str) -> Processor:
    """Harbor's processor for an artifact: by its resolved type; else the default one,
    whose type comes from a vendor config media type (``application/vnd.x.NAME.config.v1
    +json`` → NAME) or is UNKNOWN."""
    found = PROCESSORS.get(resolved_type(artifact_type, media_type))
    if found is not None:
        return found
    match = _VENDOR_CONFIG.match(media_type)
    if match is None:
        return Processor(UNKNOWN)
    return Processor(match.group(1).upper(), (), "all")


def extra_attrs(kind: Processor, manifest: dict[str, Any], config: Any) -> dict[str, Any]:
    """``extra_attrs`` from the manifest and its parsed config blob (None: none)."""
    if kind.attributes == "none" or not isinstance(config, dict):
        if kind.attributes == "wasm" and not is_wasm(manifest):
            return _wasm_module_attrs(manifest)
        return {}
    if kind.attributes == "all":
        return dict(config)
    if kind.attributes == "wasm":
        if not is_wasm(manifest):
            return _wasm_module_attrs(manifest)
        attrs = {"manifest.config.mediaType": _config(manifest).get("mediaType", "")}
        attrs.update(_image_attrs(config, ("maintainer",)))
        return attrs
    return _image_attrs(config, ("org.opencontainers.image.authors", "maintainer"))


def _wasm_module_attrs(manifest: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {"manifest.config.mediaType": WASM_CONFIG}
    layers = _descriptors(manifest, "layers")
    if layers:
        attrs["manifest.layers.mediaType"] = layers[0].get("mediaType", "")
        title = _annotations(layers[0]).get("org.opencontainers.image.title", "")
        attrs["org.opencontainers.image.title"] = title
    return attrs


def _image_attrs(config: dict[str, Any], author_labels: tuple[str, ...]) -> dict[str, Any]:
    """An image config's created, architecture, os, config and author (from the labels
    when the config names none)."""
    settings = config.get("config")
    author = config.get("author") or ""
    labels = settings.get("Labels") if isinstance(settings, dict) else None
    if not author and isinstance(labels, dict):
        for key in author_labels:
            if labels.get(key):
                author = labels[key]
                break
    return {
        "created": config.get("created"),
        "architecture": config.get("architecture", ""),
        "os": config.get("os", ""),
        "config": settings if isinstance(settings, dict) else {},
        "author": author,
    }


def build_history(config: Any) -> list[Any]:
    """The ``build_history`` addition: the image config's history."""
    history = config.get("history") if isinstance(config, dict) else None
    return history if isinstance(history, list) else []


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One manifest of an index, as Harbor's ``references`` show it."""

    digest: str
    platform: dict[str, Any] | None
    annotations: dict[str, Any] | None
    urls: list[str] | None


def index_entries(doc: dict[str, Any]) -> list[IndexEntry]:
    entries = []
    for item in _descriptors(doc, "manifests"):
        digest = item.get("digest")
        if not isinstance(digest, str):
            continue
        platform = item.get("platform")
        annotations = item.get("annotations")
        urls = item.get("urls")
        entries.append(
            IndexEntry(
                digest,
                platform if isinstance(platform, dict) else None,
                annotations if isinstance(annotations, dict) else None,
                urls if isinstance(urls, list) else None,
            )
        )
    return entries


# an index entry's platform keys → Harbor's (whose document names two with the quotes)
PLATFORM_KEYS = {
    "architecture": "architecture",
    "os": "os",
    "os.version": "'os.version'",
    "os.features": "'os.features'",
    "variant": "variant",
}


def platform_doc(platform: dict[str, Any]) -> dict[str, Any]:
    """An index entry's platform with Harbor's keys."""
    return {harbor: platform[key] for key, harbor in PLATFORM_KEYS.items() if key in platform}


def accessory_type(manifest: dict[str, Any]) -> str:
    """The kind of accessory a manifest with a ``subject`` is (Harbor's, by its
    artifactType or else its config media type)."""
    kind = manifest.get("artifactType") or _config(manifest).get("mediaType")
    if kind in (OCI_CONFIG, DOCKER_CONFIG):
        layers = _descriptors(manifest, "layers")
        if any(NYDUS_BOOTSTRAP in _annotations(layer) for layer in layers):
            return NYDUS
        return SUBJECT
    if kind == NOTATION_SIGNATURE:
        return NOTATION
    if kind in (COSIGN_CONFIG, COSIGN_BUNDLE):
        return COSIGN
    if kind == HARBOR_SBOM:
        return HARBOR_SBOM_ACCESSORY
    return SUBJECT


def is_cosign_signature(manifest: dict[str, Any]) -> bool:
    """A cosign signature pushed under a ``sha256-<digest>.sig`` tag: a manifest with a
    simple-signing layer."""
    return any(
        layer.get("mediaType") == COSIGN_SIMPLESIGNING for layer in _descriptors(manifest, "layers")
    )


def config_digest(manifest: dict[str, Any]) -> str | None:
    found = _config(manifest).get("digest")
    return found if isinstance(found, str) else None
