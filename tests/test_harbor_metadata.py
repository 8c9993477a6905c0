"""Harbor's project metadata (/projects/{p}/metadatas), /permissions and
/systeminfo/volumes, in process: who may read and change which key (Harbor's RBAC
table), the keys and values Harbor accepts, and agreement with GET /projects/{p} and the
project's visibility."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from wharf.registry.http.harbor.system import Storage, capacity

from .inproc import ADMIN, serve_in_process

PASSWORD = "Harbor-Meta-1"
ROLES = {"padmin": 1, "developer": 2, "guest": 3, "maintainer": 4, "limited": 5}


class World:
    def __init__(self, url: str) -> None:
        self.url = f"{url}/api/v2.0"

    def call(
        self, method: str, path: str, who: str | None = "admin", **kw: Any
    ) -> requests.Response:
        auth = ADMIN if who == "admin" else None if who is None else (who, PASSWORD)
        return requests.request(method, self.url + path, auth=auth, timeout=10, **kw)

    def project(self, name: str) -> dict[str, Any]:
        r = self.call("GET", f"/projects/{name}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def settings(self, name: str) -> dict[str, str]:
        """The metadata GET /projects/{name} shows as set."""
        metadata = self.project(name)["metadata"]
        return {k: v for k, v in metadata.items() if v is not None}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data: Path = tmp_path_factory.mktemp("harbor-metadata") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as server:
        w = World(server.url)
        for name in [*ROLES, "outsider"]:
            user = {
                "username": name,
                "password": PASSWORD,
                "email": f"{name}@example.com",
                "realname": name.title(),
            }
            assert w.call("POST", "/users", json=user).status_code == 201
        for project in ("meta", "other"):
            r = w.call("POST", "/projects", json={"project_name": project})
            assert r.status_code == 201, r.text
        for name, role in ROLES.items():
            member = {"role_id": role, "member_user": {"username": name}}
            assert w.call("POST", "/projects/meta/members", json=member).status_code == 201
        yield w
    assert not server.errors, server.error_log()


def test_anonymous_401_and_non_members_403(world: World) -> None:
    for method, path, body in (
        ("GET", "/projects/meta/metadatas/", None),
        ("GET", "/projects/meta/metadatas/auto_scan", None),
        ("POST", "/projects/meta/metadatas/", {"auto_scan": "true"}),
        ("PUT", "/projects/meta/metadatas/auto_scan", {"auto_scan": "true"}),
        ("DELETE", "/projects/meta/metadatas/auto_scan", None),
    ):
        assert world.call(method, path, None, json=body).status_code == 401, (method, path)
        r = world.call(method, path, "outsider", json=body)
        assert r.status_code == 403, (method, path)
        assert r.json()["errors"][0]["code"] == "FORBIDDEN"
    # nothing is revealed about projects that do not exist, except to admins
    assert world.call("GET", "/projects/nosuch/metadatas/", "outsider").status_code == 403
    assert world.call("GET", "/projects/nosuch/metadatas/").status_code == 404


@pytest.mark.parametrize("who", ROLES)
def test_role_table(world: World, who: str) -> None:
    # Harbor's table: project admins create/read/update/delete, maintainers read; no role
    # may list (only system admins and robots given metadata:list)
    read = world.call("GET", "/projects/meta/metadatas/public", who)
    assert read.status_code == (200 if who in ("padmin", "maintainer") else 403)
    assert world.call("GET", "/projects/meta/metadatas/", who).status_code == 403
    key = f"severity-by-{who}"  # an unknown key: refused (400) only once permitted
    add = world.call("POST", "/projects/meta/metadatas/", who, json={key: "high"})
    assert add.status_code == (400 if who == "padmin" else 403)
    put = world.call("PUT", "/projects/meta/metadatas/prevent_vul", who, json={"prevent_vul": "0"})
    assert put.status_code == (200 if who == "padmin" else 403)
    gone = world.call("DELETE", "/projects/meta/metadatas/no_such_key", who)
    assert gone.status_code == (200 if who == "padmin" else 403)


def test_validation(world: World) -> None:
    path = "/projects/other/metadatas/"
    for body, message in (
        ({}, "only allow one key/value pair"),
        ({"auto_scan": "true", "prevent_vul": "true"}, "only allow one key/value pair"),
        ({"retention_id": "1"}, "invalid key: retention_id"),
        ({"nonsense": "x"}, "invalid key: nonsense"),
        ({"auto_scan": "yes"}, "invalid value: yes"),
        ({"severity": "severe"}, "invalid value: severe"),
        ({"proxy_speed_kb": "fast"}, "invalid value: fast"),
        ({"proxy_speed_kb": str(2**31)}, f"invalid value: {2**31}"),
        ({"max_upstream_conn": "0"}, "invalid value for max_upstream_conn: 0"),
        ({"proxy_cache_filter_kind": "regex"}, "proxy cache filter metadata"),
    ):
        r = world.call("POST", path, json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["errors"][0]["code"] == "BAD_REQUEST"
        assert message in r.json()["errors"][0]["message"], (body, r.text)
    assert world.call("POST", path).status_code == 400  # no body at all
    # not strings: the body does not fit the declared map of strings
    assert world.call("POST", path, json={"auto_scan": True}).status_code == 422
    r = world.call("PUT", path + "public", json={"public": "maybe"})
    assert r.status_code == 400
    # the value is the body's entry for the key named in the path
    assert world.call("PUT", path + "public", json={"auto_scan": "true"}).status_code == 400
    assert world.settings("other").get("auto_scan") is None


def test_round_trip_with_the_project(world: World) -> None:
    path = "/projects/other/metadatas/"
    listed = world.call("GET", path).json()
    assert listed == {"public": "false"} == world.settings("other")
    # flags are stored canonically ("T" is Go's true), severities lower-case
    assert world.call("POST", path, json={"auto_scan": "T"}).status_code == 200
    assert world.call("POST", path, json={"severity": "Negligible"}).status_code == 200
    assert world.call("POST", path, json={"max_upstream_conn": "-1"}).status_code == 200
    # a key already set is a conflict; public is always set
    assert world.call("POST", path, json={"auto_scan": "false"}).status_code == 409
    assert world.call("POST", path, json={"public": "true"}).status_code == 409
    assert world.call("GET", path + "auto_scan").json() == {"auto_scan": "true"}
    assert world.call("GET", path + "severity").json() == {"severity": "none"}
    assert world.call("GET", path + "prevent_vul").json() == {}  # not set
    expected = {"public": "false", "auto_scan": "true", "severity": "none"}
    expected["max_upstream_conn"] = "-1"
    assert world.call("GET", path).json() == expected == world.settings("other")

    assert world.call("PUT", path + "severity", json={"severity": "HIGH"}).status_code == 200
    assert world.settings("other")["severity"] == "high"
    # as Harbor: updating a key that is not set leaves it unset
    assert world.call("PUT", path + "prevent_vul", json={"prevent_vul": "true"}).status_code == 200
    assert "prevent_vul" not in world.settings("other")
    assert world.call("DELETE", path + "auto_scan").status_code == 200
    assert "auto_scan" not in world.call("GET", path).json()
    # GET /projects/{p} by id and PUT /projects/{p} see the same settings
    project_id = world.project("other")["project_id"]
    r = world.call("PUT", "/projects/other", json={"metadata": {"auto_scan": "true"}})
    assert r.status_code == 200
    by_id = world.call("GET", f"/projects/{project_id}/metadatas/auto_scan").json()
    assert by_id == {"auto_scan": "true"}


def test_public_is_the_projects_visibility(world: World) -> None:
    path = "/projects/other/metadatas/public"
    assert world.call("GET", "/projects/other", None).status_code == 401
    assert world.call("PUT", path, json={"public": "1"}).status_code == 200
    assert world.call("GET", path).json() == {"public": "true"}
    anonymous = world.call("GET", "/projects/other", None)
    assert anonymous.status_code == 200 and anonymous.json()["metadata"]["public"] == "true"
    assert "other" in {p["name"] for p in world.call("GET", "/projects?public=true").json()}
    # Harbor's public policies grant no metadata access
    assert world.call("GET", path, None).status_code == 401
    assert world.call("GET", path, "outsider").status_code == 403
    # a project without the key is private
    assert world.call("DELETE", path).status_code == 200
    assert world.call("GET", "/projects/other", None).status_code == 401
    assert world.settings("other")["public"] == "false"


def test_writes_are_audited_as_project_updates(world: World) -> None:
    before = world.call("GET", "/audit-logs?q=resource=other&page_size=100").json()
    assert world.call("POST", "/projects/other/metadatas/", json={"prevent_vul": "true"}).ok
    after = world.call("GET", "/audit-logs?q=resource=other&page_size=100").json()
    new = [e for e in after if e["id"] not in {b["id"] for b in before}]
    assert [(e["operation"], e["resource_type"]) for e in new] == [("update", "project")]
    assert new[0]["username"] == "admin"


def test_permissions(world: World) -> None:
    assert world.call("GET", "/permissions", None).status_code == 401
    for who in ("maintainer", "developer", "guest", "limited", "outsider"):
        r = world.call("GET", "/permissions", who)
        assert r.status_code == 403, who
    admin = world.call("GET", "/permissions").json()
    assert {"resource": "system-volumes", "action": "read"} in admin["system"]
    assert {"resource": "metadata", "action": "list"} in admin["project"]
    assert {"resource": "repository", "action": "push"} in admin["project"]
    # project admins see the project level only
    padmin = world.call("GET", "/permissions", "padmin").json()
    assert "system" not in padmin and padmin["project"] == admin["project"]


def test_volumes(world: World, tmp_path: Path) -> None:
    assert world.call("GET", "/systeminfo/volumes", None).status_code == 401
    assert world.call("GET", "/systeminfo/volumes", "padmin").status_code == 403
    r = world.call("GET", "/systeminfo/volumes")
    assert r.status_code == 200, r.text
    (disk,) = r.json()["storage"]
    assert disk["total"] >= disk["free"] > 0
    # a system robot given system-volumes:read may read it, as in Harbor
    robot = {
        "name": "volumes",
        "level": "system",
        "duration": -1,
        "permissions": [
            {
                "kind": "system",
                "namespace": "/",
                "access": [{"resource": "system-volumes", "action": "read"}],
            }
        ],
    }
    made = world.call("POST", "/robots", json=robot)
    assert made.status_code == 201, made.text
    auth = (made.json()["name"], made.json()["secret"])
    by_robot = requests.get(f"{world.url}/systeminfo/volumes", auth=auth, timeout=10)
    assert by_robot.status_code == 200 and by_robot.json()["storage"][0]["total"] > 0
    # a store path that does not exist (yet) reads as zero, as Harbor answers
    assert capacity(str(tmp_path / "absent")) == Storage(total=0, free=0)
