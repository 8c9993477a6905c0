"""LDAP sign-in against a real OpenLDAP (tests/ldap_server.py): the token endpoint and
Basic on /v2 and the Harbor API, onboarding, wrong passwords, locked and filtered-out
entries, a user renamed in the directory, nested groups granting pull and push through
the token flow, the admin group, /usergroups, /ldap/*, ldaps and StartTLS with a CA, the
directory stopped mid-test, and /configurations."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest
import requests

from tests.helpers import Client
from tests.inproc import ADMIN, InProcessServer, serve_in_process
from tests.ldap_server import GROUPS, PEOPLE, Slapd, run_slapd

pytestmark = pytest.mark.services

PASSWORDS = {
    "alice": "Alice-Pass-1",
    "bob": "Bob-Pass-1",
    "carol": "Carol-Pass-1",
    "dave": "Dave-Pass-1",
    "frank": "Frank-Pass-1",
    "gina": "Gina-Pass-1",
}


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with run_slapd(tmp_path_factory.mktemp("slapd") / "ldap") as server:
        dns = {u: server.add_user(u, p) for u, p in PASSWORDS.items()}
        devs = server.add_group("devs", (dns["alice"], server.search_dn))
        server.add_group("eng", (devs,))  # nested: alice is in eng through devs
        server.add_group("admins", (dns["carol"],))
        server.add_group("ops", (dns["gina"],))
        server.lock(dns["bob"])
        server.modify(dns["dave"], {"employeeType": [(ldap3.MODIFY_ADD, ["disabled"])]})
        yield server


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def ldap_settings(slapd: Slapd, **extra: Any) -> dict[str, Any]:
    settings = slapd.settings(
        ldap_filter="(&(objectClass=inetOrgPerson)(!(employeeType=disabled)))",
        ldap_group_admin_dn=f"cn=admins,{GROUPS}",
        ldap_group_refresh=0,
        **extra,
    )
    return {"auth_mode" if k == "mode" else k: v for k, v in settings.items()}


@pytest.fixture(scope="module")
def wharf(tmp_path_factory: pytest.TempPathFactory, slapd: Slapd) -> Iterator[InProcessServer]:
    """Wharf with LDAP configured through PUT /api/v2.0/configurations."""
    data = tmp_path_factory.mktemp("wharf-ldap") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as server:
        r = requests.put(
            f"{server.url}/api/v2.0/configurations", json=ldap_settings(slapd), auth=ADMIN
        )
        assert r.status_code == 200, r.text
        yield server
    assert not server.errors, server.error_log()


def token(wharf: InProcessServer, user: str, password: str, scope: str = "") -> requests.Response:
    params = {"service": "wharf", **({"scope": scope} if scope else {})}
    return requests.get(
        f"{wharf.url}/service/token", params=params, headers=basic(user, password), timeout=10
    )


def admin_get(wharf: InProcessServer, path: str, **kw: Any) -> requests.Response:
    return requests.get(f"{wharf.url}/api/v2.0{path}", auth=ADMIN, timeout=10, **kw)


def user_named(wharf: InProcessServer, name: str) -> dict[str, Any] | None:
    users = admin_get(wharf, "/users", params={"page_size": 100}).json()
    return next((u for u in users if u["username"] == name), None)


def test_login_onboards_the_user(wharf: InProcessServer) -> None:
    assert user_named(wharf, "alice") is None
    r = token(wharf, "alice", PASSWORDS["alice"])
    assert r.status_code == 200, r.text
    assert r.json()["token"]
    alice = user_named(wharf, "alice")
    assert alice is not None and alice["email"] == "alice@example.org"
    # Basic straight on /v2 and on the Harbor API
    assert requests.get(f"{wharf.url}/v2/", headers=basic("alice", PASSWORDS["alice"])).ok
    me = requests.get(
        f"{wharf.url}/api/v2.0/users/current", headers=basic("alice", PASSWORDS["alice"])
    )
    assert me.status_code == 200 and me.json()["username"] == "alice"
    assert me.json()["sysadmin_flag"] is False and me.json()["admin_role_in_auth"] is False
    events = admin_get(wharf, "/audit-logs", params={"q": "operation=login"}).json()
    assert any(e["username"] == "alice" and "ldap" in str(e) for e in events), (
        events
    )  # audited with the mode


@pytest.mark.parametrize(
    ("user", "password"),
    [
        ("alice", "wrong-Pass-1"),
        ("alice", ""),  # an empty password must never become an anonymous bind
        ("nobody", "Whatever-1"),
        ("bob", PASSWORDS["bob"]),  # locked (ppolicy)
        ("dave", PASSWORDS["dave"]),  # filtered out by ldap_filter
        ("alice)(uid=*", "x"),  # filter injection
    ],
)
def test_refused_logins(wharf: InProcessServer, user: str, password: str) -> None:
    r = token(wharf, user, password)
    assert r.status_code == 401, r.text
    assert requests.get(f"{wharf.url}/v2/", headers=basic(user, password)).status_code == 401


def test_local_admin_signs_in_in_ldap_mode(wharf: InProcessServer) -> None:
    assert token(wharf, *ADMIN).status_code == 200


def test_systeminfo_tells_clients_the_mode(wharf: InProcessServer) -> None:
    r = requests.get(f"{wharf.url}/api/v2.0/systeminfo", timeout=10)
    assert r.status_code == 200 and r.json()["auth_mode"] == "ldap_auth"


def test_group_grants_pull_and_push_through_the_token_flow(
    wharf: InProcessServer, slapd: Slapd
) -> None:
    assert token(wharf, "alice", PASSWORDS["alice"]).ok  # onboarded
    r = requests.post(
        f"{wharf.url}/api/v2.0/projects", json={"project_name": "team", "public": False}, auth=ADMIN
    )
    assert r.status_code == 201, r.text
    # the nested parent group, by DN (onboarded from the directory on the way)
    r = requests.post(
        f"{wharf.url}/api/v2.0/projects/team/members",
        json={"role_id": 2, "member_group": {"ldap_group_dn": f"cn=eng,{GROUPS}"}},
        auth=ADMIN,
    )
    assert r.status_code == 201, r.text
    members = admin_get(wharf, "/projects/team/members").json()
    assert any(m["entity_type"] == "g" and m["entity_name"] == "eng" for m in members)

    scope = "repository:team/app:pull,push"
    granted = token(wharf, "alice", PASSWORDS["alice"], scope)
    assert granted.ok
    client = Client(wharf.url)
    client.http.headers["Authorization"] = f"Bearer {granted.json()['token']}"
    digest, _ = client.push_image("team/app", "v1")
    assert client.request("GET", f"/v2/team/app/manifests/{digest}").status_code == 200

    # out of the group in the directory: the next token grants nothing, and the token
    # already held stops working (re-read at once: ldap_group_refresh is 0 here)
    slapd.leave(f"cn=devs,{GROUPS}", f"uid=alice,{PEOPLE}")
    try:
        assert client.request("GET", f"/v2/team/app/manifests/{digest}").status_code == 403
        again = token(wharf, "alice", PASSWORDS["alice"], scope)
        assert again.ok
        assert (
            "team/app"
            not in base64.urlsafe_b64decode(again.json()["token"].split(".")[1] + "==").decode()
        )
    finally:
        slapd.join(f"cn=devs,{GROUPS}", f"uid=alice,{PEOPLE}")


def test_effective_role_is_the_highest(wharf: InProcessServer) -> None:
    assert token(wharf, "gina", PASSWORDS["gina"]).ok
    r = requests.post(f"{wharf.url}/api/v2.0/projects", json={"project_name": "mixed"}, auth=ADMIN)
    assert r.status_code == 201, r.text
    add = f"{wharf.url}/api/v2.0/projects/mixed/members"
    assert (
        requests.post(
            add, json={"role_id": 3, "member_user": {"username": "gina"}}, auth=ADMIN
        ).status_code
        == 201
    )  # guest on her own
    assert (
        requests.post(
            add,
            json={"role_id": 4, "member_group": {"ldap_group_dn": f"cn=ops,{GROUPS}"}},
            auth=ADMIN,
        ).status_code
        == 201
    )  # maintainer through ops
    scope = "repository:mixed/x:pull,push,delete"
    claims = token(wharf, "gina", PASSWORDS["gina"], scope).json()["token"].split(".")[1]
    access = base64.urlsafe_b64decode(claims + "==").decode()
    assert '"delete"' in access and '"push"' in access


def test_admin_group_members_are_system_admins(wharf: InProcessServer) -> None:
    carol = basic("carol", PASSWORDS["carol"])
    me = requests.get(f"{wharf.url}/api/v2.0/users/current", headers=carol)
    assert me.status_code == 200 and me.json()["admin_role_in_auth"] is True
    assert requests.get(f"{wharf.url}/api/v2.0/configurations", headers=carol).status_code == 200
    alice = basic("alice", PASSWORDS["alice"])
    assert requests.get(f"{wharf.url}/api/v2.0/configurations", headers=alice).status_code == 403


def test_user_renamed_in_the_directory(wharf: InProcessServer, slapd: Slapd) -> None:
    assert token(wharf, "frank", PASSWORDS["frank"]).ok
    before = user_named(wharf, "frank")
    assert before is not None
    held = token(wharf, "frank", PASSWORDS["frank"]).json()["token"]
    slapd.rename(f"uid=frank,{PEOPLE}", "franklin")
    assert token(wharf, "frank", PASSWORDS["frank"]).status_code == 401
    # the token of the old name no longer checks out (the directory lost that name)
    r = requests.get(f"{wharf.url}/v2/", headers={"Authorization": f"Bearer {held}"})
    assert r.status_code == 401
    assert token(wharf, "franklin", PASSWORDS["frank"]).ok
    after = user_named(wharf, "franklin")
    assert after is not None and after["user_id"] == before["user_id"]  # the same user
    assert user_named(wharf, "frank") is None


def test_usergroups_api(wharf: InProcessServer) -> None:
    url = f"{wharf.url}/api/v2.0/usergroups"
    r = requests.post(
        url, json={"group_type": 1, "ldap_group_dn": f"CN=Admins,{GROUPS}"}, auth=ADMIN
    )
    assert r.status_code in (201, 409), r.text  # a sign-in may have onboarded it already
    listed = requests.get(url, params={"ldap_group_dn": f"cn=admins,{GROUPS}"}, auth=ADMIN).json()
    assert len(listed) == 1 and listed[0]["group_name"] == "admins"
    assert listed[0]["group_type"] == 1 and listed[0]["ldap_group_dn"] == f"cn=admins,{GROUPS}"
    assert set(listed[0]) == {"id", "group_name", "group_type", "ldap_group_dn"}  # Harbor's
    gid = listed[0]["id"]
    dup = requests.post(
        url, json={"group_type": 1, "ldap_group_dn": f"cn=admins,{GROUPS}"}, auth=ADMIN
    )
    assert dup.status_code == 409
    missing = requests.post(
        url, json={"group_type": 1, "ldap_group_dn": f"cn=nope,{GROUPS}"}, auth=ADMIN
    )
    assert missing.status_code == 404
    assert (
        requests.post(
            url, json={"group_type": 1, "ldap_group_dn": "not a dn"}, auth=ADMIN
        ).status_code
        == 400
    )
    # the body as Harbor's UserGroup, its types strict as go-swagger's (422)
    wrong = requests.post(url, json={"group_type": "1", "ldap_group_dn": "x"}, auth=ADMIN)
    assert wrong.status_code == 422 and "group_type" in wrong.json()["errors"][0]["message"]
    assert requests.post(url, json={"group_name": "x"}, auth=ADMIN).status_code == 400
    assert requests.put(f"{url}/{gid}", json={"group_name": 7}, auth=ADMIN).status_code == 422
    assert requests.put(f"{url}/{gid}", json={"group_name": "Admins!"}, auth=ADMIN).ok
    assert requests.get(f"{url}/{gid}", auth=ADMIN).json()["group_name"] == "Admins!"
    found = requests.get(
        f"{url}/search", params={"groupname": "admins"}, headers=basic("alice", PASSWORDS["alice"])
    )
    assert found.status_code == 200 and found.json() == [
        {"id": gid, "group_name": "Admins!", "group_type": 1}  # Harbor's UserGroupSearchItem
    ]
    assert requests.get(url, headers=basic("alice", PASSWORDS["alice"])).status_code == 403
    assert requests.delete(f"{url}/{gid}", auth=ADMIN).ok
    assert requests.get(f"{url}/{gid}", auth=ADMIN).status_code == 404


def test_ldap_endpoints(wharf: InProcessServer, slapd: Slapd) -> None:
    api = f"{wharf.url}/api/v2.0/ldap"
    assert requests.post(f"{api}/ping", auth=ADMIN).json() == {
        "success": True,
        "message": "success",
    }
    bad = requests.post(f"{api}/ping", json={"ldap_search_password": "wrong"}, auth=ADMIN).json()
    assert bad["success"] is False and "refused" in bad["message"]
    users = requests.get(f"{api}/users/search", params={"username": "carol"}, auth=ADMIN).json()
    assert users == [{"username": "carol", "realname": "Carol", "email": "carol@example.org"}]
    groups = requests.get(f"{api}/groups/search", params={"groupname": "eng"}, auth=ADMIN).json()
    assert groups == [{"group_name": "eng", "ldap_group_dn": f"cn=eng,{GROUPS}", "group_type": 1}]
    by_dn = requests.get(
        f"{api}/groups/search", params={"groupdn": f"cn=devs,{GROUPS}"}, auth=ADMIN
    ).json()
    assert [g["group_name"] for g in by_dn] == ["devs"]
    slapd.add_user("ivan", "Ivan-Pass-1")
    r = requests.post(f"{api}/users/import", json={"ldap_uid_list": ["ivan", "ghost"]}, auth=ADMIN)
    assert r.status_code == 404 and [f["uid"] for f in r.json()] == ["ghost"]
    for bad, status in (({"ldap_uid_list": "ivan"}, 422), ({"ldap_uid_list": []}, 400)):
        assert requests.post(f"{api}/users/import", json=bad, auth=ADMIN).status_code == status
    assert requests.post(f"{api}/users/import", auth=ADMIN).status_code == 422  # no body
    assert user_named(wharf, "ivan") is not None
    assert (
        requests.post(f"{api}/ping", headers=basic("alice", PASSWORDS["alice"])).status_code == 403
    )


@pytest.mark.parametrize("kind", ["ldaps", "starttls"])
def test_tls_verifies_the_certificate(wharf: InProcessServer, slapd: Slapd, kind: str) -> None:
    api = f"{wharf.url}/api/v2.0/ldap/ping"
    url = slapd.ldaps_url if kind == "ldaps" else slapd.url
    tls = {"ldap_url": url, "ldap_starttls": kind == "starttls"}
    trusted = {**tls, "ldap_ca_file": str(slapd.ca_file)}
    assert requests.post(api, json=trusted, auth=ADMIN).json()["success"] is True
    untrusted = requests.post(api, json=tls, auth=ADMIN).json()  # the system CAs don't know it
    assert untrusted["success"] is False
    unverified = {**tls, "ldap_verify_cert": False}
    assert requests.post(api, json=unverified, auth=ADMIN).json()["success"] is True
    # and a whole sign-in over it
    put = requests.put(f"{wharf.url}/api/v2.0/configurations", json=trusted, auth=ADMIN)
    assert put.status_code == 200, put.text
    try:
        assert token(wharf, "carol", PASSWORDS["carol"]).ok
    finally:
        back = {"ldap_url": slapd.url, "ldap_starttls": False, "ldap_ca_file": ""}
        assert requests.put(f"{wharf.url}/api/v2.0/configurations", json=back, auth=ADMIN).ok


def test_directory_stopped_mid_test(
    wharf: InProcessServer, slapd: Slapd, caplog: pytest.LogCaptureFixture
) -> None:
    held = token(wharf, "alice", PASSWORDS["alice"]).json()["token"]
    slapd.stop()
    try:
        started = time.monotonic()
        r = token(wharf, "alice", PASSWORDS["alice"])
        assert time.monotonic() - started < 5
        assert r.status_code == 503, r.text
        assert r.headers.get("Retry-After") == "1"
        v2 = requests.get(f"{wharf.url}/v2/", headers=basic("alice", PASSWORDS["alice"]))
        assert v2.status_code == 503 and v2.json()["errors"][0]["code"] == "UNAVAILABLE"
        api = requests.get(
            f"{wharf.url}/api/v2.0/users/current", headers=basic("alice", PASSWORDS["alice"])
        )
        assert api.status_code == 503
        # the operator is never locked out
        assert token(wharf, *ADMIN).status_code == 200
        # a token already issued goes on working on what was last read (and says so)
        r = requests.get(f"{wharf.url}/v2/", headers={"Authorization": f"Bearer {held}"})
        assert r.status_code == 200
    finally:
        slapd.start()
    assert token(wharf, "alice", PASSWORDS["alice"]).status_code == 200


def test_configurations_api(wharf: InProcessServer, tmp_path: Path, slapd: Slapd) -> None:
    doc = admin_get(wharf, "/configurations").json()
    assert doc["auth_mode"] == {"value": "ldap_auth", "editable": True}
    assert doc["ldap_url"]["value"] == slapd.url
    # Harbor's IntegerConfigItem: a Go client can't read 3.0 into its int64
    assert doc["ldap_timeout"]["value"] == 3 and type(doc["ldap_timeout"]["value"]) is int
    assert "ldap_search_password" not in doc and "oidc_client_secret" not in doc
    assert requests.get(f"{wharf.url}/api/v2.0/configurations").status_code == 401
    # users signed in through LDAP: the mode can't change any more
    r = requests.put(
        f"{wharf.url}/api/v2.0/configurations", json={"auth_mode": "db_auth"}, auth=ADMIN
    )
    assert r.status_code == 403
    bad = requests.put(f"{wharf.url}/api/v2.0/configurations", json={"ldap_scope": 9}, auth=ADMIN)
    assert bad.status_code == 400 and "ldap_scope" in bad.text
    unknown = requests.put(f"{wharf.url}/api/v2.0/configurations", json={"nope": 1}, auth=ADMIN)
    assert unknown.status_code == 400

    # settings from the environment are fixed: shown not editable, refused through the API
    env = {"WHARF_AUTH__MODE": "ldap", "WHARF_AUTH__LDAP_URL": slapd.url}
    with serve_in_process(
        tmp_path / "fixed", auth=True, admin_password=ADMIN[1], environ=env
    ) as fixed:
        shown = requests.get(f"{fixed.url}/api/v2.0/configurations", auth=ADMIN).json()
        assert shown["ldap_url"] == {"value": slapd.url, "editable": False}
        assert shown["auth_mode"] == {"value": "ldap_auth", "editable": False}
        assert shown["ldap_base_dn"]["editable"] is True
        r = requests.put(
            f"{fixed.url}/api/v2.0/configurations",
            json={"ldap_url": "ldap://elsewhere"},
            auth=ADMIN,
        )
        assert r.status_code == 403
        r = requests.put(
            f"{fixed.url}/api/v2.0/configurations",
            json={
                "ldap_base_dn": PEOPLE,
                "ldap_search_dn": slapd.search_dn,
                "ldap_search_password": slapd.search_password,
            },
            auth=ADMIN,
        )
        assert r.status_code == 200
        assert requests.get(
            f"{fixed.url}/service/token", headers=basic("carol", PASSWORDS["carol"])
        ).ok


def test_no_password_reaches_a_log_line(
    wharf: InProcessServer, slapd: Slapd, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert token(wharf, "carol", PASSWORDS["carol"]).ok
    assert token(wharf, "carol", "Wrong-Pass-42").status_code == 401
    assert token(wharf, "bob", PASSWORDS["bob"]).status_code == 401  # locked: logged refusal
    ping = requests.post(
        f"{wharf.url}/api/v2.0/ldap/ping",
        json={"ldap_search_password": "Bad-Search-Pw-7"},
        auth=ADMIN,
    )
    assert ping.json()["success"] is False
    assert caplog.records
    text = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    for leaked in (
        PASSWORDS["carol"],
        "Wrong-Pass-42",
        PASSWORDS["bob"],
        "Bad-Search-Pw-7",
        slapd.search_password,
        ADMIN[1],
    ):
        assert leaked not in text
