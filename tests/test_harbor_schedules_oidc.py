"""Harbor's /schedules (listSchedules, getSchedulePaused: ScheduleTask, SchedulerStatus)
over the schedules Wharf keeps — GC, the audit-log purge, scheduled replication policies
and retention policies with a cron — and /system/oidc/ping (pingOIDC) against the real
OpenID provider the OIDC tests use, a dead port, a server that never answers, a page that
is no discovery document and an issuer that is not the URL asked."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.oidc_provider import Provider, run_provider
from wharf.auth.oidc import ProviderUnavailable, ping_endpoint

from .helpers import free_port
from .inproc import ADMIN, InProcessServer, serve_in_process

pytestmark = pytest.mark.services
USER = ("sam", "Sam-Pass-12345")
TASK = {"id": int, "vendor_type": str, "vendor_id": int, "cron": str, "update_time": str}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    data = tmp_path_factory.mktemp("schedules") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as server:
        r = api(
            server,
            "POST",
            "/users",
            json={"username": USER[0], "password": USER[1], "email": "s@x.io", "realname": "S"},
        )
        assert r.status_code == 201, r.text
        yield server
        assert not server.errors, server.error_log()


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    folder = tmp_path_factory.mktemp("ping-provider")
    with run_provider(folder, "http://127.0.0.1:1/c/oidc/callback", []) as op:
        yield op


def api(app: InProcessServer, method: str, path: str, **kw: Any) -> requests.Response:
    kw.setdefault("auth", ADMIN)
    return requests.request(method, f"{app.url}/api/v2.0{path}", timeout=30, **kw)


def created_id(r: requests.Response) -> int:
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


# --- /schedules ----------------------------------------------------------------------------
def test_every_kind_of_schedule_is_listed(app: InProcessServer) -> None:
    assert api(app, "GET", "/schedules").json() == []  # nothing scheduled yet
    daily = {"schedule": {"type": "Daily"}, "parameters": {}}
    assert api(app, "PUT", "/system/gc/schedule", json=daily).status_code == 200
    purge = {
        "schedule": {"type": "Custom", "cron": "0 30 2 * * *"},
        "parameters": {"audit_retention_hour": 24, "include_event_types": "pull_artifact"},
    }
    assert api(app, "POST", "/system/purgeaudit/schedule", json=purge).status_code == 201

    project_id = created_id(api(app, "POST", "/projects", json={"project_name": "sched"}))
    retention = created_id(
        api(
            app,
            "POST",
            "/retentions",
            json={
                "algorithm": "or",
                "rules": [],
                "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 3 * * *"}},
                "scope": {"level": "project", "ref": project_id},
            },
        )
    )
    registry = created_id(
        api(
            app,
            "POST",
            "/registries",
            json={
                "name": "itself",
                "type": "docker-registry",
                "url": app.url,
                "credential": {"type": "basic", "access_key": ADMIN[0], "access_secret": ADMIN[1]},
            },
        )
    )
    replication = created_id(
        api(
            app,
            "POST",
            "/replication/policies",
            json={
                "name": "nightly",
                "dest_registry": {"id": registry},
                "trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 0 4 * * *"}},
                "enabled": True,
            },
        )
    )
    # neither a manual policy nor a disabled scheduled one is a schedule
    created_id(
        api(
            app,
            "POST",
            "/replication/policies",
            json={"name": "by-hand", "dest_registry": {"id": registry}},
        )
    )
    created_id(
        api(
            app,
            "POST",
            "/replication/policies",
            json={
                "name": "off",
                "dest_registry": {"id": registry},
                "trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 0 5 * * *"}},
                "enabled": False,
            },
        )
    )

    r = api(app, "GET", "/schedules")
    assert r.status_code == 200, r.text
    tasks = r.json()
    assert r.headers["X-Total-Count"] == "4"
    for task in tasks:
        assert set(task) == set(TASK)
        for key, kind in TASK.items():
            assert isinstance(task[key], kind), (key, task)
        assert task["update_time"].endswith("Z") and not task["update_time"].startswith("0001")
    assert [(t["vendor_type"], t["vendor_id"], t["cron"]) for t in tasks] == [
        ("GARBAGE_COLLECTION", -1, "0 0 0 * * *"),
        ("PURGE_AUDIT_LOG", -1, "0 30 2 * * *"),
        *sorted(
            [("REPLICATION", replication, "0 0 4 * * *"), ("RETENTION", retention, "0 0 3 * * *")],
            key=lambda t: 4 * t[1] + (3 if t[0] == "REPLICATION" else 4),
        ),
    ]
    assert len({t["id"] for t in tasks}) == 4

    page = api(app, "GET", "/schedules", params={"page": 2, "page_size": 3})
    assert [t["id"] for t in page.json()] == [tasks[3]["id"]]
    assert page.headers["X-Total-Count"] == "4" and 'rel="prev"' in page.headers["Link"]

    # cleared schedules leave the list
    none = {"schedule": {"type": "None"}, "parameters": purge["parameters"]}
    assert api(app, "PUT", "/system/purgeaudit/schedule", json=none).status_code == 200
    assert (
        api(app, "PUT", "/system/gc/schedule", json={"schedule": {"type": "None"}}).status_code
        == 200
    )
    left = [t["vendor_type"] for t in api(app, "GET", "/schedules").json()]
    assert sorted(left) == ["REPLICATION", "RETENTION"]


def test_listing_is_for_system_admins_and_paused_for_anyone_signed_in(
    app: InProcessServer,
) -> None:
    r = api(app, "GET", "/schedules", auth=USER)
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "FORBIDDEN"
    assert api(app, "GET", "/schedules", auth=None).status_code == 401
    assert api(app, "GET", "/schedules", params={"page_size": 101}).status_code == 422

    for who in (ADMIN, USER):
        r = api(app, "GET", "/schedules/all/paused", auth=who)
        assert r.status_code == 200 and r.json() == {"paused": False}
    assert api(app, "GET", "/schedules/ALL/paused").json() == {"paused": False}
    assert api(app, "GET", "/schedules/all/paused", auth=None).status_code == 401
    r = api(app, "GET", "/schedules/GARBAGE_COLLECTION/paused")
    assert r.status_code == 400
    assert r.json()["errors"][0] == {"code": "BAD_REQUEST", "message": "job_type can only be 'all'"}


# --- /system/oidc/ping --------------------------------------------------------------------
def ping(app: InProcessServer, body: dict[str, Any], auth: Any = ADMIN) -> requests.Response:
    return api(app, "POST", "/system/oidc/ping", json=body, auth=auth)


def test_ping_a_real_provider(app: InProcessServer, provider: Provider) -> None:
    r = ping(app, {"url": provider.issuer, "verify_cert": False})
    assert r.status_code == 200, r.text
    assert ping(app, {"url": provider.issuer + "/", "verify_cert": True}).status_code == 200
    r = ping(app, {"url": provider.issuer}, auth=USER)
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "FORBIDDEN"
    assert ping(app, {"url": provider.issuer}, auth=None).status_code == 401


def test_ping_failures_are_harbors_400(app: InProcessServer, provider: Provider) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    for url in (
        dead,  # nothing listens
        app.url,  # answers, but 404 for the discovery document
        provider.issuer.replace("127.0.0.1", "localhost"),  # its issuer is another URL
        "ftp://example.invalid",
        "",
    ):
        started = time.monotonic()
        r = ping(app, {"url": url, "verify_cert": False})
        assert r.status_code == 400, (url, r.text)
        assert r.json() == {
            "errors": [{"code": "BAD_REQUEST", "message": "failed to verify connection"}]
        }
        assert time.monotonic() - started < 5, url
    assert ping(app, {"verify_cert": "yes"}).status_code == 422  # Harbor's types


def test_ping_of_a_server_that_never_answers_is_bounded(tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)  # accepts connections, never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable, match="Timeout"):
            asyncio.run(ping_endpoint(url, False, within=0.5))
        assert time.monotonic() - started < 3
    finally:
        silent.close()
