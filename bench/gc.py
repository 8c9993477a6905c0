"""GC wall time and peak memory on generated stores, next to the reference registry's
``docker-registry garbage-collect`` on the same content.

    python -m bench.gc                     # 100k-blob / 10k-manifest store and one 10x smaller
    python -m bench.gc --manifests 1000    # one size only
    python -m bench.gc --no-reference      # Wharf only

Each store: ``manifests`` OCI image manifests in 100 repositories, each with a config and 8
layers (2 of them from a shared pool of 100), 80% tagged; plus loose blobs (20% of the
blob count) that nothing references. The content is written once per tool: for Wharf
straight into its SQLite tables and storage layout (as pushes would leave them, long
ago), for the reference registry as its filesystem layout (blobs, layer links, revisions,
tags). Both then collect with untagged manifests deleted: ``wharf gc --grace 0
--delete-untagged`` (online: the registry could be serving meanwhile) and
``docker-registry garbage-collect --delete-untagged`` (offline). Each runs as a child
process under GNU time (``/usr/bin/time``), which gives its peak RSS."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REPOS = 100
OWN_LAYERS = 6
SHARED_LAYERS = 2
POOL = 100
OLD = 1000.0


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Image:
    repo: str
    tag: str | None
    body: bytes
    digest: str
    blobs: list[tuple[str, bytes]]  # config and layers


@dataclass
class Content:
    images: list[Image]
    loose: list[tuple[str, str, bytes]]  # repo, digest, data
    pool: list[tuple[str, bytes]]

    @property
    def blob_count(self) -> int:
        own = {d for image in self.images for d, _ in image.blobs}
        return len(own) + len(self.images) + len(self.loose)


def generate(manifests: int, seed: int = 1) -> Content:
    counter = 0

    def data() -> bytes:
        nonlocal counter
        counter += 1
        return f"{seed}:{counter}:".encode() + b"x" * 48

    pool = [(sha(d), d) for d in (data() for _ in range(POOL))]
    images = []
    for n in range(manifests):
        repo = f"bench/r{n % REPOS:03d}"
        config_data = json.dumps({"architecture": "amd64", "os": "linux", "n": n}).encode()
        layers = [(sha(d), d) for d in (data() for _ in range(OWN_LAYERS))]
        layers += [pool[(n + k * 37) % POOL] for k in range(SHARED_LAYERS)]
        doc = {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "digest": sha(config_data), "size": len(config_data)},
            "layers": [{"mediaType": LAYER, "digest": d, "size": len(b)} for d, b in layers],
        }
        body = json.dumps(doc).encode()
        tag = None if n % 5 == 4 else f"t{n}"
        images.append(Image(repo, tag, body, sha(body), [(sha(config_data), config_data), *layers]))
    loose_count = (len(images) * (2 + OWN_LAYERS) + POOL) // 4
    loose = []
    for n in range(loose_count):
        d = data()
        loose.append((f"bench/r{n % REPOS:03d}", sha(d), d))
    return Content(images, loose, pool)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _blob_path(root: Path, digest: str) -> Path:
    hexpart = digest.split(":", 1)[1]
    return root / "blobs" / "sha256" / hexpart[:2] / hexpart


def build_wharf(content: Content, data_dir: Path) -> None:
    """Wharf's tables (migrated by opening it once through `wharf gc --dry-run`) and files."""
    subprocess.run(
        [_wharf(), "gc", "--data", str(data_dir), "--dry-run"],
        check=True,
        capture_output=True,
        env=_env(),
    )
    storage = data_dir / "storage"
    db = sqlite3.connect(data_dir / "wharf.db")
    db.execute("PRAGMA foreign_keys=OFF")
    db.execute("BEGIN")
    repo_ids = {f"bench/r{n:03d}": n + 1 for n in range(REPOS)}
    db.executemany(
        "INSERT INTO repositories (id, name, created) VALUES (?, ?, ?)",
        [(i, name, OLD) for name, i in repo_ids.items()],
    )
    blobs: dict[str, int] = {}
    links: set[tuple[int, str]] = set()
    for image in content.images:
        rid = repo_ids[image.repo]
        for digest, data in image.blobs:
            if digest not in blobs:
                blobs[digest] = len(data)
                _write(_blob_path(storage, digest), data)
            links.add((rid, digest))
        blobs[image.digest] = len(image.body)
        _write(_blob_path(storage, image.digest), image.body)
        db.execute(
            "INSERT INTO manifests (repo_id, digest, media_type, size, created) "
            "VALUES (?, ?, ?, ?, ?)",
            (rid, image.digest, MANIFEST, len(image.body), OLD),
        )
        db.executemany(
            "INSERT OR IGNORE INTO manifest_blobs (repo_id, manifest_digest, blob_digest) "
            "VALUES (?, ?, ?)",
            [(rid, image.digest, d) for d, _ in image.blobs],
        )
        if image.tag is not None:
            db.execute(
                "INSERT INTO tags (repo_id, name, digest, updated) VALUES (?, ?, ?, ?)",
                (rid, image.tag, image.digest, OLD),
            )
    for repo, digest, data in content.loose:
        blobs[digest] = len(data)
        _write(_blob_path(storage, digest), data)
        links.add((repo_ids[repo], digest))
    db.executemany(
        "INSERT INTO blobs (digest, size, created, last_seen) VALUES (?, ?, ?, ?)",
        [(d, size, OLD, OLD) for d, size in blobs.items()],
    )
    db.executemany(
        "INSERT INTO repo_blobs (repo_id, digest, created) VALUES (?, ?, ?)",
        [(rid, d, OLD) for rid, d in links],
    )
    db.execute("COMMIT")
    db.close()


