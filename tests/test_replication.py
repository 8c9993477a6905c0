"""Replication through Harbor's API, end to end: this registry (the application in this
process, access control on, its job runner claiming the tasks) and the reference registry
(htpasswd users) as the remote. Push and pull executions of a repository with an image, a
multi-platform index and referrers (copied with their subject: the remote keeps them under
the tag schema, Wharf indexes them itself); a re-run copies nothing; tag filters exclude;
a throttled execution is stopped; policies that cannot run are refused. Triggers,
label filters and replicated deletions: ``test_replication_triggers.py``."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import requests

from tests.artifacts import push_image, push_index, push_referrer
from tests.inproc import ADMIN, InProcessServer, serve_in_process
from tests.peers import Peer, run_reference_registry
from wharf.replication.client.blobs import BytesSource, digest_bytes
from wharf.replication.client.client import Manifest, RegistryClient
from wharf.replication.client.endpoint import Credential, Endpoint

pytestmark = pytest.mark.slow  # a registry process per module

T = TypeVar("T")
ALICE = ("alice", "Alice-Secret-1")
JOBS = {"poll_interval": 0.05, "lease": 5, "shutdown_grace": 1}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    with run_reference_registry(
        tmp_path_factory.mktemp("replication-peer"), users=dict([ALICE])
    ) as peer:
        yield peer


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    data = tmp_path_factory.mktemp("replication-local") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1], jobs=JOBS) as app:
        for project in ("src", "mirror"):
            r = api(app, "POST", "/projects", json={"project_name": project})
            assert r.status_code == 201, r.text
        yield app
    assert not app.errors, app.error_log()


def api(server: InProcessServer, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, f"{server.url}/api/v2.0{path}", auth=ADMIN, timeout=30, **kw)


def local_client(server: InProcessServer) -> RegistryClient:
    return RegistryClient(Endpoint(server.url, "wharf", Credential(*ADMIN)))


def remote_client(peer: Peer) -> RegistryClient:
    return RegistryClient(Endpoint(peer.url, "docker-registry", Credential(*ALICE)))


@pytest.fixture(scope="module")
def registry_id(local: InProcessServer, reference: Peer) -> int:
    r = api(
        local,
        "POST",
        "/registries",
        json={
            "name": "reference",
            "type": "docker-registry",
            "url": reference.url,
            "credential": {"type": "basic", "access_key": ALICE[0], "access_secret": ALICE[1]},
        },
    )
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def create_policy(server: InProcessServer, **body: Any) -> int:
    r = api(server, "POST", "/replication/policies", json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def execute(server: InProcessServer, policy_id: int, within: float = 60) -> dict[str, Any]:
    """Start an execution and wait for its end; the execution."""
    r = api(server, "POST", "/replication/executions", json={"policy_id": policy_id})
    assert r.status_code == 201, r.text
    assert r.headers["Location"].startswith("/api/v2.0/replication/executions/")
    execution_id = int(r.headers["Location"].rsplit("/", 1)[1])
    deadline = time.monotonic() + within
    while True:
        doc: dict[str, Any] = api(server, "GET", f"/replication/executions/{execution_id}").json()
        if doc["status"] != "InProgress":
            return doc
        assert time.monotonic() < deadline, doc
        time.sleep(0.1)


def task_logs(server: InProcessServer, execution_id: int) -> dict[str, str]:
    """Each task's source resource → its log."""
    tasks = api(server, "GET", f"/replication/executions/{execution_id}/tasks").json()
    return {
        t["src_resource"]: api(
            server, "GET", f"/replication/executions/{execution_id}/tasks/{t['id']}/log"
        ).text
        for t in tasks
    }


@pytest.fixture(scope="module")
def content(local: InProcessServer) -> dict[str, Manifest]:
    """In ``src/app``: ``v1`` (also tagged ``v1-copy``) signed, and ``multi``, an index of
    two images, one of them with an SBOM."""

    async def main() -> dict[str, Manifest]:
        async with local_client(local) as client:
            v1 = await push_image(client, "src/app", "v1", layers=2, size=50_000)
            await client.put_manifest("src/app", "v1-copy", v1)
            signature, _ = await push_referrer(client, "src/app", v1, "application/x.sig")
            amd = await push_image(client, "src/app", None, layers=1)
            arm = await push_image(client, "src/app", None, layers=1)
            sbom, _ = await push_referrer(client, "src/app", arm, "application/x.sbom")
            multi = await push_index(client, "src/app", "multi", [amd, arm])
            return {"v1": v1, "signature": signature, "amd": amd, "arm": arm, "sbom": sbom,
                    "multi": multi}  # fmt: skip

    return run(main())


