"""The benchmark scenarios.  Each one does untimed set-up, then a timed, bounded phase, and
returns one headline figure (MB/s, req/s, images/s or tags/s) plus details."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
import orjson

from bench.client import (
    MANIFEST_ACCEPT,
    Registry,
    RegistryError,
    location,
    with_query,
)

MB = 1_000_000
MiB = 1 << 20
KiB = 1 << 10
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCTET = "application/octet-stream"
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Params:
    size: int = 1 << 30
    chunk: int = 16 * MiB
    manifest_gets: int = 20_000
    manifest_conns: int = 64
    images: int = 300
    image_workers: int = 16
    layer_size: int = 16 * KiB
    tags: int = 2_000
    tags_page: int = 100
    tags_passes: int = 10
    mixed_requests: int = 10_000
    mixed_workers: int = 32
    mixed_seed_images: int = 20
    timeout: float = 900.0  # wall-clock cap of one scenario run

    @classmethod
    def smoke(cls) -> Params:
        return cls(
            size=2 * MiB,
            chunk=512 * KiB,
            manifest_gets=300,
            manifest_conns=8,
            images=12,
            image_workers=4,
            tags=150,
            tags_passes=1,
            mixed_requests=300,
            mixed_workers=8,
            mixed_seed_images=4,
            timeout=120.0,
        )


@dataclass
class Result:
    value: float
    unit: str
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


# --- the large blob -----------------------------------------------------------------------------


class BigBlob:
    """A random file written once per run; each push appends a unique 32-byte suffix so every
    round/server uploads distinct content, with the digest derived from the saved hash state."""

    READ = 1 * MiB

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        self._hash = hashlib.sha256()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bigblob")

    def write(self) -> float:
        """Generate the file (urandom blocks repeated with a varying prefix); returns seconds."""
        t0 = time.perf_counter()
        base = os.urandom(64 * MiB)
        nblocks = len(base) // MiB
        with open(self.path, "wb") as f:
            off = 0
            i = 0
            while off < self.size:
                n = min(MiB, self.size - off)
                j = i % nblocks
                piece = i.to_bytes(16, "big") + base[j * MiB + 16 : j * MiB + MiB]
                piece = piece[:n]
                f.write(piece)
                self._hash.update(piece)
                off += n
                i += 1
        return time.perf_counter() - t0

    def variant(self, tag: str) -> tuple[bytes, str, int]:
        """(suffix, digest, total length) of the file followed by a 32-byte suffix for ``tag``."""
        suffix = hashlib.sha256(tag.encode()).digest()
        h = self._hash.copy()
        h.update(suffix)
        return suffix, "sha256:" + h.hexdigest(), self.size + len(suffix)

    def _open(self) -> BinaryIO:
        return open(self.path, "rb")

    def reader(self, suffix: bytes, start: int, end: int) -> Callable[[], AsyncIterator[bytes]]:
        """A body factory streaming bytes [start, end) of file+suffix from disk."""

        async def gen() -> AsyncIterator[bytes]:
            loop = asyncio.get_running_loop()
            pos = start
            f = await loop.run_in_executor(self._pool, self._open)
            try:
                f.seek(min(pos, self.size))
                while pos < min(end, self.size):
                    n = min(self.READ, min(end, self.size) - pos)
                    data = await loop.run_in_executor(self._pool, f.read, n)
                    if not data:
                        raise RegistryError("big blob file truncated")
                    pos += len(data)
                    yield data
            finally:
                f.close()
            if end > self.size:
                yield suffix[max(0, start - self.size) : end - self.size]

        return gen

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self.path.unlink(missing_ok=True)


# --- small images ---------------------------------------------------------------------------------


@dataclass
class Image:
    tag: str
    blobs: dict[str, bytes]  # digest -> content (config first, then layers)
    manifest: bytes
    digest: str


def make_image(salt: str, index: int, layer_size: int) -> Image:
    rng = random.Random(f"{salt}/{index}")
    layers = [rng.randbytes(layer_size) for _ in range(2)]
    layer_digests = [sha256_digest(b) for b in layers]
    config = orjson.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"wharf.bench": f"{salt}/{index}"}},
            "rootfs": {"type": "layers", "diff_ids": layer_digests},
        }
    )
    cfg_digest = sha256_digest(config)
    manifest = orjson.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": cfg_digest, "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": d, "size": len(b)}
                for d, b in zip(layer_digests, layers, strict=True)
            ],
        }
    )
    blobs = {cfg_digest: config, **dict(zip(layer_digests, layers, strict=True))}
    return Image(f"img-{index:05d}", blobs, manifest, sha256_digest(manifest))


async def upload_blob(reg: Registry, repo: str, digest: str, data: bytes) -> int:
    """POST + PUT?digest= monolithic upload; returns the number of requests sent."""
    r = await reg.request("POST", f"/v2/{repo}/blobs/uploads/", expect=(202,))
    url = with_query(location(reg, r, f"/v2/{repo}/blobs/uploads/"), digest=digest)
    await reg.request("PUT", url, body=data, headers={"Content-Type": OCTET}, expect=(201,))
    return 2


async def put_manifest(reg: Registry, repo: str, ref: str, manifest: bytes) -> None:
    await reg.request(
        "PUT",
        f"/v2/{repo}/manifests/{ref}",
        body=manifest,
        headers={"Content-Type": OCI_MANIFEST},
        expect=(201,),
    )


async def push_image(reg: Registry, repo: str, img: Image) -> int:
    """HEAD each blob, upload the missing ones, PUT the tagged manifest. Returns requests."""
    n = 0
    for digest, data in img.blobs.items():
        r = await reg.request("HEAD", f"/v2/{repo}/blobs/{digest}", expect=(200, 404))
        n += 1
        if r.status == 404:
            n += await upload_blob(reg, repo, digest, data)
    await put_manifest(reg, repo, img.tag, img.manifest)
    return n + 1


async def pull_image(reg: Registry, repo: str, img: Image) -> int:
    """GET the manifest by tag and every blob, verifying all digests. Returns requests."""
    r = await reg.request(
        "GET", f"/v2/{repo}/manifests/{img.tag}", headers={"Accept": MANIFEST_ACCEPT}
    )
    got = sha256_digest(r.body)
    hdr = r.headers.get("Docker-Content-Digest")
    if got != img.digest or (hdr is not None and hdr != got):
        raise RegistryError(f"manifest digest mismatch for {repo}:{img.tag}")
    doc = r.json()
    refs = [doc["config"]["digest"]] + [layer["digest"] for layer in doc["layers"]]
    for d in refs:
        b = await reg.request("GET", f"/v2/{repo}/blobs/{d}")
        if sha256_digest(b.body) != d:
            raise RegistryError(f"blob digest mismatch for {d}")
    return 1 + len(refs)


async def run_workers(
    n_workers: int, n_items: int, work: Callable[[int], Awaitable[object]]
) -> None:
    """Run ``work(i)`` for i in range(n_items) on ``n_workers`` concurrent tasks."""
    it = iter(range(n_items))

    async def worker() -> None:
        for i in it:
            await work(i)

    await asyncio.gather(*(worker() for _ in range(min(n_workers, n_items))))


def percentile(sorted_vals: list[float], q: float) -> float:
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, round(q * (len(sorted_vals) - 1))))
    return sorted_vals[k]


# --- scenario context -------------------------------------------------------------------------


@dataclass
class Ctx:
    """What a scenario gets: the registry, parameters, round, big blob and a per-target store
    that carries data between scenarios (e.g. pull-large pulls what push-large pushed)."""

    reg: Registry
    target: str
    params: Params
    round: int
    blob: BigBlob | None
    state: dict[str, Any]


async def push_large(ctx: Ctx) -> Result:
    assert ctx.blob is not None
    repo = f"bench/large-r{ctx.round}"
    suffix, digest, length = ctx.blob.variant(f"{ctx.target}/large/{ctx.round}/{time.time_ns()}")
    t0 = time.perf_counter()
    r = await ctx.reg.request("POST", f"/v2/{repo}/blobs/uploads/", expect=(202,))
    url = with_query(location(ctx.reg, r, f"/v2/{repo}/blobs/uploads/"), digest=digest)
    await ctx.reg.request(
        "PUT",
        url,
        body=ctx.blob.reader(suffix, 0, length),
        headers={"Content-Type": OCTET, "Content-Length": str(length)},
        expect=(201,),
    )
    dt = time.perf_counter() - t0
    ctx.state[f"large/{ctx.round}"] = (repo, digest, length)
    return Result(length / dt / MB, "MB/s", dt, {"bytes": length})


async def push_chunked(ctx: Ctx) -> Result:
    assert ctx.blob is not None
    repo = f"bench/chunked-r{ctx.round}"
    suffix, digest, length = ctx.blob.variant(f"{ctx.target}/chunked/{ctx.round}/{time.time_ns()}")
    chunk = ctx.params.chunk
    t0 = time.perf_counter()
    r = await ctx.reg.request("POST", f"/v2/{repo}/blobs/uploads/", expect=(202,))
    url = location(ctx.reg, r, f"/v2/{repo}/blobs/uploads/")
    chunks = 0
    for start in range(0, length, chunk):
        end = min(start + chunk, length)
        r = await ctx.reg.request(
            "PATCH",
            url,
            body=ctx.blob.reader(suffix, start, end),
            headers={
                "Content-Type": OCTET,
                "Content-Length": str(end - start),
                "Content-Range": f"{start}-{end - 1}",
            },
            expect=(202,),
        )
        url = location(ctx.reg, r, url)
        chunks += 1
    await ctx.reg.request(
        "PUT",
        with_query(url, digest=digest),
        headers={"Content-Length": "0"},
        expect=(201,),
    )
    dt = time.perf_counter() - t0
    ctx.state.setdefault(f"large/{ctx.round}", (repo, digest, length))
    return Result(length / dt / MB, "MB/s", dt, {"bytes": length, "chunks": chunks})


async def pull_large(ctx: Ctx) -> Result:
    key = f"large/{ctx.round}"
    if key not in ctx.state:  # push-large did not run: push one first (untimed)
        await push_large(ctx)
    repo, digest, length = ctx.state[key]
    h = hashlib.sha256()
    got = 0
    loop = asyncio.get_running_loop()
    pending: list[asyncio.Future[None]] = []
    # Hash in a thread (hashlib drops the GIL) so verification overlaps with receiving.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha") as pool:
        t0 = time.perf_counter()
        async with ctx.reg.stream("GET", f"/v2/{repo}/blobs/{digest}") as resp:
            if resp.status != 200:
                raise RegistryError(f"GET blob: HTTP {resp.status}")
            async for data in resp.content.iter_chunked(4 * MiB):
                got += len(data)
                pending.append(loop.run_in_executor(pool, h.update, data))
                if len(pending) >= 4:
                    await pending.pop(0)
        await asyncio.gather(*pending)
        dt = time.perf_counter() - t0
    if got != length or "sha256:" + h.hexdigest() != digest:
        raise RegistryError(f"pulled blob does not match {digest} ({got} of {length} bytes)")
    return Result(got / dt / MB, "MB/s", dt, {"bytes": got, "verified": True})


async def _manifest_repo(ctx: Ctx) -> tuple[str, Image]:
    if "manifest" not in ctx.state:
        repo = "bench/manifest"
        img = make_image(f"{ctx.target}/manifest", 0, ctx.params.layer_size)
        img.tag = "latest"
        await push_image(ctx.reg, repo, img)
        ctx.state["manifest"] = (repo, img)
    repo, img = ctx.state["manifest"]
    return repo, img


async def manifest_get(ctx: Ctx) -> Result:
    repo, img = await _manifest_repo(ctx)
    path = f"/v2/{repo}/manifests/{img.tag}"
    hdrs = {"Accept": MANIFEST_ACCEPT}
    lat: list[float] = []
    errors = 0
    first_error = ""

    async def one(_: int) -> None:
        nonlocal errors, first_error
        t = time.perf_counter()
        try:
            r = await ctx.reg.request("GET", path, headers=hdrs)
            if len(r.body) != len(img.manifest):
                errors += 1
        except (TimeoutError, RegistryError, OSError, aiohttp.ClientError) as exc:
            errors += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"[:200]
        lat.append(time.perf_counter() - t)

    n = ctx.params.manifest_gets
    t0 = time.perf_counter()
    await run_workers(ctx.params.manifest_conns, n, one)
    dt = time.perf_counter() - t0
    lat.sort()
    return Result(
        n / dt,
        "req/s",
        dt,
        {
            "requests": n,
            "connections": ctx.params.manifest_conns,
            "p50_ms": round(percentile(lat, 0.50) * 1000, 3),
            "p99_ms": round(percentile(lat, 0.99) * 1000, 3),
            "errors": errors,
            "first_error": first_error,
        },
    )


def _images(ctx: Ctx, kind: str) -> list[Image]:
    salt = f"{ctx.target}/{kind}/{ctx.round}/{time.time_ns()}"
    return [make_image(salt, i, ctx.params.layer_size) for i in range(ctx.params.images)]


async def _push_images(ctx: Ctx, repo: str, images: list[Image]) -> tuple[float, int]:
    reqs = 0

    async def one(i: int) -> None:
        nonlocal reqs
        sent = await push_image(ctx.reg, repo, images[i])
        reqs += sent  # not `reqs += await ...`: that loses concurrent updates

    t0 = time.perf_counter()
    await run_workers(ctx.params.image_workers, len(images), one)
    return time.perf_counter() - t0, reqs


async def push_images(ctx: Ctx) -> Result:
    repo = f"bench/images-r{ctx.round}"
    images = _images(ctx, "images")
    dt, reqs = await _push_images(ctx, repo, images)
    ctx.state[f"images/{ctx.round}"] = (repo, images)
    return Result(
        len(images) / dt,
        "images/s",
        dt,
        {"images": len(images), "requests": reqs, "req_per_s": round(reqs / dt, 1)},
    )


async def pull_images(ctx: Ctx) -> Result:
    key = f"images/{ctx.round}"
    if key not in ctx.state:  # push-images did not run: push them first (untimed)
        await push_images(ctx)
    repo, images = ctx.state[key]
    reqs = 0

    async def one(i: int) -> None:
        nonlocal reqs
        sent = await pull_image(ctx.reg, repo, images[i])
        reqs += sent

    t0 = time.perf_counter()
    await run_workers(ctx.params.image_workers, len(images), one)
    dt = time.perf_counter() - t0
    return Result(
        len(images) / dt,
        "images/s",
        dt,
        {
            "images": len(images),
            "requests": reqs,
            "req_per_s": round(reqs / dt, 1),
            "verified": True,
        },
    )


async def tags_list(ctx: Ctx) -> Result:
    p = ctx.params
    if "tags" not in ctx.state:
        repo = "bench/tags"
        img = make_image(f"{ctx.target}/tags", 0, p.layer_size)
        await push_image(ctx.reg, repo, img)

        async def tag(i: int) -> None:
            await put_manifest(ctx.reg, repo, f"t{i:05d}", img.manifest)

        await run_workers(16, p.tags, tag)
        ctx.state["tags"] = repo
    repo = ctx.state["tags"]
    want = p.tags + 1  # plus the image's own tag
    pages = 0
    max_page = 0
    listed = 0
    t0 = time.perf_counter()
    for _ in range(p.tags_passes):
        url: str | None = f"/v2/{repo}/tags/list?n={p.tags_page}"
        seen: list[str] = []
        while url is not None and pages < 10 * want:  # bounded even if Link loops
            r = await ctx.reg.request("GET", url)
            page = r.json().get("tags") or []
            seen.extend(page)
            max_page = max(max_page, len(page))
            pages += 1
            m = _NEXT_LINK.search(r.headers.get("Link", ""))
            url = ctx.reg.url(m.group(1)) if m else None
        if len(set(seen)) != want:
            raise RegistryError(f"listed {len(set(seen))} distinct tags, expected {want}")
        listed += len(seen)
    dt = time.perf_counter() - t0
    return Result(
        listed / dt,
        "tags/s",
        dt,
        {
            "tags": want,
            "passes": p.tags_passes,
            "pages": pages,
            "page_size_asked": p.tags_page,
            "largest_page": max_page,
            "ignored_n": max_page > p.tags_page,
        },
    )


async def mixed(ctx: Ctx) -> Result:
    """75 % pulls (manifest or blob GETs) / 25 % pushes (new blob POST+PUT, or manifest PUT
    under a new tag), ``mixed_workers`` concurrent, until ``mixed_requests`` requests."""
    p = ctx.params
    repo = f"bench/mixed-r{ctx.round}"
    salt = f"{ctx.target}/mixed/{ctx.round}/{time.time_ns()}"
    seed = [make_image(salt, i, p.layer_size) for i in range(p.mixed_seed_images)]
    for img in seed:
        await push_image(ctx.reg, repo, img)
    rng = random.Random(ctx.round)
    plan: list[tuple[str, int]] = []
    planned = 0
    while planned < p.mixed_requests:
        x = rng.random()
        if x < 0.25:
            plan.append(("get-manifest", rng.randrange(len(seed))))
            planned += 1
        elif x < 0.75:
            plan.append(("get-blob", rng.randrange(len(seed))))
            planned += 1
        elif x < 0.75 + 0.25 * 2 / 3:
            plan.append(("push-blob", len(plan)))
            planned += 2
        else:
            plan.append(("put-manifest", rng.randrange(len(seed))))
            planned += 1
    new_blobs = {i: rng.randbytes(p.layer_size) for kind, i in plan if kind == "push-blob"}
    new_digests = {i: sha256_digest(b) for i, b in new_blobs.items()}
    errors = 0
    first_error = ""
    done = 0
    counts: dict[str, int] = {}

    async def one(i: int) -> None:
        nonlocal errors, done, first_error
        kind, arg = plan[i]
        counts[kind] = counts.get(kind, 0) + 1
        try:
            if kind == "get-manifest":
                img = seed[arg]
                r = await ctx.reg.request(
                    "GET", f"/v2/{repo}/manifests/{img.tag}", headers={"Accept": MANIFEST_ACCEPT}
                )
                done += 1
                if sha256_digest(r.body) != img.digest:
                    errors += 1
            elif kind == "get-blob":
                img = seed[arg]
                d = list(img.blobs)[1 + i % 2]
                r = await ctx.reg.request("GET", f"/v2/{repo}/blobs/{d}")
                done += 1
                if sha256_digest(r.body) != d:
                    errors += 1
            elif kind == "push-blob":
                sent = await upload_blob(ctx.reg, repo, new_digests[arg], new_blobs[arg])
                done += sent
            else:
                await put_manifest(ctx.reg, repo, f"m{i:06d}", seed[arg].manifest)
                done += 1
        except (TimeoutError, RegistryError, OSError, aiohttp.ClientError) as exc:
            errors += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"[:200]

    t0 = time.perf_counter()
    await run_workers(p.mixed_workers, len(plan), one)
    dt = time.perf_counter() - t0
    return Result(
        planned / dt,
        "req/s",
        dt,
        {
            "requests": planned,
            "ok_requests": done,
            "errors": errors,
            "first_error": first_error,
            "ops": counts,
        },
    )


Scenario = Callable[[Ctx], Awaitable[Result]]

SCENARIOS: dict[str, Scenario] = {
    "push-large": push_large,
    "push-chunked": push_chunked,
    "pull-large": pull_large,
    "manifest-get": manifest_get,
    "push-images": push_images,
    "pull-images": pull_images,
    "tags-list": tags_list,
    "mixed": mixed,
}

# Target for Wharf: ("ratio", x) = Wharf/reference ≥ x; ("abs", x) = Wharf's own figure ≥ x.
TARGETS: dict[str, tuple[str, float]] = {
    "push-large": ("ratio", 2.0),
    "push-chunked": ("ratio", 2.0),
    "pull-large": ("ratio", 1.0),
    "manifest-get": ("ratio", 5.0),
    "push-images": ("ratio", 2.0),
    "pull-images": ("ratio", 2.0),
    "mixed": ("ratio", 2.0),
    "tags-list": ("abs", 2000.0),
}

NEEDS_BIG_BLOB = {"push-large", "push-chunked", "pull-large"}
