"""Harbor's /api/v2.0/system/gc against its v2.15 swagger (definitions GCHistory, Schedule,
ScheduleObj; paths /system/gc, /system/gc/{gc_id} GET and PUT (stop), /system/gc/{gc_id}/log,
/system/gc/schedule GET, POST, PUT) and its handlers' behaviour: field names and types,
statuses, job_parameters, schedule types, page/page_size/q/sort, stopping a run."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from wharf.gc import Options, collect
from wharf.jobs.cron import Cron
from wharf.registry.content.cache import InProcessGenerations
from wharf.registry.metadata.base import MetadataStore
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.wiring import sqlite_database
from wharf.storage.filesystem import FilesystemDriver

from .inproc import ADMIN, InProcessServer, serve_in_process

# GCHistory: every field, with its swagger type
GC_HISTORY = {
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
SCHEDULE_TYPES = {"Hourly", "Daily", "Weekly", "Custom", "Manual", "None", "Schedule"}
JOB_STATUSES = {"Pending", "Running", "Stopped", "Error", "Success", "Scheduled", ""}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    data = tmp_path_factory.mktemp("gc-harbor") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as server:
        yield server
        assert not server.errors, server.error_log()


def api(app: InProcessServer, method: str, path: str, **kw: Any) -> requests.Response:
    kw.setdefault("auth", ADMIN)
    return requests.request(method, f"{app.url}/api/v2.0/system/gc{path}", timeout=30, **kw)


def date_time(text: str) -> dt.datetime:
    assert text.endswith("Z"), text
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def check_history(doc: dict[str, Any]) -> None:
    """``doc`` is a GCHistory: exactly its fields, each of its type."""
    assert set(doc) == set(GC_HISTORY), set(doc) ^ set(GC_HISTORY)
    for key, kind in GC_HISTORY.items():
        assert isinstance(doc[key], kind), (key, doc[key])
    assert set(doc["schedule"]) == {"type", "cron", "next_scheduled_time"}
    assert doc["schedule"]["type"] in SCHEDULE_TYPES
    assert isinstance(doc["schedule"]["cron"], str)
    date_time(doc["schedule"]["next_scheduled_time"])
    date_time(doc["creation_time"])
    date_time(doc["update_time"])
    assert doc["job_status"] in JOB_STATUSES
    assert isinstance(json.loads(doc["job_parameters"]), dict)


def run_now(app: InProcessServer, **parameters: Any) -> int:
    r = api(
        app, "POST", "/schedule", json={"schedule": {"type": "Manual"}, "parameters": parameters}
    )
    assert r.status_code == 201, r.text
    assert r.headers["Location"].startswith("/api/v2.0/system/gc/")
    return int(r.headers["Location"].rsplit("/", 1)[1])


def finished(app: InProcessServer, run_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        doc = api(app, "GET", f"/{run_id}").json()
        if doc["job_status"] != "Running":
            return doc  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, doc
        time.sleep(0.05)


def test_runs_history_and_log_in_harbors_shapes(app: InProcessServer) -> None:
    first = run_now(app, delete_untagged=True, dry_run=True, workers=3)
    doc = finished(app, first)
    check_history(doc)
    assert (doc["id"], doc["job_name"], doc["job_kind"]) == (first, "GARBAGE_COLLECTION", "MANUAL")
    assert doc["job_status"] == "Success" and doc["deleted"] is False
    assert doc["schedule"] == {
        "type": "Manual",
        "cron": "",
        "next_scheduled_time": "0001-01-01T00:00:00.000Z",
    }
    parameters = json.loads(doc["job_parameters"])
    assert (parameters["delete_untagged"], parameters["dry_run"], parameters["workers"]) == (
        True,
        True,
        3,
    )
    log = api(app, "GET", f"/{first}/log")
    assert log.status_code == 200 and log.headers["Content-Type"].startswith("text/plain")
    assert "(dry run)" in log.text and "would go" in log.text
    # delete_tag and other parameters Harbor's clients send are accepted, and ignored
    second = run_now(app, delete_untagged=False, delete_tag=False, time_window=2)
    assert finished(app, second)["job_status"] == "Success"
    assert json.loads(finished(app, second)["job_parameters"])["workers"] == 8
    # PUT with type Manual runs one too, answering 200 without a Location (Harbor's)
    r = api(app, "PUT", "/schedule", json={"schedule": {"type": "Manual"}})
    assert r.status_code == 200 and "Location" not in r.headers
    history = api(app, "GET", "")
    assert history.status_code == 200
    assert int(history.headers["X-Total-Count"]) == len(history.json()) >= 3
    for item in history.json():
        check_history(item)
    assert api(app, "GET", "/99999").status_code == 404
    missing = api(app, "GET", "/99999/log")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NOT_FOUND"
    bad_id = api(app, "GET", "/abc")  # as go-swagger answers a path parameter not an int64
    assert bad_id.status_code == 422 and "gc_id in path must be of type int64" in bad_id.text


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"workers": 0}, "Workers must be greater than 0 and less than or equal to 10"),
        ({"workers": 11}, "Workers must be greater than 0 and less than or equal to 10"),
        ({"workers": 2.5}, "workers should be integer format"),
        ({"workers": True}, "workers should be integer format"),
        ({"dry_run": "false"}, "dry_run must be true or false"),
        ({"delete_untagged": 1}, "delete_untagged must be true or false"),
        ({"grace": -1}, "grace must be a non-negative number"),
    ],
)
def test_bad_parameters_are_refused(
    app: InProcessServer, parameters: dict[str, Any], message: str
) -> None:
    for kind in ("Manual", "Daily"):
        body = {"schedule": {"type": kind}, "parameters": parameters}
        r = api(app, "POST", "/schedule", json=body)
        assert r.status_code == 400, r.text
        assert r.json()["errors"][0]["code"] == "BAD_REQUEST"
        assert message in r.json()["errors"][0]["message"]


def test_schedule_types_and_shape(app: InProcessServer) -> None:
    for kind, cron in [("Hourly", "0 0 * * * *"), ("Daily", "0 0 0 * * *"), ("Weekly", "")]:
        body = {"schedule": {"type": kind, "cron": cron}, "parameters": {"workers": 2}}
        r = api(app, "PUT", "/schedule", json=body)
        assert r.status_code == 200, r.text
        doc = api(app, "GET", "/schedule").json()
        check_history(doc)
        assert doc["schedule"]["type"] == kind and doc["job_kind"] == doc["schedule"]["cron"]
        assert json.loads(doc["job_parameters"]) == {"workers": 2}
        assert doc["job_status"] == "Scheduled"
        upcoming = date_time(doc["schedule"]["next_scheduled_time"])
        assert upcoming > dt.datetime.now(dt.UTC)
        assert Cron.parse(doc["schedule"]["cron"]).matches(upcoming)
    assert doc["schedule"]["cron"] == "0 0 0 * * 0"  # Weekly without a cron: the preset
    created = doc["creation_time"]
    # a Custom schedule keeps its expression; an edit keeps the creation time
    r = api(
        app, "POST", "/schedule", json={"schedule": {"type": "Custom", "cron": "0 30 2 * * 1-5"}}
    )
    assert r.status_code == 201, r.text
    doc = api(app, "GET", "/schedule").json()
    assert (doc["schedule"]["type"], doc["schedule"]["cron"]) == ("Custom", "0 30 2 * * 1-5")
    assert doc["creation_time"] == created and doc["update_time"] > created
    upcoming = date_time(doc["schedule"]["next_scheduled_time"])
    assert (upcoming.hour, upcoming.minute, upcoming.second) == (2, 30, 0)
    assert upcoming.isoweekday() <= 5
    for bad in [
        {"schedule": {"type": "Custom"}},  # Custom needs its expression
        {"schedule": {"type": "Custom", "cron": "61 * * * * *"}},
        {"schedule": {"type": "Schedule", "cron": "0 0 0 * * *"}},  # a trigger, not a type
        {"parameters": {}},
    ]:
        r = api(app, "PUT", "/schedule", json=bad)
        assert r.status_code == 400, (bad, r.text)
    # what the swagger's types refuse: 422, as go-swagger answers
    for bad in [
        {"schedule": {"type": "Sometimes"}},
        {"schedule": "Daily"},
        {"schedule": {"type": "Daily"}, "parameters": []},
    ]:
        r = api(app, "PUT", "/schedule", json=bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["errors"][0]["code"] == "UNPROCESSABLE_ENTITY"
    assert api(app, "POST", "/schedule", data=b"").status_code == 422
    # None clears it
    r = api(app, "PUT", "/schedule", json={"schedule": {"type": "None"}})
    assert r.status_code == 200
    doc = api(app, "GET", "/schedule").json()
    check_history(doc)
    assert doc["schedule"]["type"] == "None" and doc["schedule"]["cron"] == ""


def test_history_paging_query_and_sort(app: InProcessServer) -> None:
    ids = [run_now(app, dry_run=True) for _ in range(3)]
    for run_id in ids:
        finished(app, run_id)
    everything = api(app, "GET", "", params={"page_size": 100}).json()
    total = len(everything)
    assert [d["id"] for d in everything] == sorted((d["id"] for d in everything), reverse=True)

    page = api(app, "GET", "", params={"page": 2, "page_size": 1})
    assert page.status_code == 200 and int(page.headers["X-Total-Count"]) == total
    assert [d["id"] for d in page.json()] == [everything[1]["id"]]
    assert 'rel="prev"' in page.headers["Link"] and 'rel="next"' in page.headers["Link"]

    def found(**params: str) -> list[int]:
        r = api(app, "GET", "", params={"page_size": 100, **params})
        assert r.status_code == 200, r.text
        assert int(r.headers["X-Total-Count"]) == len(r.json())
        return [d["id"] for d in r.json()]

    assert found(q=f"id={{{ids[0]} {ids[2]}}}") == [ids[2], ids[0]]
    assert found(q=f"id={ids[1]}") == [ids[1]]
    assert found(q=f"id=[{ids[1]}~]", sort="id") == [ids[1], ids[2]]
    assert found(sort="id")[-3:] == ids
    assert found(sort="-creation_time")[:3] == ids[::-1]
    assert ids[0] in found(q="job_status=Success,trigger=MANUAL")
    assert found(q="status=Error") == [d["id"] for d in everything if d["job_status"] == "Error"]
    assert ids[0] in found(q="status=~ucce")
    assert found(q="trigger=SCHEDULE") == []
    assert found(q="no_such_key=1") == found()  # as Harbor: keys it doesn't know are ignored
    created = date_time(api(app, "GET", f"/{ids[0]}").json()["creation_time"])
    since = (created - dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert set(ids) <= set(found(q=f"creation_time=[{since}~]"))
    assert found(q="creation_time=[2000-01-01 00:00:00~2000-01-02 00:00:00]") == []
    for bad in ["id", "id=", "id=[~]", "id=[1~2", "id={1 2", "id=~", "creation_time=[x~]",
                "creation_time={1 2}", "id=x"]:  # fmt: skip
        r = api(app, "GET", "", params={"q": bad})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["errors"][0]["code"] == "BAD_REQUEST"


class Held:
    """The metadata store of a `wharf gc` running elsewhere, held at its mark phase."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self.reached = asyncio.Event()
        self.resume = asyncio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    async def gc_mark(self, *args: object, **kwargs: object) -> object:
        self.reached.set()
        await self.resume.wait()
        return await self.store.gc_mark(*args, **kwargs)  # type: ignore[arg-type]


