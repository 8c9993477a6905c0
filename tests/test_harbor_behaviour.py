"""Harbor's behaviour on /api/v2.0, checked in process: statuses per role (Harbor's RBAC
table), fields Harbor always returns, validation, robots, audit logs, and the system
groups (/ping, /health, /systeminfo, /statistics, /search, permissions, CLI secret)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from .inproc import ADMIN, InProcessServer, serve_in_process

PASSWORD = "Harbor-Role-1"
ROLES = {"padmin": 1, "developer": 2, "guest": 3, "maintainer": 4, "limited": 5}


class World:
    def __init__(self, server: InProcessServer) -> None:
        self.url = f"{server.url}/api/v2.0"

    def call(
        self, method: str, path: str, who: str | None = "admin", **kw: Any
    ) -> requests.Response:
        auth = ADMIN if who == "admin" else None if who is None else (who, PASSWORD)
        return requests.request(method, self.url + path, auth=auth, timeout=10, **kw)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data: Path = tmp_path_factory.mktemp("harbor-behaviour") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as server:
        w = World(server)
        for name in [*ROLES, "outsider"]:
            r = w.call(
                "POST",
                "/users",
                json={
                    "username": name,
                    "password": PASSWORD,
                    "email": f"{name}@example.com",
                    "realname": name.title(),
                },
            )
            assert r.status_code == 201, r.text
        assert w.call("POST", "/projects", json={"project_name": "team"}).status_code == 201
        assert (
            w.call(
                "POST", "/projects", json={"project_name": "open", "metadata": {"public": "true"}}
            ).status_code
            == 201
        )
        for name, role in ROLES.items():
            r = w.call(
                "POST",
                "/projects/team/members",
                json={"role_id": role, "member_user": {"username": name}},
            )
            assert r.status_code == 201, r.text
        yield w
    assert not server.errors, server.error_log()


def test_refusals_are_401_for_anonymous_and_403_for_others(world: World) -> None:
    assert world.call("GET", "/projects/team", None).status_code == 401
    assert world.call("GET", "/projects/team", "outsider").status_code == 403
    # a project that does not exist answers the same (nothing is revealed); admins: 404
    assert world.call("GET", "/projects/nosuch", "outsider").status_code == 403
    assert world.call("GET", "/projects/nosuch").status_code == 404
    assert world.call("HEAD", "/projects?project_name=team", None).status_code == 401
    assert world.call("HEAD", "/projects?project_name=team", "outsider").status_code == 200
    assert world.call("HEAD", "/projects?project_name=nosuch", "outsider").status_code == 404
    # member lists of public projects are not public
    assert world.call("GET", "/projects/open/members", None).status_code == 401
    assert world.call("GET", "/projects/open/members", "outsider").status_code == 403
    assert world.call("GET", "/projects/open", None).status_code == 200


@pytest.mark.parametrize("who", [*ROLES, "outsider"])
def test_role_table(world: World, who: str) -> None:
    role = ROLES.get(who)
    logs = world.call("GET", "/projects/team/logs", who)
    assert logs.status_code == (200 if who == "padmin" else 403)
    team = world.call("GET", "/projects/team").json()["project_id"]
    robots = world.call("GET", f"/robots?q=Level=project,ProjectID={team}", who)
    members = world.call("GET", "/projects/team/members", who)
    member_readers = {"padmin", "maintainer", "developer", "guest"}
    assert robots.status_code == (200 if who in member_readers else 403), robots.text
    assert members.status_code == (200 if who in member_readers else 403)
    repos = world.call("GET", "/projects/team/repositories", who)
    assert repos.status_code == (200 if role is not None else 403)  # limited guests too
    put = world.call("PUT", "/projects/team", who, json={"metadata": {"auto_scan": "true"}})
    assert put.status_code == (200 if who == "padmin" else 403)


def test_fields_harbor_always_returns(world: World) -> None:
    project = world.call("GET", "/projects/team").json()
    assert project["owner_name"] == "admin"
    assert project["cve_allowlist"]["items"] == []
    assert project["metadata"]["public"] == "false"
    users = world.call("GET", "/users").json()
    assert all(u["admin_role_in_auth"] is False for u in users)


def test_user_validation_and_passwords(world: World) -> None:
    r = world.call("POST", "/users", json={"username": "x1", "password": PASSWORD})
    assert r.status_code == 400 and r.json()["errors"][0]["message"] == "email can't be empty"
    r = world.call(
        "POST", "/users", json={"username": "x1", "password": PASSWORD, "email": "x@example.com"}
    )
    assert r.status_code == 400 and "realname" in r.text
    me = world.call("GET", "/users/current", "guest").json()["user_id"]
    path = f"/users/{me}/password"
    wrong = world.call(
        "PUT", path, "guest", json={"old_password": "nope", "new_password": "A-b-1xyzw"}
    )
    assert wrong.status_code == 403
    same = world.call(
        "PUT", path, "guest", json={"old_password": PASSWORD, "new_password": PASSWORD}
    )
    assert same.status_code == 400
    assert world.call("GET", f"/users/{me}", "outsider").status_code == 403
    r = world.call(
        "POST",
        "/users",
        headers={"X-Resource-Name-In-Location": "true"},
        json={"username": "named", "password": PASSWORD, "email": "n@example.com", "realname": "N"},
    )
    assert r.status_code == 201 and r.headers["Location"] == "/api/v2.0/users/named"


def test_projects_names_metadata_and_filters(world: World) -> None:
    assert world.call("POST", "/projects", json={"project_name": "12345"}).status_code == 201
    by_name = world.call("GET", "/projects/12345", headers={"X-Is-Resource-Name": "true"})
    assert by_name.status_code == 200 and by_name.json()["name"] == "12345"
    assert world.call("PUT", "/projects/team", json={"metadata": {"severity": "high"}}).ok
    assert world.call("GET", "/projects/team").json()["metadata"]["severity"] == "high"
    public = world.call("GET", "/projects?public=true").json()
    assert {p["name"] for p in public} >= {"open", "library"} and "team" not in {
        p["name"] for p in public
    }
    assert world.call("GET", "/projects?public=false", None).json() == []
    mine = world.call("GET", "/projects?owner=admin&q=name=~tea").json()
    assert [p["name"] for p in mine] == ["team"]
    ordered = [p["name"] for p in world.call("GET", "/projects?sort=-name&page_size=0").json()]
    assert ordered == sorted(ordered, reverse=True)
    seen = [p["name"] for p in world.call("GET", "/projects", "outsider").json()]
    assert "team" not in seen and "open" in seen


def test_robots(world: World) -> None:
    body = {
        "name": "ci",
        "level": "project",
        "duration": 30,
        "permissions": [
            {
                "kind": "project",
                "namespace": "team",
                "access": [
                    {"resource": "repository", "action": "pull"},
                    {"resource": "repository", "action": "list"},
                    {"resource": "artifact", "action": "read"},
                    {"resource": "tag", "action": "create"},
                ],
            }
        ],
    }
    r = world.call("POST", "/robots", "padmin", json=body)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    robot = world.call("GET", f"/robots/{rid}", "guest").json()
    assert robot["duration"] == 30 and robot["editable"] is True
    assert robot["creator_type"] == "local" and robot["creator_ref"] > 0
    actions = {(a["resource"], a["action"]) for a in robot["permissions"][0]["access"]}
    assert ("tag", "create") in actions and ("repository", "pull") in actions
    # the robot pulls with its secret
    assert world.call("GET", "/robots", None).status_code == 401
    assert world.call("GET", "/robots", "padmin").status_code == 403  # system robots: admins
    assert world.call("GET", "/robots").status_code == 200
    r = world.call("GET", "/robots?q=Level=project")
    assert r.status_code == 400 and "project ID" in r.text
    rename = world.call("PUT", f"/robots/{rid}", "padmin", json={"name": "other"})
    assert rename.status_code == 400
    weak = world.call("PATCH", f"/robots/{rid}", "padmin", json={"secret": "weak"})
    assert weak.status_code == 400
    chosen = "Chosen-Secret-123"
    r = world.call("PATCH", f"/robots/{rid}", "padmin", json={"secret": chosen})
    assert r.status_code == 200 and r.json()["secret"] == ""
    token = requests.get(
        world.url.replace("/api/v2.0", "/service/token"),
        params={"service": "wharf", "scope": "repository:team/app:pull"},
        auth=(robot["name"], chosen),
        timeout=10,
    )
    assert token.status_code == 200
    assert (
        world.call("POST", "/robots", "padmin", json={**body, "permissions": []}).status_code == 400
    )


def test_audit_logs(world: World) -> None:
    assert world.call("GET", "/audit-logs", None).status_code == 401
    mine = world.call("GET", "/audit-logs?page_size=100", "padmin")
    assert mine.status_code == 200
    assert mine.json() and {e["project"] for e in mine.json()} <= {"team"}
    assert world.call("GET", "/audit-logs", "outsider").json() == []
    everything = world.call("GET", "/audit-logs?q=resource_type=project&page_size=100").json()
    assert {e["operation"] for e in everything} >= {"create"}
    assert all(e["resource_type"] == "project" for e in everything)
    exts = world.call("GET", "/auditlog-exts?q=operation={create update}").json()
    assert exts and {e["operation"] for e in exts} <= {"create", "update"}
    assert "operation_result" in exts[0]
    types = world.call("GET", "/auditlog-exts/events").json()
    assert {"event_type": "create_artifact"} in types
    assert world.call("GET", "/auditlog-exts/events", "padmin").status_code == 403


def test_system_groups(world: World) -> None:
    ping = world.call("GET", "/ping", None)
    assert ping.status_code == 200 and ping.text == "Pong"
    health = world.call("GET", "/health", None).json()
    assert health["status"] == "healthy"
    assert {c["name"] for c in health["components"]} >= {"core", "database", "storage"}
    anonymous = world.call("GET", "/systeminfo", None).json()
    assert anonymous["auth_mode"] == "db_auth" and anonymous.get("registry_url") is None
    signed = world.call("GET", "/systeminfo", "guest").json()
    assert signed["registry_url"] and signed["harbor_version"].startswith("v2.")
    stats = world.call("GET", "/statistics", "guest").json()
    assert stats["private_project_count"] == 1 and stats["total_project_count"] == 0
    assert world.call("GET", "/statistics").json()["total_project_count"] >= 3
    assert world.call("GET", "/statistics", None).status_code == 401
    found = world.call("GET", "/search?q=tea", "guest").json()
    assert [p["name"] for p in found["project"]] == ["team"]
    assert world.call("GET", "/search?q=tea", "outsider").json()["project"] == []
    people = world.call("GET", "/users/search?username=guest", "outsider")
    assert people.status_code == 200 and people.json()[0]["username"] == "guest"
    team = world.call("GET", "/projects/team").json()["project_id"]
    scope = f"/project/{team}"
    perms = world.call("GET", f"/users/current/permissions?scope={scope}&relative=true", "guest")
    got = {(p["resource"], p["action"]) for p in perms.json()}
    assert ("repository", "pull") in got and ("member", "create") not in got
    full = world.call("GET", f"/users/current/permissions?scope={scope}", "padmin").json()
    assert {"resource": f"{scope}/member", "action": "create"} in full
    me = world.call("GET", "/users/current", "guest").json()["user_id"]
    r = world.call("PUT", f"/users/{me}/cli_secret", "guest", json={"secret": "Cli-Secret-1"})
    assert r.status_code == 412 and "db_auth" in r.text