def test_push_then_rerun_copies_nothing_twice(
    local: InProcessServer, reference: Peer, registry_id: int, content: dict[str, Manifest]
) -> None:
    policy = create_policy(
        local,
        name="push-app",
        dest_registry={"id": registry_id},
        dest_namespace="team",
        filters=[{"type": "name", "value": "src/app"}],
        trigger={"type": "manual"},
    )
    doc = api(local, "GET", f"/replication/policies/{policy}").json()
    assert doc["src_registry"]["id"] == 0 and doc["dest_registry"]["id"] == registry_id
    assert doc["dest_registry"]["credential"]["access_secret"] == "*****"
    assert doc["trigger"]["type"] == "manual" and doc["override"] is True

    first = execute(local, policy)
    assert (first["status"], first["total"], first["succeed"]) == ("Succeed", 2, 2), first
    assert first["trigger"] == "manual" and first["end_time"] is not None
    tasks = api(local, "GET", f"/replication/executions/{first['id']}/tasks").json()
    assert sorted(t["src_resource"] for t in tasks) == ["src/app:[multi]", "src/app:[v1,v1-copy]"]
    assert {t["dst_resource"] for t in tasks} == {"team/app:[multi]", "team/app:[v1,v1-copy]"}
    assert {t["status"] for t in tasks} == {"Success"}
    logs = task_logs(local, first["id"])
    assert "referrer" in logs["src/app:[v1,v1-copy]"] and "blob" in logs["src/app:[multi]"]

    async def check() -> None:
        async with remote_client(reference) as remote:
            for tag in ("v1", "v1-copy"):
                assert (await remote.manifest("team/app", tag)).digest == content["v1"].digest
            multi = await remote.manifest("team/app", "multi")
            assert multi.digest == content["multi"].digest
            for child in ("amd", "arm"):
                got = await remote.manifest("team/app", content[child].digest)
                assert got.body == content[child].body
            # referrers came with their subjects (the reference keeps the tag schema)
            signatures = await remote.referrers("team/app", content["v1"].digest)
            assert [s["digest"] for s in signatures] == [content["signature"].digest]
            sboms = await remote.referrers("team/app", content["arm"].digest)
            assert [s["digest"] for s in sboms] == [content["sbom"].digest]

    run(check())

    again = execute(local, policy)
    assert again["status"] == "Succeed" and again["total"] == 2
    for text in task_logs(local, again["id"]).values():
        assert "done: 0 manifests and 0 blobs (0 bytes) copied" in text, text


def test_pull_into_this_registry(
    local: InProcessServer, reference: Peer, registry_id: int, content: dict[str, Manifest]
) -> None:
    async def seed() -> Manifest:
        async with remote_client(reference) as remote:
            image = await push_image(remote, "upstream/tool", "1.0", layers=2)
            await push_referrer(remote, "upstream/tool", image, "application/x.sig")
            await push_image(remote, "upstream/tool", "1.1-rc", layers=1)
            await push_image(remote, "upstream/other", "1.0", layers=1)
            return image

    image = run(seed())
    policy = create_policy(
        local,
        name="pull-tool",
        src_registry={"id": registry_id},
        dest_namespace="mirror",
        filters=[
            {"type": "name", "value": "upstream/t*"},
            {"type": "tag", "value": "*-rc", "decoration": "excludes"},
        ],
    )
    done = execute(local, policy)
    assert (done["status"], done["total"]) == ("Succeed", 1), done

    async def check() -> None:
        async with local_client(local) as mine:
            assert (await mine.manifest("mirror/tool", "1.0")).digest == image.digest
            assert await mine.manifest_descriptor("mirror/tool", "1.1-rc") is None  # excluded
            assert [t async for t in mine.tags("mirror/other")] == []  # not selected
            referrers = await mine.referrers("mirror/tool", image.digest)
            assert len(referrers) == 1 and referrers[0]["artifactType"] == "application/x.sig"

    run(check())
    # into a project that does not exist here: the task fails at once, and says why
    nowhere = create_policy(
        local,
        name="pull-nowhere",
        src_registry={"id": registry_id},
        dest_namespace="absent",
        filters=[{"type": "name", "value": "upstream/other"}],
    )
    failed = execute(local, nowhere)
    assert (failed["status"], failed["failed"]) == ("Failed", 1), failed
    (log,) = task_logs(local, failed["id"]).values()
    assert "refused here" in log and "absent" in log, log
    (task,) = api(local, "GET", f"/replication/executions/{failed['id']}/tasks").json()
    assert task["status"] == "Error"
    # the audit log says who wrote the copies
    events = api(local, "GET", "/audit-logs", params={"q": "username=replication"}).json()
    assert any(e["resource"].startswith("mirror/tool") for e in events)


