"""Harbor's /api/v2.0/system/purgeaudit against its v2.15 swagger (tag ``purge``:
ExecHistory, Schedule; getPurgeHistory, getPurgeJob, getPurgeJobLog, stopPurge,
getPurgeSchedule, createPurgeSchedule, updatePurgeSchedule) and its handlers: runs on the
job queue that delete (or, dry, count) audit events older than ``audit_retention_hour``
of the listed event types or operations, in batches; their log and ``job_parameters``;
the schedule fired by the leader; Harbor's 400s; system admins only."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from wharf.auth.audit_purge import KIND, AuditPurgeService
from wharf.auth.models import AuditEvent
from wharf.auth.sqlite_store import SQLiteAuthStore
from wharf.auth.store import AuditPurge, AuditQuery, Page
from wharf.jobs.models import JobState, NewJob
from wharf.jobs.runner import JobRunner, RunnerOptions
from wharf.jobs.sqlite import SQLiteJobStore
from wharf.registry.http.keys import AUDIT_PURGE, AUTH
from wharf.registry.wiring import sqlite_database

from .inproc import ADMIN, InProcessServer, serve_in_process

EXEC_HISTORY = {
    "id": int,
    "job_name": str,
    "job_kind": str,
    "job_parameters": str,
    "job_status": str,
    "deleted": bool,
    "schedule": dict,
    "creation_time": str,
    "update_time": str,
}
USER = ("olga", "Olga-Pass-1234")
HOUR = 3600.0


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    data = tmp_path_factory.mktemp("purge-harbor") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as server:
        r = requests.post(
            f"{server.url}/api/v2.0/users",
            json={"username": USER[0], "password": USER[1], "email": "o@x.io", "realname": "O"},
            auth=ADMIN,
            timeout=10,
        )
        assert r.status_code == 201, r.text
        yield server
        assert not server.errors, server.error_log()


def api(app: InProcessServer, method: str, path: str, **kw: Any) -> requests.Response:
    kw.setdefault("auth", ADMIN)
    return requests.request(method, f"{app.url}/api/v2.0/system/purgeaudit{path}", timeout=30, **kw)


def seed(app: InProcessServer, *events: AuditEvent) -> None:
    assert app.app is not None and app.run is not None
    app.run(app.app[AUTH].store.add_events(list(events)))


def events_of(app: InProcessServer, username: str) -> list[tuple[str, str]]:
    assert app.app is not None and app.run is not None
    found, _ = app.run(app.app[AUTH].store.list_events(AuditQuery(username=username), Page(0, 100)))
    return sorted((e.operation, e.resource_type) for e in found)


def purge_now(app: InProcessServer, **parameters: Any) -> dict[str, Any]:
    """POST a Manual schedule and wait for the run's end; the run (ExecHistory)."""
    r = api(
        app, "POST", "/schedule", json={"schedule": {"type": "Manual"}, "parameters": parameters}
    )
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    assert location.startswith("/api/v2.0/system/purgeaudit/")
    run_id = int(location.rsplit("/", 1)[1])
    deadline = time.monotonic() + 20
    while True:
        doc: dict[str, Any] = api(app, "GET", f"/{run_id}").json()
        if doc["job_status"] not in ("Pending", "Running"):
            check_history(doc)
            return doc
        assert time.monotonic() < deadline, doc
        time.sleep(0.05)


def check_history(doc: dict[str, Any]) -> None:
    assert set(doc) == set(EXEC_HISTORY), set(doc) ^ set(EXEC_HISTORY)
    for key, kind in EXEC_HISTORY.items():
        assert isinstance(doc[key], kind), (key, doc[key])
    assert set(doc["schedule"]) == {"type", "cron", "next_scheduled_time"}
    assert doc["creation_time"].endswith("Z") and doc["update_time"].endswith("Z")
    assert isinstance(json.loads(doc["job_parameters"]), dict)


