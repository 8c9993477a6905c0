"""Helpers for the end-to-end tests: run real client commands, build OCI images offline.

Every command runs with a timeout; on failure the assertion message carries the command,
its exit status and the tail of its stdout/stderr, so a failing client says why.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
REF_NAME = "org.opencontainers.image.ref.name"

DEFAULT_TIMEOUT = 120.0


class CommandFailed(AssertionError):
    pass


def _tail(text: str, limit: int = 6000) -> str:
    return text if len(text) <= limit else "...\n" + text[-limit:]


def run(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
    cwd: Path | None = None,
    input: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a client command; raise CommandFailed with its output on error or timeout."""
    __tracebackhide__ = True
    full_env = {**os.environ, **(env or {})}
    shown = shlex.join(cmd)
    started = time.monotonic()
    try:
        proc = subprocess.run(
            cmd,
            env=full_env,
            cwd=cwd,
            input=input.decode() if input is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        raise CommandFailed(
            f"timed out after {timeout:.0f}s: {shown}\n--- stdout ---\n{_tail(out)}"
            f"\n--- stderr ---\n{_tail(err)}"
        ) from None
    elapsed = time.monotonic() - started
    if check and proc.returncode != 0:
        raise CommandFailed(
            f"exit {proc.returncode} after {elapsed:.1f}s: {shown}\n"
            f"--- stdout ---\n{_tail(proc.stdout)}\n--- stderr ---\n{_tail(proc.stderr)}"
        )
    return proc


def unique_repo(kind: str) -> str:
    """A repository name no other test (or earlier run on the same server) uses."""
    return f"e2e/{kind}-{uuid.uuid4().hex[:10]}"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- OCI layouts


@dataclass
class Layout:
    """An OCI image layout directory on disk."""

    path: Path

    def index(self) -> dict[str, Any]:
        return json.loads((self.path / "index.json").read_text())

    def blob(self, digest: str) -> bytes:
        algo, hexpart = digest.split(":", 1)
        return (self.path / "blobs" / algo / hexpart).read_bytes()

    def write_blob(self, data: bytes) -> str:
        digest = sha256_digest(data)
        target = self.path / "blobs" / "sha256" / digest.split(":", 1)[1]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return digest

    def descriptor(self, tag: str) -> dict[str, Any]:
        for desc in self.index()["manifests"]:
            if (desc.get("annotations") or {}).get(REF_NAME) == tag:
                return dict(desc)
        raise KeyError(f"no tag {tag!r} in {self.path}/index.json: {self.index()}")

    def manifest(self, tag_or_digest: str) -> tuple[str, dict[str, Any], bytes]:
        """(digest, parsed manifest/index, raw bytes) for a tag or a digest."""
        if tag_or_digest.startswith("sha256:"):
            digest = tag_or_digest
        else:
            digest = self.descriptor(tag_or_digest)["digest"]
        raw = self.blob(digest)
        return digest, json.loads(raw), raw

    def image_blobs(self, manifest_digest: str) -> list[str]:
        """Config and layer digests of one image manifest."""
        _, manifest, _ = self.manifest(manifest_digest)
        return [manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]

    def tag(self, tag: str, desc: dict[str, Any]) -> None:
        """Point `tag` at a descriptor in index.json (replacing an earlier one)."""
        index = self.index()
        manifests = [
            d for d in index["manifests"] if (d.get("annotations") or {}).get(REF_NAME) != tag
        ]
        entry = dict(desc)
        entry["annotations"] = {**(desc.get("annotations") or {}), REF_NAME: tag}
        manifests.append(entry)
        index["manifests"] = manifests
        (self.path / "index.json").write_text(json.dumps(index))


def make_image(
    layout_dir: Path,
    tag: str,
    *,
    layers: int = 3,
    files_per_layer: int = 3,
    file_size: int = 24 * 1024,
    arch: str = "amd64",
    workdir: Path | None = None,
) -> Layout:
    """Build a small multi-layer image with umoci (random files per layer, so unique blobs)."""
    layout = Layout(layout_dir)
    if not (layout_dir / "index.json").exists():
        run(["umoci", "init", "--layout", str(layout_dir)])
    image = f"{layout_dir}:{tag}"
    run(["umoci", "new", "--image", image])
    scratch = workdir or layout_dir.parent / f"{layout_dir.name}-src-{tag}"
    for n in range(layers):
        src = scratch / f"layer{n}"
        src.mkdir(parents=True, exist_ok=True)
        for i in range(files_per_layer):
            (src / f"file{i}.bin").write_bytes(os.urandom(file_size))
        (src / "README").write_text(f"layer {n} of {tag} ({arch})\n")
        run(["umoci", "insert", "--image", image, str(src), f"/data/layer{n}"])
    run(
        [
            "umoci",
            "config",
            "--image",
            image,
            "--architecture",
            arch,
            "--os",
            "linux",
            "--config.cmd",
            "/bin/true",
            "--config.label",
            f"wharf.e2e.tag={tag}",
        ]
    )
    return layout


def make_index(layout_dir: Path, tag: str, arches: list[str]) -> tuple[Layout, str]:
    """Several single-arch images in one layout and an image index over them at `tag`."""
    layout = Layout(layout_dir)
    children = []
    for arch in arches:
        make_image(layout_dir, f"{tag}-{arch}", layers=2, files_per_layer=2, arch=arch)
        desc = layout.descriptor(f"{tag}-{arch}")
        children.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": desc["digest"],
                "size": desc["size"],
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    raw = json.dumps(index, indent=2).encode()
    digest = layout.write_blob(raw)
    layout.tag(tag, {"mediaType": OCI_INDEX, "digest": digest, "size": len(raw)})
    return layout, digest


# --------------------------------------------------------------------------- Wharf log


def log_offset(log_path: Path) -> int:
    try:
        return log_path.stat().st_size
    except OSError:
        return 0


def access_log(log_path: Path, offset: int = 0) -> list[dict[str, Any]]:
    """Access-log entries (JSON lines with a method and a status) written after `offset`."""
    entries = []
    with open(log_path, errors="replace") as f:
        f.seek(offset)
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and "status" in entry and "method" in entry:
                entries.append(entry)
    return entries


def child_digest(index: dict[str, Any], arch: str) -> str:
    """Digest of the index entry for linux/`arch`."""
    for child in index["manifests"]:
        if child.get("platform", {}).get("architecture") == arch:
            return str(child["digest"])
    raise KeyError(f"no {arch} entry in {index}")