def test_stopping_a_run_elsewhere_and_conflicts(app: InProcessServer) -> None:
    """A run of another process (``wharf gc`` on a cron host), asked to stop through the
    API, stops at its next batch; while it holds the lock, "run now" is a conflict."""

    async def scenario() -> dict[str, Any]:
        store = SQLiteStore(sqlite_database(app.data_dir / "wharf.db"))
        driver = FilesystemDriver(app.data_dir / "storage")
        await store.open()
        await driver.start()
        held = Held(store)
        try:
            task = asyncio.create_task(
                collect(held, driver, InProcessGenerations(), Options())  # type: ignore[arg-type]
            )
            await asyncio.wait_for(held.reached.wait(), 30)
            history = await asyncio.to_thread(api, app, "GET", "", params={"q": "status=Running"})
            (running,) = history.json()
            busy = await asyncio.to_thread(
                api, app, "POST", "/schedule", json={"schedule": {"type": "Manual"}}
            )
            assert busy.status_code == 409 and busy.json()["errors"][0]["code"] == "CONFLICT"
            stopped = await asyncio.to_thread(api, app, "PUT", f"/{running['id']}")
            assert stopped.status_code == 200, stopped.text
            await asyncio.sleep(1.1)  # it looks for a stop once a second
            held.resume.set()
            report = await asyncio.wait_for(task, 30)
            assert report.status == "Stopped" and report.run_id == running["id"]
            return running
        finally:
            await store.close()

    running = asyncio.run(scenario())
    doc = api(app, "GET", f"/{running['id']}").json()
    check_history(doc)
    assert doc["job_status"] == "Stopped"
    assert "stopped on request" in api(app, "GET", f"/{running['id']}/log").text
    again = api(app, "PUT", f"/{running['id']}")  # an ended run: nothing to do
    assert again.status_code == 200
    assert api(app, "GET", f"/{running['id']}").json()["job_status"] == "Stopped"
    assert api(app, "PUT", "/99999").status_code == 404
    r = requests.post(
        f"{app.url}/api/v2.0/users",
        json={
            "username": "gcbob",
            "password": "Bob-Pass-12345",
            "email": "gcbob@example.com",
            "realname": "Bob",
        },
        auth=ADMIN,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    bob = ("gcbob", "Bob-Pass-12345")
    assert api(app, "PUT", f"/{running['id']}", auth=bob).status_code == 403
    assert api(app, "PUT", f"/{running['id']}", auth=None).status_code == 401
    assert api(app, "GET", "/schedule", auth=bob).status_code == 403


def test_finished_runs_tell_what_they_freed(app: InProcessServer) -> None:
    """As Harbor's job checks in at its end: ``freed_space``, ``purged_blobs`` and
    ``purged_manifests`` in ``job_parameters`` (a dry run: what would go) — what the UI
    draws "bytes freed over time" from."""
    data = b"an orphan the metadata never knew" * 100
    digest = hashlib.sha256(data).hexdigest()
    path = app.data_dir / "storage" / "blobs" / "sha256" / digest[:2] / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    old = time.time() - 7200  # older than any grace
    os.utime(path, (old, old))

    dry = json.loads(finished(app, run_now(app, dry_run=True, grace=60))["job_parameters"])
    assert dry["dry_run"] is True
    assert dry["freed_space"] >= len(data) and dry["purged_blobs"] >= 1
    assert isinstance(dry["purged_manifests"], int)
    assert path.exists()  # a dry run deletes nothing

    real = json.loads(finished(app, run_now(app, grace=60))["job_parameters"])
    assert real["dry_run"] is False and real["freed_space"] == dry["freed_space"]
    assert real["purged_blobs"] == dry["purged_blobs"]
    assert not path.exists()
    again = json.loads(finished(app, run_now(app, grace=60))["job_parameters"])
    assert (again["freed_space"], again["purged_blobs"]) == (0, 0)