def old_events(user: str, now: float) -> list[AuditEvent]:
    old = now - 100 * HOUR
    return [
        AuditEvent(user, "pull", "artifact", "p/a:1", "p", time=old),
        AuditEvent(user, "pull", "artifact", "p/a:2", "p", time=old + 1),
        AuditEvent(user, "create", "artifact", "p/a:1", "p", time=old),
        AuditEvent(user, "create", "project", "p", "p", time=old),
        AuditEvent(user, "delete", "repository", "p/a", "p", time=old),
        AuditEvent(user, "pull", "artifact", "p/a:3", "p", time=now - HOUR),  # recent
    ]


def test_a_manual_purge_counts_then_deletes_what_it_selects(app: InProcessServer) -> None:
    seed(app, *old_events("purge-a", time.time()))
    selection = {"audit_retention_hour": 48, "include_event_types": "pull_artifact,create_project"}

    dry = purge_now(app, **selection, dry_run=True)
    assert dry["job_status"] == "Success" and dry["job_name"] == "PURGE_AUDIT_LOG"
    assert dry["job_kind"] == "MANUAL" and dry["schedule"]["type"] == "Manual"
    assert json.loads(dry["job_parameters"]) == {**selection, "dry_run": True, "purged": 3}
    assert len(events_of(app, "purge-a")) == 6  # counted only
    dry_log = api(app, "GET", f"/{dry['id']}/log")
    assert dry_log.status_code == 200 and dry_log.headers["Content-Type"].startswith("text/plain")
    assert "[DRYRUN]Purged 3 rows of audit logs" in dry_log.text

    real = purge_now(app, **selection)
    assert real["job_status"] == "Success"
    assert json.loads(real["job_parameters"])["purged"] >= 3  # other old events may match
    assert events_of(app, "purge-a") == [
        ("create", "artifact"),  # create_artifact was not listed
        ("delete", "repository"),
        ("pull", "artifact"),  # the recent pull is kept
    ]
    assert "Purged" in api(app, "GET", f"/{real['id']}/log").text


def test_operations_select_every_resource_type_in_batches(app: InProcessServer) -> None:
    """Bare operations (``include_operations``, the older name, too) match whatever the
    resource type; the service deletes ``batch`` rows per transaction."""
    assert app.app is not None
    now = time.time()
    old = now - 100 * HOUR
    seed(
        app,
        *(
            AuditEvent("purge-b", "delete", "tag", f"p/a:{i}", time=now - 50 * HOUR)
            for i in range(7)
        ),
        AuditEvent("purge-b", "create", "artifact", "p/a:1", "p", time=old),
        AuditEvent("purge-b", "create", "project", "p", "p", time=old),
        AuditEvent("purge-b", "pull", "label", "p/a:1", "p", time=old),
        AuditEvent("purge-b", "pull", "artifact", "p/a:2", "p", time=now - HOUR),
    )
    service = app.app[AUDIT_PURGE]
    service.batch = 2
    try:
        run = purge_now(app, audit_retention_hour=48, include_operations="CREATE, delete")
    finally:
        service.batch = 5_000
    assert json.loads(run["job_parameters"])["purged"] >= 9
    assert events_of(app, "purge-b") == [("pull", "artifact"), ("pull", "label")]
    log = api(app, "GET", f"/{run['id']}/log").text
    assert "purged 2 rows so far" in log and "purged 8 rows so far" in log


