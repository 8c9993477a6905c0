"""Replication's triggers against real peers: this registry (the application in this
process, access control on) pushing to a second Wharf (a `wharf serve` process, Docker
token auth) and to the reference registry (htpasswd). Event-based replication of a
`skopeo copy`, enqueued before the push is answered; a deleted tag and a deleted artifact
deleted at the destination (the reference registry, which deletes no tags, loses the
manifest); label filters that exclude or select; a scheduled policy firing every second,
a firing started once however many tickers see it; an execution interrupted by killing
the destination, completed by a re-run that copies nothing twice; ``ReplicationFinished``
published once per execution."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from tests.artifacts import push_image
from tests.helpers import Server, free_port, run_wharf
from tests.inproc import ADMIN, InProcessServer, serve_in_process
from tests.peers import Peer, run_reference_registry
from wharf.registry.events import Event, ReplicationFinished
from wharf.registry.http.keys import CONTENT, REPLICATION
from wharf.replication.client.client import Manifest, RegistryClient
from wharf.replication.client.endpoint import Credential, Endpoint
from wharf.replication.service import ReplicationTicker

pytestmark = pytest.mark.slow  # registry processes per module

T = TypeVar("T")
ALICE = ("alice", "Alice-Secret-1")
PEER_ADMIN = ("admin", "Peer-Admin-Pass-1")
JOBS = {"poll_interval": 0.05, "lease": 5, "shutdown_grace": 1, "concurrency": 2}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    with run_reference_registry(tmp_path_factory.mktemp("trig-ref"), users=dict([ALICE])) as p:
        yield p


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("trig-peer") / "data"
    with run_wharf(data, auth=True, env={"WHARF_ADMIN_PASSWORD": PEER_ADMIN[1]}) as server:
        r = requests.post(
            f"{server.url}/api/v2.0/projects",
            json={"project_name": "mirror"},
            auth=PEER_ADMIN,
            timeout=10,
        )
        assert r.status_code == 201, r.text
        yield server


@pytest.fixture(scope="module")
def finished() -> list[ReplicationFinished]:
    return []


@pytest.fixture(scope="module")
def local(
    tmp_path_factory: pytest.TempPathFactory, finished: list[ReplicationFinished]
) -> Iterator[InProcessServer]:
    data = tmp_path_factory.mktemp("trig-local") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1], jobs=JOBS) as app:
        for project in ("src", "staging"):
            r = api(app, "POST", "/projects", json={"project_name": project})
            assert r.status_code == 201, r.text
        assert app.app is not None

        async def collect(event: Event) -> None:
            if isinstance(event, ReplicationFinished):
                finished.append(event)

        app.app[CONTENT].events.subscribe(collect)
        yield app
    assert not app.errors, app.error_log()


def api(server: InProcessServer, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, f"{server.url}/api/v2.0{path}", auth=ADMIN, timeout=30, **kw)


def local_client(server: InProcessServer) -> RegistryClient:
    return RegistryClient(Endpoint(server.url, "wharf", Credential(*ADMIN)))


def peer_client(server: Server) -> RegistryClient:
    return RegistryClient(Endpoint(server.url, "wharf", Credential(*PEER_ADMIN)))


def reference_client(peer: Peer) -> RegistryClient:
    return RegistryClient(Endpoint(peer.url, "docker-registry", Credential(*ALICE)))


def add_registry(server: InProcessServer, name: str, kind: str, url: str, user: Any) -> int:
    credential = {"type": "basic", "access_key": user[0], "access_secret": user[1]}
    body = {"name": name, "type": kind, "url": url, "credential": credential}
    r = api(server, "POST", "/registries", json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


@pytest.fixture(scope="module")
def to_peer(local: InProcessServer, peer: Server) -> int:
    return add_registry(local, "peer", "wharf", peer.url, PEER_ADMIN)


@pytest.fixture(scope="module")
def to_reference(local: InProcessServer, reference: Peer) -> int:
    return add_registry(local, "reference", "docker-registry", reference.url, ALICE)


def create_policy(server: InProcessServer, **body: Any) -> int:
    r = api(server, "POST", "/replication/policies", json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def executions(server: InProcessServer, policy_id: int) -> list[dict[str, Any]]:
    r = api(server, "GET", "/replication/executions", params={"policy_id": policy_id})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


def wait_for(check: Callable[[], T | None], within: float = 30, what: str = "") -> T:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def all_ended(server: InProcessServer, policy_id: int, count: int) -> list[dict[str, Any]]:
    """The policy's ``count`` executions once every one has ended (newest first)."""

    def ended() -> list[dict[str, Any]] | None:
        found = executions(server, policy_id)
        if len(found) >= count and all(e["status"] != "InProgress" for e in found):
            return found
        return None

    return wait_for(ended, what=f"{count} executions of policy {policy_id} to end")


