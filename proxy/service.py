"""The /v2 reads of proxy-cache projects.

``hub-proxy/library/alpine`` in a project mirroring a registry is ``library/alpine``
upstream (Docker Hub endpoints map one-component names to ``library/<name>``).

Manifests: a cached one is served as is when asked by digest, and by tag while the tag was
checked within ``manifest_check_interval``; past it one HEAD upstream says whether the tag
still names the cached digest. A miss (or a moved tag) is fetched, served at once, and
stored in the background through the content core as the system actor (events emitted),
once the blobs it references are in the store — fetched alongside, through the same
single-flight as clients' blob pulls, so nothing is fetched twice — or, for an index,
once every child was pulled (children are fetched when asked, within ``index_wait``).
Upstream down or erroring: the cached copy is served with a log line; without one, a 503
``UNAVAILABLE`` (404 when upstream says it does not exist), every exchange bounded by
``upstream_timeout``.

Blobs: a cached one is served like any other; a miss starts (or joins) the ``Fetch`` of
that blob and streams it from its first bytes. Single-flight: in the process, one fetch per
(repository, digest); across processes and replicas, a lease from the coordination (an
flock on one host, a Redis key with a TTL renewed while fetching) — a process that cannot
take it waits until the holder stored the blob (then serves it from the store), or took
longer than ``fetch_wait``, or died (the lease lapses and it takes over).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from wharf.coord.leader import LeaderLock
from wharf.proxy.directory import ProxyDirectory
from wharf.proxy.fetch import Fetch, produce
from wharf.registry.config import ProxyConfig
from wharf.registry.content.blobs import BlobHandle
from wharf.registry.content.service import ContentService
from wharf.registry.events import SYSTEM, Actor, ManifestPulled
from wharf.registry.metadata.base import ManifestRecord
from wharf.registry.oci.errors import (
    BLOB_UNKNOWN,
    MANIFEST_UNKNOWN,
    UNAVAILABLE,
    RegistryError,
)
from wharf.registry.oci.names import Digest, parse_digest
from wharf.replication.client.auth import AuthFailed
from wharf.replication.client.blobs import DigestMismatch
from wharf.replication.client.client import BadManifest, Manifest, RegistryClient
from wharf.replication.client.endpoint import InvalidEndpoint
from wharf.replication.client.transport import (
    ClientOptions,
    NotFound,
    RegistryUnreachable,
    RemoteError,
    RetryPolicy,
)
from wharf.replication.models import Registry

log = logging.getLogger("wharf.proxy")

# what an upstream exchange may fail with (besides NotFound, a RemoteError)
UPSTREAM_ERRORS: tuple[type[BaseException], ...] = (
    RegistryUnreachable,
    RemoteError,
    AuthFailed,
    DigestMismatch,
    BadManifest,
    InvalidEndpoint,
    aiohttp.ClientError,
    TimeoutError,
    OSError,
    ValueError,
)
CHECKED_ENTRIES = 100_000  # tags remembered as checked, per process
INDEX_POLL = 0.5  # seconds between looks for an index's children
FETCH_POLL = 0.2  # seconds between looks while another process fetches a blob
BLOB_FETCHES = 4  # blobs of one manifest fetched at once in the background
STALE_SPOOL = 3600.0  # seconds since its last write after which a spool file is debris


@dataclass(frozen=True, slots=True)
class Target:
    """Where a repository of a proxy project comes from."""

    project: str
    registry_id: int
    upstream_repo: str


@dataclass(frozen=True, slots=True)
class ServedManifest:
    media_type: str
    digest: str
    content: bytes


@dataclass(frozen=True, slots=True)
class StreamedBlob:
    """A blob on its way from upstream: ``size`` (None when upstream did not say)."""

    digest: Digest
    size: int | None
    chunks: AsyncIterator[bytes]


def lease_name(repo: str, digest: Digest) -> str:
    return f"pb.{digest.hex[:61]}"


class ProxyCache:
    def __init__(
        self,
        content: ContentService,
        directory: ProxyDirectory,
        registries: Callable[[int], Awaitable[Registry]],
        lease: Callable[[str], LeaderLock],
        config: ProxyConfig,
        spool_dir: Path,
    ) -> None:
        self.content = content
        self.directory = directory
        self.registries = registries
        self.lease = lease
        self.config = config
        self.spool_dir = spool_dir
        self.options = ClientOptions(
            retry=RetryPolicy(attempts=2, backoff=0.2, max_delay=1.0),
            connect_timeout=min(config.upstream_timeout, 5.0),
            read_timeout=config.upstream_timeout,
        )
        self._clients: dict[int, tuple[float, RegistryClient]] = {}
        self._checked: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._fetches: dict[tuple[str, str], Fetch] = {}
        self._storing: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Remove spool files a killed process left behind (a live spool is written to
        continually, and upstream silence is bounded, so an old one is nobody's)."""
        await asyncio.to_thread(_purge_spools, self.spool_dir, time.time() - STALE_SPOOL)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for _, client in self._clients.values():
            await client.close()
        self._clients.clear()

    # --- where from ----------------------------------------------------------------------
    async def target(self, repo: str) -> Target | None:
        """None unless ``repo`` lies in a proxy-cache project."""
        project, sep, rest = repo.partition("/")
        if not sep:
            return None
        registry_id = await self.directory.registry_of(project)
        if registry_id is None:
            return None
        return Target(project, registry_id, rest)

    async def _client(self, target: Target) -> RegistryClient:
        try:
            registry = await self.registries(target.registry_id)
        except Exception as exc:  # NotFound of the registry service, a database error
            raise RegistryError(
                UNAVAILABLE,
                message=f"the upstream registry of proxy project {target.project} is gone",
            ) from exc
        known = self._clients.get(registry.id)
        if known is not None and known[0] == registry.updated:
            return known[1]
        client = RegistryClient(registry.endpoint(), self.options)
        await client.transport.start()
        self._clients[registry.id] = (registry.updated, client)
        if known is not None:
            self._spawn(known[1].close())
        return client

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- manifests -----------------------------------------------------------------------
    async def manifest(
        self, repo: str, reference: str | Digest, actor: Actor, *, pull: bool
    ) -> ServedManifest | None:
        """The manifest of a proxy project's repository (None: ``repo`` is in no proxy
        project, the caller serves it as usual)."""
        target = await self.target(repo)
        if target is None:
            return None
        manifests = self.content.manifests
        try:
            local: ManifestRecord | None = await manifests.find(repo, reference)
        except RegistryError:
            local = None
        tag = None if isinstance(reference, Digest) else reference
        if local is not None and (tag is None or self._fresh(repo, tag)):
            return await self._local(repo, reference, actor, pull)
        try:
            client = await self._client(target)
            if local is not None and tag is not None:
                async with asyncio.timeout(self.config.upstream_timeout):
                    said = await client.manifest_descriptor(target.upstream_repo, tag)
                if said is None:
                    log.warning(
                        "proxy: the tag is gone upstream; serving the cached copy",
                        extra={"repo": repo, "tag": tag},
                    )
                    self._mark_checked(repo, tag)
                    return await self._local(repo, reference, actor, pull)
                if said.digest == local.digest:
                    self._mark_checked(repo, tag)
                    return await self._local(repo, reference, actor, pull)
            async with asyncio.timeout(self.config.upstream_timeout):
                fetched = await client.manifest(target.upstream_repo, str(reference))
        except NotFound:
            if local is not None:
                return await self._local(repo, reference, actor, pull)
            raise RegistryError(MANIFEST_UNKNOWN, {"reference": str(reference)}) from None
        except UPSTREAM_ERRORS as exc:
            if local is not None:
                log.warning(
                    "proxy: upstream failed; serving the cached copy",
                    extra={"repo": repo, "reference": str(reference), "error": _said(exc)},
                )
                return await self._local(repo, reference, actor, pull)
            raise _unavailable(target, exc) from None
        if tag is not None:
            self._mark_checked(repo, tag)
        if (repo, fetched.digest) not in self._storing:
            self._storing.add((repo, fetched.digest))
            self._spawn(self._store_manifest(target, repo, reference, fetched))
        if pull:
            await self.content.events.publish(
                ManifestPulled(actor, repo, fetched.digest, str(reference))
            )
        return ServedManifest(fetched.media_type, fetched.digest, fetched.body)

    async def _local(
        self, repo: str, reference: str | Digest, actor: Actor, pull: bool
    ) -> ServedManifest:
        stored = await self.content.manifests.get(repo, reference, actor, pull=pull)
        record = stored.record
        return ServedManifest(record.media_type, record.digest, stored.content)

    def _fresh(self, repo: str, tag: str) -> bool:
        checked = self._checked.get((repo, tag))
        return checked is not None and time.monotonic() - checked < (
            self.config.manifest_check_interval
        )

    def _mark_checked(self, repo: str, tag: str) -> None:
        self._checked[(repo, tag)] = time.monotonic()
        self._checked.move_to_end((repo, tag))
        if len(self._checked) > CHECKED_ENTRIES:
            self._checked.popitem(last=False)

    async def _store_manifest(
        self, target: Target, repo: str, reference: str | Digest, manifest: Manifest
    ) -> None:
        """In the background: once what ``manifest`` references is in the store, store it
        (at its tag, when pulled by one)."""
        try:
            if manifest.is_index:
                if not await self._children_arrive(repo, manifest):
                    log.info(
                        "proxy: index not cached, its children were not all pulled",
                        extra={"repo": repo, "digest": manifest.digest},
                    )
                    return
            else:
                limit = asyncio.Semaphore(BLOB_FETCHES)

                async def one(digest: str) -> None:
                    async with limit:
                        await self._ensure_blob(target, repo, parse_digest(digest))

                await asyncio.gather(*(one(b.digest) for b in manifest.blobs()))
            await self.content.manifests.put(
                repo, reference, manifest.body, manifest.media_type, SYSTEM
            )
            log.info(
                "proxy: manifest cached",
                extra={"repo": repo, "reference": str(reference), "digest": manifest.digest},
            )
        except Exception as exc:
            log.warning(
                "proxy: manifest not cached",
                extra={"repo": repo, "reference": str(reference), "error": _said(exc)},
            )
        finally:
            self._storing.discard((repo, manifest.digest))

    async def _children_arrive(self, repo: str, index: Manifest) -> bool:
        deadline = time.monotonic() + self.config.index_wait
        wanted = {child.digest for child in index.children()}
        while True:
            for digest in list(wanted):
                if await self.content.store.get_manifest(repo, digest) is not None:
                    wanted.discard(digest)
            if not wanted:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(INDEX_POLL)

    # --- blobs ---------------------------------------------------------------------------
    async def blob(self, repo: str, digest: Digest) -> BlobHandle | StreamedBlob | None:
        """A blob of a proxy project's repository: from the store, or streamed as it is
        fetched (None: ``repo`` is in no proxy project)."""
        target = await self.target(repo)
        if target is None:
            return None
        blobs = self.content.blobs
        with contextlib.suppress(RegistryError):
            return await blobs.get(repo, digest)
        fetch = await self._fetch(target, repo, digest)
        if fetch is None:  # another process stored it meanwhile
            return await blobs.get(repo, digest)
        await fetch.wait_started()
        return StreamedBlob(digest, fetch.size, fetch.reader())

    async def blob_size(self, repo: str, digest: Digest) -> int | None:
        """HEAD of a blob of a proxy project's repository: the stored size, else upstream's
        (nothing fetched). None: ``repo`` is in no proxy project."""
        target = await self.target(repo)
        if target is None:
            return None
        with contextlib.suppress(RegistryError):
            return (await self.content.blobs.get(repo, digest)).size
        try:
            client = await self._client(target)
            async with asyncio.timeout(self.config.upstream_timeout):
                size = await client.blob_size(target.upstream_repo, str(digest))
        except UPSTREAM_ERRORS as exc:
            raise _unavailable(target, exc) from None
        if size is None:
            raise RegistryError(BLOB_UNKNOWN, {"digest": str(digest)})
        return size

    async def _ensure_blob(self, target: Target, repo: str, digest: Digest) -> None:
        if await self.content.store.repo_blob_size(repo, str(digest)) is not None:
            return
        fetch = await self._fetch(target, repo, digest)
        if fetch is not None:
            await fetch.wait_finished()

    async def _fetch(self, target: Target, repo: str, digest: Digest) -> Fetch | None:
        """The fetch of the blob in flight in this process (joined, or started once this
        process holds the blob's lease); None when it turned up in the store meanwhile."""
        key = (repo, str(digest))
        running = self._fetches.get(key)
        if running is not None:
            return running
        lease = self.lease(lease_name(repo, digest))
        waited_until = time.monotonic() + self.config.fetch_wait
        while not await lease.acquire():
            if await self.content.store.repo_blob_size(repo, str(digest)) is not None:
                return None
            if lease.unreachable:
                # Redis is down: nobody can hold the lease, so waiting for its holder
                # would stall every miss for fetch_wait; fetch here (other replicas may
                # fetch the same blob meanwhile: wasteful, never wrong)
                log.warning(
                    "proxy: coordination unreachable; fetching the blob without its lease",
                    extra={"repo": repo, "digest": str(digest)},
                )
                break
            if time.monotonic() >= waited_until:
                log.warning(
                    "proxy: another process is slow to fetch the blob; fetching it too",
                    extra={"repo": repo, "digest": str(digest)},
                )
                break
            await asyncio.sleep(FETCH_POLL)
            running = self._fetches.get(key)  # started here while we waited
            if running is not None:
                return running
        running = self._fetches.get(key)
        if running is not None:
            await lease.release()
            return running
        if await self.content.store.repo_blob_size(repo, str(digest)) is not None:
            await lease.release()
            return None
        client = await self._client(target)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        fetch = Fetch(self.spool_dir / f"{uuid.uuid4().hex}.blob")
        self._fetches[key] = fetch
        self._spawn(self._run(fetch, key, lease, client, target, repo, digest))
        return fetch

    async def _run(
        self,
        fetch: Fetch,
        key: tuple[str, str],
        lease: LeaderLock,
        client: RegistryClient,
        target: Target,
        repo: str,
        digest: Digest,
    ) -> None:
        renewing = asyncio.create_task(_renew(lease))

        @contextlib.asynccontextmanager
        async def upstream() -> AsyncIterator[tuple[int | None, AsyncIterator[bytes]]]:
            async with asyncio.timeout(self.config.upstream_timeout):
                opened = client.blob(target.upstream_repo, str(digest))
                stream = await opened.__aenter__()
            try:
                yield stream.size, stream.chunks()
            except BaseException as exc:
                if not await opened.__aexit__(type(exc), exc, exc.__traceback__):
                    raise
            else:
                await opened.__aexit__(None, None, None)

        async def store(chunks: AsyncIterator[bytes]) -> None:
            await self.content.uploads.whole(repo, digest, chunks, SYSTEM)

        started = time.monotonic()
        try:
            await produce(fetch, upstream, store, lambda exc: _translated(target, digest, exc))
        finally:
            # no await between the fetch's end and this: nobody joins an ended fetch
            self._fetches.pop(key, None)
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
            await lease.release()
        if fetch.error is None:
            log.info(
                "proxy: blob cached",
                extra={
                    "repo": repo,
                    "digest": str(digest),
                    "bytes": fetch.written,
                    "seconds": round(time.monotonic() - started, 3),
                },
            )
        else:
            log.warning(
                "proxy: blob fetch failed; nothing stored",
                extra={"repo": repo, "digest": str(digest), "error": _said(fetch.error)},
            )


def _purge_spools(directory: Path, before: float) -> None:
    if not directory.is_dir():
        return
    for path in directory.glob("*.blob"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < before:
                path.unlink()


async def _renew(lease: LeaderLock) -> None:
    """Keep a lease held while a fetch runs (Redis: before its TTL lapses)."""
    while True:
        await asyncio.sleep(lease.renew_every)
        await lease.acquire()


def _translated(target: Target, digest: Digest, exc: Exception) -> Exception:
    """A failed fetch as its readers see it: an OCI error."""
    if isinstance(exc, NotFound):
        return RegistryError(BLOB_UNKNOWN, {"digest": str(digest)})
    if isinstance(exc, RegistryError):
        return exc
    return _unavailable(target, exc)


def _said(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _unavailable(target: Target, exc: BaseException) -> RegistryError:
    return RegistryError(
        UNAVAILABLE,
        message=(
            f"the upstream registry of proxy project {target.project} failed and nothing "
            f"is cached: {_said(exc)}"
        )[:500],
    )
