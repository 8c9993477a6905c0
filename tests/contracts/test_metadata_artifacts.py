"""The part of the MetadataStore contract Harbor's API needs: artifacts with ids, facts,
tags (with ids and pull times) and labels; repositories' descriptions and pull counts;
coalesced pulls; labels — for every backend in ``BACKENDS``."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.contracts.backends import Backend, Stores
from tests.contracts.test_metadata_store import INDEX, digest, manifest, push, run, run_stores
from wharf.auth.models import Project
from wharf.registry.metadata.base import (
    ArtifactFacts,
    Label,
    LabelExists,
    MetadataStore,
    Pulls,
)

COSIGN_TAG = "sha256-" + "a" * 64 + ".sig"


async def index(store: MetadataStore, repo: str, name: str, children: list[str], tag: str | None):
    record = manifest(name, INDEX)
    facts = ArtifactFacts(INDEX, 50)
    result = await store.put_manifest(repo, record, [], children, tag, facts=facts)
    assert (result.missing_blobs, result.missing_manifests) == ([], [])
    return record


def test_artifacts_newest_first_with_ids_tags_and_facts(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        assert await store.artifacts("a/none") is None
        layer = digest("first-layer")
        await store.add_blob("a/b", layer, 10)
        first = manifest("first")
        facts = ArtifactFacts("application/vnd.oci.image.config.v1+json", 1234)
        await store.put_manifest("a/b", first, [layer], [], "v1", facts=facts)
        await store.put_manifest("a/b", first, [layer], [], "latest", facts=facts)
        await asyncio.sleep(0.01)
        second = await push(store, "a/b", "second")  # no facts given
        rows = await store.artifacts("a/b")
        assert rows is not None
        assert [r.record for r in rows] == [second, first]
        newer, older = rows
        assert newer.id != older.id and newer.repo == "a/b" and newer.repo_id == older.repo_id
        assert older.facts == facts and newer.facts is None
        assert [t.name for t in older.tags] == ["latest", "v1"] and newer.tags == ()
        assert len({t.id for t in older.tags}) == 2
        assert all(t.pulled is None and t.pushed > 0 for t in older.tags)
        assert (older.pulled, older.pull_count, older.labels) == (None, 0, ())
        assert newer.pushed >= older.pushed
        assert not older.referenced and older.children == ()
        assert await store.artifact("a/b", first.digest) == older
        assert await store.artifact("a/b", digest("none")) is None
        assert await store.artifact("a/none", first.digest) is None

        # a tag moving to another manifest keeps its id
        v1 = older.tags[1].id
        await store.put_manifest("a/b", second, [digest("second-layer")], [], "v1")
        moved = await store.artifact("a/b", second.digest)
        assert moved is not None and [(t.name, t.id) for t in moved.tags] == [("v1", v1)]

        await store.set_artifact_facts("a/b", {second.digest: ArtifactFacts("x", 7)})
        await store.set_artifact_facts("a/b", {first.digest: ArtifactFacts("y", 8)})
        again = await store.artifact("a/b", second.digest)
        assert again is not None and again.facts == ArtifactFacts("x", 7)
        kept = await store.artifact("a/b", first.digest)  # recorded facts stay
        assert kept is not None and kept.facts == facts

    run(backend, scenario)


def test_index_children_and_sizes(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        children = []
        for name, size in (("amd64", 100), ("arm64", 200)):
            layer = digest(f"{name}-layer")
            await store.add_blob("a/i", layer, 10)
            record = manifest(name)
            await store.put_manifest(
                "a/i", record, [layer], [], None, facts=ArtifactFacts("cfg", size)
            )
            children.append(record.digest)
        parent = await index(store, "a/i", "list", children, "v1")
        row = await store.artifact("a/i", parent.digest)
        assert row is not None
        assert row.facts == ArtifactFacts(INDEX, 50 + 100 + 200)
        assert set(row.children) == set(children)
        child = await store.artifact("a/i", children[0])
        assert child is not None and child.referenced
        # Harbor's count: the index only (its untagged children are not listed)
        [info] = await store.repositories_under("a/")
        assert info.artifact_count == 1
        assert (await store.repository("a/i")) == info

    run(backend, scenario)


def test_accessories_are_not_counted(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        subject = await push(store, "a/s", "subject", "v1")
        referrer = manifest("sig", subject=subject.digest)
        await store.put_manifest("a/s", referrer, [], [], None)
        await push(store, "a/s", "cosign", COSIGN_TAG)
        await push(store, "a/s", "almost", "sha256-short.sig")  # not cosign's tag
        [info] = await store.repositories_under("a/s")
        assert info.artifact_count == 2
        rows = await store.artifacts("a/s")
        assert rows is not None and len(rows) == 4

    run(backend, scenario)


def test_project_artifacts(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        await push(store, "p/one", "a", "v1")
        await push(store, "p/two/deep", "b")
        await push(store, "px/three", "c")
        rows = await store.project_artifacts("p")
        assert sorted(r.repo for r in rows) == ["p/one", "p/two/deep"]
        assert await store.project_artifacts("none") == []

    run(backend, scenario)


def test_rows_of_an_older_release_get_ids_when_read(backend: Backend) -> None:
    """A process of the previous release adds manifests and tags without their artifact
    and tag rows: reading gives them ids."""

    async def scenario(stores: Stores) -> None:
        store = stores.metadata
        record = await push(store, "a/old", "m", "v1")
        await push(store, "a/old", "n", "v2")
        await stores.execute("DELETE FROM tag_info")
        await stores.execute("DELETE FROM artifacts")
        rows = await store.artifacts("a/old")
        assert rows is not None and len(rows) == 2
        assert all(r.id > 0 and r.facts is None for r in rows)
        assert all(len(r.tags) == 1 and r.tags[0].id > 0 for r in rows)
        again = await store.artifact("a/old", record.digest)
        assert again is not None and again.id in {r.id for r in rows}

    run_stores(backend, scenario)


def test_create_tag(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        first = await push(store, "a/t", "first", "v1")
        second = await push(store, "a/t", "second")
        assert await store.create_tag("a/t", "v2", second.digest) == "created"
        assert await store.create_tag("a/t", "v1", second.digest) == "exists"
        assert await store.create_tag("a/t", "v3", digest("none")) == "missing"
        assert await store.create_tag("a/none", "v3", first.digest) == "missing"
        assert (await store.resolve_tag("a/t", "v1")) == first
        row = await store.artifact("a/t", second.digest)
        assert row is not None and [t.name for t in row.tags] == ["v2"] and row.tags[0].id > 0

    run(backend, scenario)


def test_pulls_are_added(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        record = await push(store, "a/p", "m", "v1")
        other = await push(store, "a/q", "m", "v1")
        now = time.time()
        await store.record_pulls(
            [
                Pulls("a/p", record.digest, "v1", 3, now),
                Pulls("a/p", record.digest, None, 2, now + 5),
                Pulls("a/q", other.digest, None, 1, now),
                Pulls("a/gone", record.digest, None, 1, now),  # dropped
                Pulls("a/p", digest("gone"), None, 1, now),  # dropped (counted in the repo)
            ]
        )
        await store.record_pulls([Pulls("a/p", record.digest, "v1", 1, now - 100)])
        row = await store.artifact("a/p", record.digest)
        assert row is not None
        assert row.pull_count == 6 and row.pulled == pytest.approx(now + 5)
        assert row.tags[0].pulled == pytest.approx(now)
        info = await store.repository("a/p")
        assert info is not None and info.pull_count >= 6
        await store.record_pulls([])

    run(backend, scenario)


def test_repository_description(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        await push(store, "a/d", "m")
        before = await store.repository("a/d")
        assert before is not None
        assert await store.set_repository_description("a/d", "what it is")
        assert not await store.set_repository_description("a/none", "x")
        after = await store.repository("a/d")
        assert after is not None and after.description == "what it is"
        assert after.updated >= before.updated
        assert await store.repository("a/none") is None

    run(backend, scenario)


def test_project_usage_counts_each_blob_once(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        await store.add_blob("u/a", digest("shared"), 100)
        await store.link_blob("u/b", digest("shared"))
        await store.add_blob("u/b", digest("own"), 10)
        await store.add_blob("v/c", digest("else"), 1000)
        assert await store.project_usage("u") == 110
        assert await store.project_usage("none") == 0

    run(backend, scenario)


def test_labels(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        now = time.time()
        g = await store.create_label(Label("ok", "g", 0, "fine", "#00ff00", now, now))
        p = await store.create_label(Label("ok", "p", 7, "", "", now, now))
        q = await store.create_label(Label("ok", "p", 8, "", "", now, now))
        assert len({g, p, q}) == 3
        with pytest.raises(LabelExists):
            await store.create_label(Label("ok", "p", 7, "", "", now, now))
        found = await store.label(g)
        assert found is not None
        assert (found.name, found.scope, found.color) == ("ok", "g", "#00ff00")
        assert await store.label(99999) is None
        assert [x.id for x in await store.labels("p", 7)] == [p]
        assert [x.id for x in await store.labels("g", None)] == [g]
        assert [x.id for x in await store.labels(None, None, [q, g])] == sorted([g, q])
        assert await store.labels(None, None, []) == []

        other = await store.create_label(Label("other", "p", 7, "", "", now, now))
        taken = Label("ok", "p", 7, "", "", now, now + 1, other)
        with pytest.raises(LabelExists):
            await store.update_label(taken)
        renamed = Label("renamed", "p", 7, "d", "#fff", now, now + 1, other)
        assert await store.update_label(renamed)
        assert await store.label(other) == renamed
        assert not await store.update_label(Label("x", "p", 7, id=99999))

        record = await push(store, "a/l", "m", "v1")
        row = await store.artifact("a/l", record.digest)
        assert row is not None
        assert await store.attach_label(row.id, g) == "attached"
        assert await store.attach_label(row.id, g) == "exists"
        assert await store.attach_label(row.id, p) == "attached"
        assert await store.attach_label(row.id, 99999) == "missing"
        assert await store.attach_label(99999, g) == "missing"
        labelled = await store.artifact("a/l", record.digest)
        assert labelled is not None and labelled.labels == tuple(sorted([g, p]))
        assert await store.detach_label(row.id, g)
        assert not await store.detach_label(row.id, g)
        assert await store.delete_label(p)
        assert not await store.delete_label(p)
        bare = await store.artifact("a/l", record.digest)
        assert bare is not None and bare.labels == ()

        # a deleted artifact's labels go with it
        await store.attach_label(row.id, g)
        assert await store.delete_manifest("a/l", record.digest)
        assert await store.detach_label(row.id, g) is False

    run(backend, scenario)


def test_labels_of_deleted_projects_are_forgotten(backend: Backend) -> None:
    async def scenario(stores: Stores) -> None:
        store = stores.metadata
        kept = await stores.auth.create_project(Project("kept"))
        now = time.time()
        mine = await store.create_label(Label("a", "p", kept.id, created=now, updated=now))
        orphan = await store.create_label(Label("a", "p", kept.id + 1000, created=now, updated=now))
        global_ = await store.create_label(Label("a", "g", created=now, updated=now))
        assert await store.forget_project_labels() == 1
        assert [x.id for x in await store.labels(None, None)] == sorted([mine, global_])
        assert orphan not in {x.id for x in await store.labels(None, None)}

    run_stores(backend, scenario)