def task_logs(server: InProcessServer, execution_id: int) -> list[str]:
    path = f"/replication/executions/{execution_id}/tasks"
    return [
        api(server, "GET", f"{path}/{t['id']}/log").text for t in api(server, "GET", path).json()
    ]


def skopeo_copy(server: InProcessServer, source: str, target: str) -> None:
    host = server.url.removeprefix("http://")
    creds = f"{ADMIN[0]}:{ADMIN[1]}"
    subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
         "--src-creds", creds, "--dest-creds", creds,
         f"docker://{host}/{source}", f"docker://{host}/{target}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def test_event_based_push_and_deletions_to_a_wharf(
    local: InProcessServer, peer: Server, to_peer: int, finished: list[ReplicationFinished]
) -> None:
    policy = create_policy(
        local,
        name="on-push",
        dest_registry={"id": to_peer},
        dest_namespace="mirror",
        filters=[{"type": "name", "value": "src/**"}],
        trigger={"type": "event_based"},
        replicate_deletion=True,
    )
    doc = api(local, "GET", f"/replication/policies/{policy}").json()
    assert doc["trigger"]["type"] == "event_based" and doc["replicate_deletion"] is True

    async def seed() -> None:
        async with local_client(local) as client:
            await push_image(client, "staging/base", "1", layers=2, size=20_000)

    async def here(reference: str) -> Manifest:
        async with local_client(local) as client:
            return await client.manifest("src/app", reference)

    run(seed())
    assert executions(local, policy) == []  # staging/base is not selected
    skopeo_copy(local, "staging/base:1", "src/app:v1")
    image = run(here("v1"))  # as skopeo wrote it
    # the task was in the database before skopeo got its answer
    (first,) = executions(local, policy)
    assert first["trigger"] == "event_based"
    (first,) = all_ended(local, policy, 1)
    assert (first["status"], first["total"], first["succeed"]) == ("Succeed", 1, 1), first

    async def on_peer(reference: str) -> str | None:
        async with peer_client(peer) as client:
            found = await client.manifest_descriptor("mirror/app", reference)
            return None if found is None else found.digest

    assert run(on_peer("v1")) == image.digest
    # a second tag on the same artifact, then that tag deleted: the peer loses the tag only
    skopeo_copy(local, "src/app:v1", "src/app:v2")
    all_ended(local, policy, 2)
    assert run(on_peer("v2")) == image.digest
    r = api(local, "DELETE", "/projects/src/repositories/app/artifacts/v1/tags/v2")
    assert r.status_code == 200, r.text
    deletion = all_ended(local, policy, 3)[0]
    assert (deletion["status"], deletion["succeed"]) == ("Succeed", 1), deletion
    (task,) = api(local, "GET", f"/replication/executions/{deletion['id']}/tasks").json()
    assert task["operation"] == "deletion" and task["dst_resource"] == "mirror/app:[v2]"
    assert run(on_peer("v2")) is None and run(on_peer("v1")) == image.digest
    # the artifact deleted: gone at the peer too
    assert api(local, "DELETE", "/projects/src/repositories/app/artifacts/v1").status_code == 200
    assert all_ended(local, policy, 4)[0]["status"] == "Succeed"
    assert run(on_peer(image.digest)) is None
    # each execution announced once, with what it was about
    mine = [e for e in finished if e.policy_id == policy]
    assert sorted(e.execution_id for e in mine) == sorted(
        e["id"] for e in executions(local, policy)
    )
    assert {(e.status, e.trigger, e.policy_name, e.projects) for e in mine} == {
        ("Succeed", "event_based", "on-push", ("src",))
    }
    # disabled: a push starts nothing
    body = {**doc, "enabled": False}
    assert api(local, "PUT", f"/replication/policies/{policy}", json=body).status_code == 200
    skopeo_copy(local, "staging/base:1", "src/app:v3")
    assert len(executions(local, policy)) == 4