def test_history_one_run_and_its_log(app: InProcessServer) -> None:
    first = purge_now(app, audit_retention_hour=0, include_event_types="pull_artifact")
    assert json.loads(first["job_parameters"])["purged"] == 0  # 0 hours: Harbor quits
    assert "quit purge job" in api(app, "GET", f"/{first['id']}/log").text
    second = purge_now(app, audit_retention_hour=9999, include_event_types="")
    assert json.loads(second["job_parameters"])["purged"] == 0  # nothing selected

    r = api(app, "GET", "", params={"page_size": 1})
    assert r.status_code == 200, r.text
    total = int(r.headers["X-Total-Count"])
    assert total >= 2 and len(r.json()) == 1
    assert r.json()[0]["id"] == second["id"]  # newest first
    assert 'rel="next"' in r.headers["Link"]
    everything = api(app, "GET", "", params={"page_size": 100}).json()
    assert len(everything) == total
    for doc in everything:
        check_history(doc)
    ids = [d["id"] for d in api(app, "GET", "", params={"sort": "id"}).json()]
    assert ids == sorted(ids)
    found = api(app, "GET", "", params={"q": f"id={first['id']}"}).json()
    assert [d["id"] for d in found] == [first["id"]]
    assert api(app, "GET", "", params={"q": "status=Error"}).json() == []
    manual = api(app, "GET", "", params={"q": "trigger=MANUAL", "page_size": 100})
    assert manual.json() == [d for d in everything if d["job_kind"] == "MANUAL"]
    assert manual.headers["X-Total-Count"] == str(len(manual.json()))

    missing = api(app, "GET", "/987654")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NOT_FOUND"
    assert api(app, "GET", "/987654/log").status_code == 404
    assert api(app, "PUT", "/987654").status_code == 404
    stopped_late = api(app, "PUT", f"/{first['id']}")  # ended already: left as it is
    assert stopped_late.status_code == 200
    assert api(app, "GET", f"/{first['id']}").json()["job_status"] == "Success"


def test_the_schedule_is_set_read_cleared_and_fires_on_the_leader(app: InProcessServer) -> None:
    doc = api(app, "GET", "/schedule").json()
    check_history(doc)
    assert doc["schedule"]["type"] == "None"

    parameters = {"audit_retention_hour": 168, "include_event_types": "pull_artifact"}
    r = api(
        app,
        "PUT",
        "/schedule",
        json={"schedule": {"type": "Daily", "cron": ""}, "parameters": parameters},
    )
    assert r.status_code == 200, r.text
    doc = api(app, "GET", "/schedule").json()
    check_history(doc)
    assert doc["schedule"]["type"] == "Daily" and doc["schedule"]["cron"] == "0 0 0 * * *"
    assert doc["job_kind"] == "0 0 0 * * *" and doc["job_status"] == "Scheduled"
    assert json.loads(doc["job_parameters"]) == parameters
    assert doc["schedule"]["next_scheduled_time"] > doc["update_time"]

    # every second: the leader's ticker queues a run triggered SCHEDULE
    r = api(
        app,
        "POST",
        "/schedule",
        json={"schedule": {"type": "Custom", "cron": "* * * * * *"}, "parameters": parameters},
    )
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 10
    while not api(app, "GET", "", params={"q": "trigger=SCHEDULE"}).json():
        assert time.monotonic() < deadline, "the schedule never fired"
        time.sleep(0.1)
    r = api(app, "PUT", "/schedule", json={"schedule": {"type": "None"}, "parameters": parameters})
    assert r.status_code == 200, r.text
    assert api(app, "GET", "/schedule").json()["schedule"]["type"] == "None"
    scheduled = api(app, "GET", "", params={"q": "trigger=SCHEDULE"}).json()
    assert scheduled[0]["job_kind"] == "SCHEDULE" and scheduled[0]["schedule"]["type"] == "Schedule"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"schedule": {"type": "Daily"}}, "schedule parameter cann't be empty"),
        ({"parameters": {"audit_retention_hour": 1}}, "schedule cann't be empty"),
        (
            {"schedule": {"type": "Daily"}, "parameters": {"include_event_types": "x"}},
            "audit_retention_hour should provide",
        ),
        (
            {"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": 1}},
            "include_event_types should provide",
        ),
        (
            {
                "schedule": {"type": "Daily"},
                "parameters": {"audit_retention_hour": "10", "include_event_types": ""},
            },
            "integer format",
        ),
        (
            {
                "schedule": {"type": "Daily"},
                "parameters": {"audit_retention_hour": 240001, "include_event_types": ""},
            },
            "less than 240000",
        ),
        (
            {
                "schedule": {"type": "Custom", "cron": "61 * * * * *"},
                "parameters": {"audit_retention_hour": 1, "include_event_types": ""},
            },
            "invalid cron string",
        ),
    ],
)
def test_harbors_refusals(app: InProcessServer, body: dict[str, Any], message: str) -> None:
    for method in ("POST", "PUT"):
        r = api(app, method, "/schedule", json=body)
        assert r.status_code == 400, r.text
        error = r.json()["errors"][0]
        assert error["code"] == "BAD_REQUEST" and message in error["message"], error