def test_a_stopped_execution_stops(
    local: InProcessServer, registry_id: int, content: dict[str, Manifest]
) -> None:
    async def seed() -> None:
        async with local_client(local) as client:
            big = os.urandom(2 * 1024 * 1024)
            await client.push_blob("src/slow", digest_bytes(big), BytesSource(big))
            await push_image(client, "src/slow", "big", layers=1, size=2 * 1024 * 1024)

    run(seed())
    policy = create_policy(
        local,
        name="slow",
        dest_registry={"id": registry_id},
        filters=[{"type": "name", "value": "src/slow"}],
        speed=64,  # KiB/s: the 2 MiB layer takes 32 s
    )
    r = api(local, "POST", "/replication/executions", json={"policy_id": policy})
    execution_id = int(r.headers["Location"].rsplit("/", 1)[1])
    path = f"/replication/executions/{execution_id}"
    deadline = time.monotonic() + 30
    while not any(t["status"] == "Running" for t in api(local, "GET", f"{path}/tasks").json()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    refused = api(local, "DELETE", f"/replication/policies/{policy}")
    assert refused.status_code == 412  # an execution is in progress
    assert api(local, "PUT", path).status_code == 200
    stopped_at = time.monotonic()
    while api(local, "GET", path).json()["status"] == "InProgress":
        assert time.monotonic() - stopped_at < 15
        time.sleep(0.1)
    doc = api(local, "GET", path).json()
    assert (doc["status"], doc["stopped"]) == ("Stopped", 1), doc
    (task,) = api(local, "GET", f"{path}/tasks").json()
    assert task["status"] == "Stopped"
    stopped = api(local, "GET", "/replication/executions", params={"status": "Stopped"}).json()
    assert execution_id in [e["id"] for e in stopped]
    assert api(local, "DELETE", f"/replication/policies/{policy}").status_code == 200
    assert api(local, "GET", path).status_code == 404  # its executions went with it


def test_policies_that_cannot_run_are_refused(local: InProcessServer, registry_id: int) -> None:
    remote = {"id": registry_id}
    for body, status, words in (
        ({"name": "x"}, 400, "one of src_registry"),
        ({"name": "x", "src_registry": remote, "dest_registry": remote}, 400, "one of"),
        ({"name": "x", "dest_registry": {"id": 999999}}, 404, "registry"),
        ({"name": "", "dest_registry": remote}, 400, "name"),
        ({"name": "x", "dest_registry": remote, "trigger": {"type": "scheduled",
          "trigger_settings": {"cron": "0 0 25 * * *"}}}, 400, "cron"),
        ({"name": "x", "dest_registry": remote, "trigger": {"type": "hourly"}}, 400, "trigger"),
        ({"name": "x", "src_registry": remote, "trigger": {"type": "event_based"}}, 400,
         "push policy"),
        ({"name": "x", "dest_registry": remote,
          "filters": [{"type": "tag", "value": ["a"]}]}, 400, "string"),
        ({"name": "x", "dest_registry": remote,
          "filters": [{"type": "label", "value": []}]}, 400, "label names"),
        ({"name": "x", "src_registry": remote,
          "filters": [{"type": "label", "value": ["a"]}]}, 400, "push policies only"),
        ({"name": "x", "dest_registry": remote,
          "filters": [{"type": "tag", "value": "[v"}]}, 400, "unclosed"),
        ({"name": "x", "dest_registry": remote, "dest_namespace": "Bad/NS"}, 400, "namespace"),
        ({"name": "x", "dest_registry": remote, "replicate_deletion": True}, 400, "event"),
    ):  # fmt: skip
        r = api(local, "POST", "/replication/policies", json=body)
        assert r.status_code == status, (body, r.text)
        assert words in r.json()["errors"][0]["message"], (body, r.text)
    policy = create_policy(local, name="off", dest_registry=remote, enabled=False)
    r = api(local, "POST", "/replication/executions", json={"policy_id": policy})
    assert r.status_code == 400 and "disabled" in r.text
    taken = api(
        local, "POST", "/replication/policies", json={"name": "off", "dest_registry": remote}
    )
    assert taken.status_code == 409
    in_use = api(local, "DELETE", f"/registries/{registry_id}")
    assert in_use.status_code == 412 and "replication policies" in in_use.text
    listed = api(local, "GET", "/replication/policies", params={"q": "name=off"})
    assert [p["id"] for p in listed.json()] == [policy] and listed.headers["X-Total-Count"] == "1"
    renamed = {"name": "off-renamed", "dest_registry": remote, "enabled": False}
    assert api(local, "PUT", f"/replication/policies/{policy}", json=renamed).status_code == 200
    assert api(local, "GET", f"/replication/policies/{policy}").json()["name"] == "off-renamed"
    assert api(local, "DELETE", f"/replication/policies/{policy}").status_code == 200
    assert api(local, "GET", f"/replication/policies/{policy}").status_code == 404
    assert (
        api(local, "POST", "/replication/executions", json={"policy_id": policy}).status_code == 404
    )
    assert api(local, "GET", "/replication/executions/999999/tasks").status_code == 404