def test_a_deleted_tag_at_the_reference_registry(
    local: InProcessServer, reference: Peer, to_reference: int
) -> None:
    """The reference registry deletes manifests, not tags: the tag's manifest goes, unless
    another tag there still points at it."""
    policy = create_policy(
        local,
        name="on-push-ref",
        dest_registry={"id": to_reference},
        dest_namespace="team",
        filters=[{"type": "name", "value": "src/gone"}],
        trigger={"type": "event_based"},
        replicate_deletion=True,
    )

    async def seed() -> tuple[Manifest, Manifest]:
        async with local_client(local) as client:
            shared = await push_image(client, "src/gone", "a", layers=1)
            await client.put_manifest("src/gone", "b", shared)
            alone = await push_image(client, "src/gone", "c", layers=1)
            return shared, alone

    shared, alone = run(seed())
    all_ended(local, policy, 3)

    async def there(reference: str) -> str | None:
        async with reference_client(peer) as client:
            found = await client.manifest_descriptor("team/gone", reference)
            return None if found is None else found.digest

    peer = reference
    assert run(there("a")) == run(there("b")) == shared.digest
    assert api(local, "DELETE", "/projects/src/repositories/gone/artifacts/c/tags/c").ok
    assert all_ended(local, policy, 4)[0]["status"] == "Succeed"
    assert run(there(alone.digest)) is None  # no other tag: the manifest went
    assert api(local, "DELETE", "/projects/src/repositories/gone/artifacts/a/tags/a").ok
    last = all_ended(local, policy, 5)[0]
    assert last["status"] == "Succeed"
    (log,) = task_logs(local, last["id"])
    assert "the tag b still points at it" in log, log
    assert run(there("b")) == shared.digest  # left alone


def test_label_filters(local: InProcessServer, reference: Peer, to_reference: int) -> None:
    r = api(local, "POST", "/labels", json={"name": "frozen", "scope": "g"})
    assert r.status_code == 201, r.text
    label_id = int(r.headers["Location"].rsplit("/", 1)[1])

    async def seed() -> tuple[Manifest, Manifest]:
        async with local_client(local) as client:
            keep = await push_image(client, "src/lab", "keep", layers=1)
            skip = await push_image(client, "src/lab", "skip", layers=1)
            return keep, skip

    keep, skip = run(seed())
    attached = api(
        local, "POST", "/projects/src/repositories/lab/artifacts/skip/labels", json={"id": label_id}
    )
    assert attached.status_code == 200, attached.text
    excluding = create_policy(
        local,
        name="not-frozen",
        dest_registry={"id": to_reference},
        dest_namespace="unfrozen",
        filters=[
            {"type": "name", "value": "src/lab"},
            {"type": "label", "value": ["frozen"], "decoration": "excludes"},
        ],
    )
    doc = api(local, "GET", f"/replication/policies/{excluding}").json()
    assert doc["filters"][1] == {"type": "label", "value": ["frozen"], "decoration": "excludes"}
    started = api(local, "POST", "/replication/executions", json={"policy_id": excluding})
    assert started.status_code == 201
    (done,) = all_ended(local, excluding, 1)
    assert (done["status"], done["total"]) == ("Succeed", 1), done

    async def tags(repo: str) -> list[str]:
        async with reference_client(reference) as client:
            return [t async for t in client.tags(repo)]

    assert run(tags("unfrozen/lab")) == ["keep"]
    # event-based, wanting the label: a fresh push carries none, so nothing starts
    wanting = create_policy(
        local,
        name="frozen-only",
        dest_registry={"id": to_reference},
        filters=[{"type": "label", "value": ["frozen"]}],
        trigger={"type": "event_based"},
    )

    async def push_more() -> None:
        async with local_client(local) as client:
            await push_image(client, "src/lab", "fresh", layers=1)
            await client.put_manifest("src/lab", "skip-again", skip)  # the labelled one

    run(push_more())
    (event_run,) = all_ended(local, wanting, 1)
    (task,) = api(local, "GET", f"/replication/executions/{event_run['id']}/tasks").json()
    assert task["src_resource"] == "src/lab:[skip-again]"
    assert keep.digest != skip.digest