def test_system_admins_only(app: InProcessServer) -> None:
    body = {"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": 1}}
    for method, path, kw in (
        ("GET", "", {}),
        ("GET", "/schedule", {}),
        ("POST", "/schedule", {"json": body}),
        ("PUT", "/schedule", {"json": body}),
        ("GET", "/1", {}),
        ("PUT", "/1", {}),
        ("GET", "/1/log", {}),
    ):
        r = api(app, method, path, auth=USER, **kw)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["errors"][0]["code"] == "FORBIDDEN"
        assert api(app, method, path, auth=None, **kw).status_code == 401


def test_a_stop_ends_a_running_purge_at_a_batch_boundary(tmp_path: Path) -> None:
    """The service over real SQLite stores and a real runner: a purge of many small
    batches is stopped while it runs; what it deleted stays deleted, the rest is kept,
    and a pending run is stopped before it starts."""

    async def main() -> None:
        database = sqlite_database(tmp_path / "wharf.db")
        await database.open()
        store = SQLiteAuthStore(database)
        jobs = SQLiteJobStore(database)
        await store.open()
        await jobs.open()
        now = time.time()
        total = 6_000
        await store.add_events(
            [
                AuditEvent("bulk", "pull", "artifact", f"p/a:{i}", "p", time=now - 10 * HOUR)
                for i in range(total)
            ]
        )

        async def enqueue(new: Any) -> list[int]:
            return await jobs.enqueue(new, time.time())

        service = AuditPurgeService(store, jobs, enqueue, batch=2)
        pending = await service.start({"audit_retention_hour": 1, "include_event_types": "pull"})
        assert (await service.stop(pending)) is not None
        assert (await jobs.get(pending)) is not None
        assert (await service.run(pending)).state == JobState.STOPPED  # type: ignore[union-attr]

        runner = JobRunner(jobs, service.handlers, RunnerOptions(poll_interval=0.05, lease=5))
        await runner.start()
        try:
            run_id = await service.start({"audit_retention_hour": 1, "include_operations": "pull"})
            for _ in range(400):
                job = await service.run(run_id)
                assert job is not None
                if job.state == JobState.RUNNING:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
            await service.stop(run_id)
            for _ in range(400):
                job = await service.run(run_id)
                assert job is not None
                if job.state.final:
                    break
                await asyncio.sleep(0.01)
            assert job.state == JobState.STOPPED, job
            left = await store.count_purgeable_events(AuditPurge(now, operations=("pull",)))
            assert 0 < left < total  # some batches went, not all
            assert await service.run(123456) is None
            # another kind's job is not a purge run
            [other] = await jobs.enqueue([NewJob("something-else")], time.time())
            assert await service.run(other) is None and await service.log(other) is None
            assert KIND in service.handlers
        finally:
            await runner.close()
            await jobs.close()
            await store.close()
            await database.close()

    asyncio.run(main())


def test_a_system_robot_with_purge_audit_permissions(app: InProcessServer) -> None:
    """Harbor's RequireSystemAccess: a system robot given ``purge-audit`` list and read
    may read the history and a run, not set the schedule."""
    robot = {
        "name": "purger",
        "level": "system",
        "duration": -1,
        "permissions": [
            {
                "kind": "system",
                "namespace": "/",
                "access": [
                    {"resource": "purge-audit", "action": "list"},
                    {"resource": "purge-audit", "action": "read"},
                ],
            }
        ],
    }
    made = requests.post(f"{app.url}/api/v2.0/robots", json=robot, auth=ADMIN, timeout=10)
    assert made.status_code == 201, made.text
    auth = (made.json()["name"], made.json()["secret"])
    assert api(app, "GET", "", auth=auth).status_code == 200
    assert api(app, "GET", "/schedule", auth=auth).status_code == 200
    body = {"schedule": {"type": "None"}, "parameters": {"audit_retention_hour": 1}}
    assert api(app, "PUT", "/schedule", json=body, auth=auth).status_code == 403
