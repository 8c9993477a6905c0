"""The content core's policy gate, domain events and cross-process lookup cache."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import multiprocessing
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from wharf.db.errors import DatabaseUnavailable
from wharf.registry.audit import audit_event_for
from wharf.registry.content.cache import GenerationCache, SharedGenerations
from wharf.registry.content.service import ContentService
from wharf.registry.events import (
    Actor,
    BlobUnlinked,
    Denied,
    Event,
    EventBus,
    ManifestDeleted,
    ManifestPulled,
    ManifestPushed,
    RepositoryDeleted,
    TagCreated,
    TagDeleted,
)
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.oci.errors import RegistryError
from wharf.registry.oci.names import Digest, parse_digest
from wharf.registry.policy.gate import (
    Change,
    DeletesDisabled,
    PolicyGate,
    PolicyRefused,
    ReadOnly,
    Refusal,
    Rule,
    TagWrite,
)
from wharf.registry.wiring import sqlite_database
from wharf.storage.filesystem import FilesystemDriver

ALICE = Actor("alice", "10.1.2.3")
CONFIG = b'{"architecture":"amd64","os":"linux"}'
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def digest_of(data: bytes) -> Digest:
    return parse_digest("sha256:" + hashlib.sha256(data).hexdigest())


def manifest(layer: bytes) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": str(digest_of(CONFIG)),
                "size": len(CONFIG),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": str(digest_of(layer)),
                    "size": len(layer),
                }
            ],
        }
    ).encode()


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.events.append(event)


Scenario = Callable[[ContentService, Recorder], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario, rules: list[Rule] | None = None) -> None:
    async def main() -> None:
        store = SQLiteStore(sqlite_database(tmp_path / "meta.db"))
        driver = FilesystemDriver(tmp_path / "storage")
        await store.open()
        await driver.start()
        recorder = Recorder()
        events = EventBus()
        events.subscribe(recorder)
        core = ContentService(store, driver, gate=PolicyGate(rules), events=events)
        try:
            await scenario(core, recorder)
        finally:
            core.close()
            await driver.close()
            await store.close()

    asyncio.run(main())


async def push_image(core: ContentService, repo: str, tag: str, layer: bytes) -> str:
    for blob in (CONFIG, layer):
        await core.uploads.whole(repo, digest_of(blob), one(blob), ALICE)
    outcome = await core.manifests.put(repo, tag, manifest(layer), None, ALICE)
    return outcome.digest


def test_changes_emit_typed_events(tmp_path: Path) -> None:
    async def scenario(core: ContentService, seen: Recorder) -> None:
        first = await push_image(core, "p/app", "v1", b"one")
        second = await push_image(core, "p/app", "v1", b"two")  # the tag moves
        await core.manifests.get("p/app", "v1", ALICE)
        await core.manifests.get("p/app", "v1", ALICE, pull=False)  # a HEAD is no pull
        await core.manifests.delete("p/app", "v1", ALICE)
        await core.manifests.delete("p/app", parse_digest(first), ALICE)
        await core.blobs.unlink("p/app", digest_of(b"one"), ALICE)
        third = await push_image(core, "p/app", "v3", b"three")
        await core.manifests.tag("p/app", parse_digest(third), "latest", ALICE)
        await core.manifests.delete("p/app", parse_digest(third), ALICE)  # its tags with it
        await core.repositories.delete("p/app", ALICE)
        assert seen.events == [
            ManifestPushed(
                ALICE, "p/app", first, "application/vnd.oci.image.manifest.v1+json", "v1", None
            ),
            ManifestPushed(
                ALICE, "p/app", second, "application/vnd.oci.image.manifest.v1+json", "v1", first
            ),
            ManifestPulled(ALICE, "p/app", second, "v1"),
            TagDeleted(ALICE, "p/app", "v1", second),
            ManifestDeleted(ALICE, "p/app", first, ()),
            BlobUnlinked(ALICE, "p/app", str(digest_of(b"one"))),
            ManifestPushed(
                ALICE, "p/app", third, "application/vnd.oci.image.manifest.v1+json", "v3", None
            ),
            TagCreated(ALICE, "p/app", "latest", third),
            ManifestDeleted(ALICE, "p/app", third, ("latest", "v3")),
            RepositoryDeleted(ALICE, "p/app"),
        ]

    run(tmp_path, scenario)


def test_deletes_disabled_refuses_every_delete(tmp_path: Path) -> None:
    async def scenario(core: ContentService, seen: Recorder) -> None:
        digest = await push_image(core, "p/app", "v1", b"one")
        attempts: list[Awaitable[None]] = [
            core.manifests.delete("p/app", "v1", ALICE),
            core.manifests.delete("p/app", parse_digest(digest), ALICE),
            core.blobs.unlink("p/app", digest_of(b"one"), ALICE),
            core.repositories.delete("p/app", ALICE),
        ]
        for attempt in attempts:
            with pytest.raises(RegistryError) as info:
                await attempt
            assert (info.value.status, info.value.error.code) == (405, "UNSUPPORTED")
        assert (await core.manifests.get("p/app", "v1", ALICE)).record.digest == digest
        assert not [e for e in seen.events if not isinstance(e, ManifestPushed | ManifestPulled)]

    run(tmp_path, scenario, [DeletesDisabled()])


def test_read_only_refuses_pushes_before_the_bytes(tmp_path: Path) -> None:
    async def scenario(core: ContentService, seen: Recorder) -> None:
        with pytest.raises(RegistryError) as info:
            await core.uploads.start("p/app", ALICE)
        assert info.value.status == 405
        with pytest.raises(RegistryError):
            await core.uploads.whole("p/app", digest_of(CONFIG), one(CONFIG), ALICE)
        assert not list((tmp_path / "storage").rglob("*.data"))
        assert await core.listing.catalog(None, None, lambda _: True) == []

    run(tmp_path, scenario, [ReadOnly()])


class FrozenTags(Rule):
    """A project rule in the shape immutable tags will take: a tag may not move."""

    def __init__(self) -> None:
        self.asked: list[Change] = []

    async def check(self, change: Change) -> None:
        self.asked.append(change)
        if isinstance(change, TagWrite) and change.previous_digest is not None:
            raise PolicyRefused(Refusal.FORBIDDEN, f"tag {change.tag} is frozen")


def test_a_rule_sees_the_tag_overwrite_and_refuses_it(tmp_path: Path) -> None:
    rule = FrozenTags()

    async def scenario(core: ContentService, seen: Recorder) -> None:
        first = await push_image(core, "p/app", "v1", b"one")
        with pytest.raises(RegistryError) as info:
            await push_image(core, "p/app", "v1", b"two")
        assert (info.value.status, info.value.error.code) == (403, "DENIED")
        assert "frozen" in info.value.message
        assert (await core.manifests.get("p/app", "v1", ALICE)).record.digest == first
        moves = [c for c in rule.asked if isinstance(c, TagWrite)]
        assert [(c.previous_digest is None) for c in moves] == [True, False]

    run(tmp_path, scenario, [rule])


def test_a_failing_subscriber_does_not_fail_the_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(_event: Event) -> None:
        raise RuntimeError("webhook endpoint down")

    async def scenario(core: ContentService, seen: Recorder) -> None:
        core.events.subscribe(broken)
        await push_image(core, "p/app", "v1", b"one")
        assert isinstance(seen.events[-1], ManifestPushed)

    with caplog.at_level(logging.ERROR, logger="wharf.events"):
        run(tmp_path, scenario)
    assert "event subscriber failed" in caplog.text


def _bump_in_child(path: str, repo: str) -> None:
    generations = SharedGenerations(Path(path))
    generations.bump_now(repo)
    generations.close()


def test_generations_are_shared_between_processes(tmp_path: Path) -> None:
    path = tmp_path / "run" / "generations"
    mine = SharedGenerations(path)
    cache: GenerationCache[str, str] = GenerationCache(mine, 10)
    cache.put("p/app", "v1", "sha256:old", cache.generation("p/app"))
    cache.put("q/other", "v1", "sha256:kept", cache.generation("q/other"))
    child = multiprocessing.get_context("fork").Process(
        target=_bump_in_child, args=(str(path), "p/app")
    )
    child.start()
    child.join(10)
    assert child.exitcode == 0
    assert cache.get("p/app", "v1") is None  # another process wrote to p/app
    assert cache.get("q/other", "v1") == "sha256:kept"
    mine.close()


def test_a_tag_moved_by_another_worker_is_seen_at_once(tmp_path: Path) -> None:
    async def main() -> None:
        path = tmp_path / "run" / "generations"
        cores = []
        for _ in range(2):  # two workers: own store connections, caches and counters
            store = SQLiteStore(sqlite_database(tmp_path / "meta.db"))
            await store.open()
            driver = FilesystemDriver(tmp_path / "storage")
            await driver.start()
            cores.append(ContentService(store, driver, generations=SharedGenerations(path)))
        a, b = cores
        first = await push_image(a, "p/app", "v1", b"one")
        assert (await b.manifests.get("p/app", "v1", ALICE)).record.digest == first  # cached
        second = await push_image(a, "p/app", "v1", b"two")
        assert (await b.manifests.get("p/app", "v1", ALICE)).record.digest == second
        await a.manifests.delete("p/app", "v1", ALICE)
        with pytest.raises(RegistryError):
            await b.manifests.get("p/app", "v1", ALICE)
        for core in cores:
            core.close()
            await core.driver.close()
            await core.store.close()

    asyncio.run(main())


def _audited(event: Event) -> tuple[str, ...] | None:
    found = audit_event_for(event)
    if found is None:
        return None
    return (
        found.username,
        found.operation,
        found.resource_type,
        found.resource,
        found.project,
        found.client_ip,
        found.result,
    )


def test_the_audit_log_records_what_the_events_say() -> None:
    digest = "sha256:" + "a" * 64
    who = ("alice",)
    where = ("p", "10.1.2.3")
    assert _audited(ManifestPulled(ALICE, "p/app", digest, "v1")) == (
        *who,
        "pull",
        "artifact",
        "p/app:v1",
        *where,
        "success",
    )
    assert _audited(ManifestPulled(ALICE, "p/app", digest, digest)) == (
        *who,
        "pull",
        "artifact",
        f"p/app@{digest}",
        *where,
        "success",
    )
    assert _audited(ManifestPushed(ALICE, "p/app", digest, "m", None, None)) == (
        *who,
        "create",
        "artifact",
        f"p/app@{digest}",
        *where,
        "success",
    )
    assert _audited(TagDeleted(ALICE, "p/app", "v1", digest)) == (
        *who,
        "delete",
        "tag",
        "p/app:v1",
        *where,
        "success",
    )
    assert _audited(RepositoryDeleted(ALICE, "p/app")) == (
        *who,
        "delete",
        "repository",
        "p/app",
        *where,
        "success",
    )
    assert _audited(Denied(ALICE, "push", "p/app", "v1", "no")) == (
        *who,
        "create",
        "artifact",
        "p/app:v1",
        *where,
        "denied",
    )


def test_a_subscriber_without_its_database_is_a_warning_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The database went away between the change and its event (a restart): the
    subscriber's loss is the outage's, logged as a warning, and the change stands."""

    async def offline(_event: Event) -> None:
        raise DatabaseUnavailable("database postgresql://db/wharf unavailable: refused")

    async def scenario(core: ContentService, seen: Recorder) -> None:
        core.events.subscribe(offline)
        await push_image(core, "p/app", "v1", b"one")
        assert isinstance(seen.events[-1], ManifestPushed)

    with caplog.at_level(logging.WARNING, logger="wharf.events"):
        run(tmp_path, scenario)
    [record] = [r for r in caplog.records if r.name == "wharf.events"]
    assert record.levelno == logging.WARNING
    assert "database is unavailable" in record.getMessage()