def test_a_scheduled_policy_fires_and_a_firing_starts_once(
    local: InProcessServer, to_reference: int
) -> None:
    async def seed() -> None:
        async with local_client(local) as client:
            await push_image(client, "src/sched", "1", layers=1)

    run(seed())
    every_second = create_policy(
        local,
        name="every-second",
        dest_registry={"id": to_reference},
        filters=[{"type": "name", "value": "src/sched"}],
        trigger={"type": "scheduled", "trigger_settings": {"cron": "* * * * * *"}},
    )
    doc = api(local, "GET", f"/replication/policies/{every_second}").json()
    assert doc["trigger"] == {"type": "scheduled", "trigger_settings": {"cron": "* * * * * *"}}
    wait_for(
        lambda: len([e for e in executions(local, every_second) if e["status"] == "Succeed"]) >= 2,
        within=20,
        what="two scheduled executions",
    )
    disabled = {**doc, "enabled": False}
    r = api(local, "PUT", f"/replication/policies/{every_second}", json=disabled)
    assert r.status_code == 200
    found = all_ended(local, every_second, 2)
    assert {e["trigger"] for e in found} == {"scheduled"}
    times = [e["start_time"] for e in found]
    assert len(times) == len(set(times))  # one execution a second, never two
    time.sleep(2)
    assert len(executions(local, every_second)) == len(found)

    # two replicas' tickers see the same firing (New Year 2027): one execution
    yearly = create_policy(
        local,
        name="new-year",
        dest_registry={"id": to_reference},
        filters=[{"type": "name", "value": "nothing/here"}],
        trigger={"type": "scheduled", "trigger_settings": {"cron": "0 0 0 1 1 *"}},
    )
    assert local.app is not None and local.run is not None
    service = local.app[REPLICATION]
    new_year = 1798761600.5  # 2027-01-01T00:00:00.5Z
    one, other = ReplicationTicker(service), ReplicationTicker(service)
    first = local.run(one.tick(new_year))
    second = local.run(other.tick(new_year + 0.4))
    assert len(first) == 1 and second == []
    (ran,) = all_ended(local, yearly, 1)
    assert (ran["id"], ran["trigger"], ran["status"]) == (first[0], "scheduled", "Succeed")


