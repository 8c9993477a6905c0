"""What the administration pages of the web UI ask of /api/v2.0, in process and in the
order the pages ask it: the user lifecycle (create, find, reset a password, make and
revoke admin, disable, delete), the audit log filtered as the page filters it
(operation, resource type, user, a time range), and the system page's figures
(systeminfo, volumes, statistics, storage per project)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from .inproc import ADMIN, InProcessServer, serve_in_process

PASSWORD = "Admin-Page-1"


class Api:
    def __init__(self, server: InProcessServer) -> None:
        self.url = f"{server.url}/api/v2.0"

    def __call__(
        self, method: str, path: str, auth: tuple[str, str] | None = ADMIN, **kw: Any
    ) -> requests.Response:
        return requests.request(method, self.url + path, auth=auth, timeout=10, **kw)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data = tmp_path_factory.mktemp("harbor-admin") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as server:
        yield Api(server)
        assert not server.errors, server.error_log()


def create_user(api: Api, name: str) -> int:
    body = {
        "username": name,
        "password": PASSWORD,
        "email": f"{name}@example.com",
        "realname": name.title(),
        "comment": "made by the admin page",
    }
    r = api("POST", "/users", json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def signs_in(api: Api, name: str, password: str) -> bool:
    return api("GET", "/users/current", auth=(name, password)).status_code == 200


def test_user_lifecycle_as_the_users_page_drives_it(api: Api) -> None:
    carol = create_user(api, "carol")
    create_user(api, "caroline")
    create_user(api, "dave")
    # the search box: a fuzzy username, sorted as the table's column header asks
    r = api("GET", "/users", params={"q": "username=~carol", "sort": "-username"})
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "2"
    assert [u["username"] for u in r.json()] == ["caroline", "carol"]
    page = api("GET", "/users", params={"page": 2, "page_size": 2, "sort": "username"})
    assert int(page.headers["X-Total-Count"]) == 4  # admin too
    assert [u["username"] for u in page.json()] == ["caroline", "dave"]  # admin, carol first
    assert 'rel="prev"' in page.headers["Link"]
    (doc,) = [u for u in r.json() if u["user_id"] == carol]
    assert (doc["sysadmin_flag"], doc["enabled"], doc["comment"]) == (
        False,
        True,
        "made by the admin page",
    )
    # a second user with the same name: 409, as the form shows it
    again = api("POST", "/users", json={"username": "carol", "password": PASSWORD,
                                         "email": "c2@example.com", "realname": "C"})  # fmt: skip
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "CONFLICT"

    # an admin resets the password without knowing the old one
    reset = api("PUT", f"/users/{carol}/password", json={"new_password": "Reset-Pass-2"})
    assert reset.status_code == 200, reset.text
    assert signs_in(api, "carol", "Reset-Pass-2") and not signs_in(api, "carol", PASSWORD)
    carol_auth = ("carol", "Reset-Pass-2")
    weak = api("PUT", f"/users/{carol}/password", json={"new_password": "short"})
    assert weak.status_code == 400 and weak.json()["errors"][0]["message"]

    # make admin: the users page and GC become hers; revoke: refused again
    assert api("GET", "/users", auth=carol_auth).status_code == 403
    assert api("PUT", f"/users/{carol}/sysadmin", json={"sysadmin_flag": True}).status_code == 200
    assert api("GET", f"/users/{carol}").json()["sysadmin_flag"] is True
    assert api("GET", "/users", auth=carol_auth).status_code == 200
    assert api("GET", "/system/gc/schedule", auth=carol_auth).status_code == 200
    assert api("PUT", f"/users/{carol}/sysadmin", json={"sysadmin_flag": False}).status_code == 200
    assert api("GET", "/users", auth=carol_auth).status_code == 403

    # disable (Wharf's extension; Harbor itself only deletes): she can no longer sign in
    assert api("PUT", f"/users/{carol}/enabled", json={"enabled": False}).status_code == 200
    assert api("GET", f"/users/{carol}").json()["enabled"] is False
    assert not signs_in(api, "carol", "Reset-Pass-2")
    assert api("PUT", f"/users/{carol}/enabled", json={"enabled": True}).status_code == 200
    assert signs_in(api, "carol", "Reset-Pass-2")
    assert api("PUT", f"/users/{carol}/enabled", json={}).status_code == 400

    # delete
    assert api("DELETE", f"/users/{carol}").status_code == 200
    assert api("GET", f"/users/{carol}").status_code == 404
    assert not signs_in(api, "carol", "Reset-Pass-2")
    names = {u["username"] for u in api("GET", "/users", params={"page_size": 100}).json()}
    assert "carol" not in names and "caroline" in names


def test_admin_pages_are_refused_to_others(api: Api) -> None:
    create_user(api, "erin")
    erin = ("erin", PASSWORD)
    for path in [
        "/users",
        "/system/gc",
        "/system/gc/schedule",
        "/systeminfo/volumes",
        "/auditlog-exts/events",
    ]:
        assert api("GET", path, auth=erin).status_code == 403, path
        assert api("GET", path, auth=None).status_code == 401, path
    assert api("POST", "/users", auth=erin, json={"username": "x"}).status_code == 403
    # what the layout reads to decide whether to show the Administration menu
    assert api("GET", "/users/current", auth=erin).json()["sysadmin_flag"] is False
    assert api("GET", "/users/current").json()["sysadmin_flag"] is True
    assert (
        api("GET", "/users/current/permissions", auth=erin, params={"scope": "/system"}).json()
        == []
    )


def test_audit_log_filters_of_the_audit_page(api: Api) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=1)
    frank = create_user(api, "frank")
    assert api("POST", "/projects", json={"project_name": "frankly"}).status_code == 201
    assert api("DELETE", f"/users/{frank}").status_code == 200
    after = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
    span = f"[{before:%Y-%m-%dT%H:%M:%S}~{after:%Y-%m-%dT%H:%M:%S}]"

    def found(path: str, q: str) -> list[dict[str, Any]]:
        r = api("GET", path, params={"q": q, "page_size": 100})
        assert r.status_code == 200, (q, r.text)
        assert int(r.headers["X-Total-Count"]) == len(r.json())
        return r.json()  # type: ignore[no-any-return]

    for path in ("/audit-logs", "/auditlog-exts"):
        users = found(path, f"resource_type=user,op_time={span}")
        assert {(e["operation"], e["resource"]) for e in users} >= {
            ("create", "frank"),
            ("delete", "frank"),
        }
        created = found(path, f"operation=create,resource_type=user,resource=frank,op_time={span}")
        assert [e["operation"] for e in created] == ["create"]
        assert {e["username"] for e in found(path, "username=admin,resource=frankly")} == {"admin"}
        assert found(path, "username=nobody-at-all") == []
        # the time range alone, and one outside every event
        assert len(found(path, f"op_time={span}")) >= 3
        assert found(path, "op_time=[2000-01-01T00:00:00~2000-01-02T00:00:00]") == []
        # an operation and a type chosen from the event-type list
        either = found(path, f"operation={{create delete}},resource_type=user,op_time={span}")
        assert {e["operation"] for e in either} == {"create", "delete"}
    exts = found("/auditlog-exts", f"resource=frank,op_time={span}")
    assert all(e["operation_result"] is True and e["operation_description"] for e in exts)
    # the newest first, paged
    page = api("GET", "/auditlog-exts", params={"page": 1, "page_size": 2})
    times = [e["op_time"] for e in page.json()]
    assert len(times) == 2 and times == sorted(times, reverse=True)
    assert 'rel="next"' in page.headers["Link"]
    bad = api("GET", "/auditlog-exts", params={"q": "op_time=yesterday"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "BAD_REQUEST"
    types = {t["event_type"] for t in api("GET", "/auditlog-exts/events").json()}
    assert {"create_user", "delete_user", "create_project"} <= types


def test_system_page_figures(api: Api) -> None:
    info = api("GET", "/systeminfo").json()
    assert info["auth_mode"] == "db_auth" and info["harbor_version"].startswith("v2.15")
    assert info["registry_storage_provider_name"] == "filesystem"
    (volume,) = api("GET", "/systeminfo/volumes").json()["storage"]
    assert volume["total"] >= volume["free"] > 0
    assert api("POST", "/projects", json={"project_name": "stored"}).status_code == 201
    stats = api("GET", "/statistics").json()
    assert stats["total_project_count"] >= 2 and stats["total_storage_consumption"] >= 0
    summary = api("GET", "/projects/stored/summary").json()
    assert summary["repo_count"] == 0 and summary["quota"]["used"]["storage"] == 0