def build_reference(content: Content, root: Path) -> Path:
    """The reference registry's filesystem layout; returns its config file."""
    base = root / "docker" / "registry" / "v2"
    written: set[str] = set()

    def blob(digest: str, data: bytes) -> None:
        if digest not in written:
            written.add(digest)
            hexpart = digest.split(":", 1)[1]
            _write(base / "blobs" / "sha256" / hexpart[:2] / hexpart / "data", data)

    def link(path: Path, digest: str) -> None:
        _write(path / "link", digest.encode())

    for image in content.images:
        repo = base / "repositories" / image.repo
        hexpart = image.digest.split(":", 1)[1]
        blob(image.digest, image.body)
        link(repo / "_manifests" / "revisions" / "sha256" / hexpart, image.digest)
        for digest, data in image.blobs:
            blob(digest, data)
            link(repo / "_layers" / "sha256" / digest.split(":", 1)[1], digest)
        if image.tag is not None:
            tag = repo / "_manifests" / "tags" / image.tag
            link(tag / "current", image.digest)
            link(tag / "index" / "sha256" / hexpart, image.digest)
    for n in range(REPOS):  # the reference registry fails on a repository without tags
        (base / "repositories" / f"bench/r{n:03d}" / "_manifests" / "tags").mkdir(
            parents=True, exist_ok=True
        )
    for repo_name, digest, data in content.loose:
        blob(digest, data)
        link(base / "repositories" / repo_name / "_layers" / "sha256" / digest[7:], digest)
    config = root / "config.yml"
    config.write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root}\n"
    )
    return config


def _wharf() -> str:
    return str(Path(sys.executable).parent / "wharf")


def _env() -> dict[str, str]:
    return {**os.environ, "WHARF_AUTH__ENABLED": "false", "WHARF_LOG__LEVEL": "warning"}


def measure(command: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) of the child, its stdout. The peak comes from GNU
    time, which forks the child from a small process: Linux counts the RSS a process had
    when it was forked into the child's peak, so measuring straight from this (large)
    process would report at least its own size."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as stats:
        wrapped = ["/usr/bin/time", "-f", "%M", "-o", stats.name, *command]
        started = time.perf_counter()
        code = subprocess.run(
            wrapped, stdout=out, stderr=subprocess.DEVNULL, env=_env(), check=False
        ).returncode
        elapsed = time.perf_counter() - started
        if code != 0:
            raise RuntimeError(f"{command[0]} exited with {code}")
        out.seek(0)
        peak_kib = int(stats.read().split()[-1])
        return elapsed, peak_kib, out.read().decode(errors="replace")


def bench(manifests: int, workdir: Path, reference: bool) -> list[dict[str, object]]:
    content = generate(manifests)
    rows: list[dict[str, object]] = []
    size = {"manifests": len(content.images), "blobs": content.blob_count}
    wharf_dir = workdir / f"wharf-{manifests}"
    started = time.perf_counter()
    build_wharf(content, wharf_dir)
    built = time.perf_counter() - started
    seconds, rss, out = measure(
        [_wharf(), "gc", "--data", str(wharf_dir), "--grace", "0", "--delete-untagged", "--json"]
    )
    report = json.loads(out)
    rows.append(
        {
            "tool": "wharf gc (online)",
            **size,
            "seconds": round(seconds, 2),
            "peak_rss_mib": round(rss / 1024, 1),
            "manifests_swept": report["manifests_swept"],
            "blobs_swept": report["blobs_swept"],
            "phases": report["phases"],
            "build_seconds": round(built, 1),
        }
    )
    shutil.rmtree(wharf_dir)
    if reference and shutil.which("docker-registry"):
        ref_dir = workdir / f"reference-{manifests}"
        config = build_reference(content, ref_dir)
        before = sum(1 for _ in (ref_dir / "docker/registry/v2/blobs").rglob("data"))
        seconds, rss, _ = measure(
            ["docker-registry", "garbage-collect", "--delete-untagged", str(config)]
        )
        after = sum(1 for _ in (ref_dir / "docker/registry/v2/blobs").rglob("data"))
        rows.append(
            {
                "tool": "docker-registry garbage-collect (offline)",
                **size,
                "seconds": round(seconds, 2),
                "peak_rss_mib": round(rss / 1024, 1),
                "blobs_swept": before - after,
            }
        )
        shutil.rmtree(ref_dir)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gc", description=__doc__)
    parser.add_argument("--manifests", type=int, action="append", help="store size(s)")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--workdir", type=Path, help="where to build the stores (a temp dir)")
    args = parser.parse_args(argv)
    sizes = args.manifests or [1000, 10000]
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for manifests in sizes:
            for row in bench(manifests, Path(tmp), not args.no_reference):
                print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