def test_an_interrupted_execution_is_completed_by_a_rerun(
    local: InProcessServer, tmp_path: Path, finished: list[ReplicationFinished]
) -> None:
    port = free_port()
    directory = tmp_path / "flaky"

    async def seed() -> list[Manifest]:
        async with local_client(local) as client:
            return [
                await push_image(client, "src/many", f"t{n}", layers=2, size=150_000)
                for n in range(4)
            ]

    images = run(seed())
    with run_reference_registry(directory, users=dict([ALICE]), port=port) as flaky:
        registry = add_registry(local, "flaky", "docker-registry", flaky.url, ALICE)
        policy = create_policy(
            local,
            name="interrupted",
            dest_registry={"id": registry},
            filters=[{"type": "name", "value": "src/many"}],
            speed=200,  # KiB/s: each image takes about 1.5 s
        )
        r = api(local, "POST", "/replication/executions", json={"policy_id": policy})
        execution = int(r.headers["Location"].rsplit("/", 1)[1])
        path = f"/replication/executions/{execution}"
        wait_for(lambda: api(local, "GET", path).json()["succeed"] >= 1, what="a first copy")
        flaky.kill()  # the destination dies mid-execution
    assert api(local, "PUT", path).status_code == 200
    (stopped,) = all_ended(local, policy, 1)
    assert stopped["status"] in ("Stopped", "Failed") and 1 <= stopped["succeed"] < 4, stopped
    done_before = {
        t["src_resource"]
        for t in api(local, "GET", f"{path}/tasks").json()
        if t["status"] == "Success"
    }
    with run_reference_registry(directory, users=dict([ALICE]), port=port):
        r = api(local, "POST", "/replication/executions", json={"policy_id": policy})
        assert r.status_code == 201
        rerun = all_ended(local, policy, 2)[0]
        assert (rerun["status"], rerun["succeed"]) == ("Succeed", 4), rerun
        tasks = api(local, "GET", f"/replication/executions/{rerun['id']}/tasks").json()
        for task in tasks:
            log = api(
                local, "GET", f"/replication/executions/{rerun['id']}/tasks/{task['id']}/log"
            ).text
            if task["src_resource"] in done_before:  # copied by the first run: nothing again
                assert "done: 0 manifests and 0 blobs (0 bytes) copied" in log, log
            else:
                assert "done: 1 manifests" in log, log

        async def check() -> None:
            endpoint = Endpoint(f"http://127.0.0.1:{port}", "docker-registry", Credential(*ALICE))
            async with RegistryClient(endpoint) as client:
                for n, image in enumerate(images):
                    assert (await client.manifest("src/many", f"t{n}")).digest == image.digest

        run(check())
    ends = [(e.execution_id, e.status) for e in finished if e.policy_id == policy]
    assert ends == [(execution, stopped["status"]), (rerun["id"], "Succeed")]


def test_registry_secrets_are_sealed_old_plain_ones_at_start(
    tmp_path: Path, reference: Peer
) -> None:
    data = tmp_path / "data"

    def stored_secrets() -> list[str]:
        with sqlite3.connect(data / "wharf.db") as db:
            return [row[0] for row in db.execute("SELECT access_secret FROM registries")]

    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as app:
        registry = add_registry(app, "ref", "docker-registry", reference.url, ALICE)
        shown = api(app, "GET", f"/registries/{registry}").json()
        assert ALICE[1] not in str(shown) and shown["credential"]["access_secret"] == "*****"
    (sealed,) = stored_secrets()
    assert sealed.startswith("s1:") and ALICE[1] not in sealed
    # as a release before sealing left it: in plain text
    with sqlite3.connect(data / "wharf.db") as db:
        db.execute("UPDATE registries SET access_secret = ?", (ALICE[1],))
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as app:
        (sealed_now,) = stored_secrets()
        assert sealed_now.startswith("s1:") and sealed_now != sealed
        # and it still opens: the registry answers with its credential
        r = api(app, "POST", "/registries/ping", json={"id": registry})
        assert r.status_code == 200, r.text
        assert not app.errors, app.error_log()
    # a secret sealed with another key does not open: the registry is used without it
    with sqlite3.connect(data / "wharf.db") as db:
        db.execute("UPDATE registries SET access_secret = ?", ("s1:" + "A" * 60,))
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as app:
        r = api(app, "POST", "/registries/ping", json={"id": registry})
        assert r.status_code != 200, r.text
