"""The role-by-action matrix through a real socket, against the application in this process
(tests/inproc.py) with access control on."""

from __future__ import annotations

import json
import os
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization

from .helpers import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256
from .inproc import InProcessServer, serve_in_process

ADMIN_PASSWORD = "Admin-Pass-1"
PASSWORD = "Passw0rd-123"
Creds = tuple[str, str] | None


def parse_challenge(value: str) -> dict[str, str]:
    scheme, _, rest = value.partition(" ")
    params: dict[str, str] = {"scheme": scheme.lower()}
    for part in rest.split('",'):
        key, _, val = part.partition("=")
        params[key.strip()] = val.strip().strip('"')
    return params


class Caller:
    """Speaks the Docker token flow like a client: 401 challenge → token → retry."""

    def __init__(self, url: str, creds: Creds) -> None:
        self.url = url
        self.creds = creds
        self.http = requests.Session()
        self.token: str | None = None
        self.challenges: list[dict[str, str]] = []

    def get_token(self, scopes: list[str], service: str = "wharf") -> requests.Response:
        params = [("service", service)] + [("scope", s) for s in scopes]
        return requests.get(f"{self.url}/service/token", params=params, auth=self.creds, timeout=30)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        r = self.http.request(
            method, self.url + path, headers=headers, allow_redirects=False, **kwargs
        )
        if r.status_code != 401:
            return r
        challenge = parse_challenge(r.headers["WWW-Authenticate"])
        self.challenges.append(challenge)
        assert challenge["scheme"] == "bearer" and challenge["service"] == "wharf"
        assert challenge["realm"] == f"{self.url}/service/token"
        t = self.get_token(challenge.get("scope", "").split())
        if t.status_code != 200:
            return r
        self.token = t.json()["token"]
        headers["Authorization"] = f"Bearer {self.token}"
        return self.http.request(
            method, self.url + path, headers=headers, allow_redirects=False, **kwargs
        )

    def push_image(self, repo: str, tag: str) -> tuple[int, str]:
        """Push config + one layer + manifest; the status of the first refused step or 201."""
        blobs = [json.dumps({"os": "linux", "n": os.urandom(4).hex()}).encode(), os.urandom(512)]
        for blob in blobs:
            r = self.request(
                "POST", f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(blob)}, data=blob
            )
            if r.status_code != 201:
                return r.status_code, ""
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": OCI_CONFIG,
                    "digest": sha256(blobs[0]),
                    "size": len(blobs[0]),
                },
                "layers": [
                    {"mediaType": OCI_LAYER, "digest": sha256(blobs[1]), "size": len(blobs[1])}
                ],
            }
        ).encode()
        r = self.request(
            "PUT",
            f"/v2/{repo}/manifests/{tag}",
            data=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        return r.status_code, sha256(manifest)


@dataclass
class World:
    server: InProcessServer
    admin: Caller
    layer: str  # a blob in team/app
    users: dict[str, int]
    robots: dict[str, tuple[str, str, int]]

    def api(
        self, method: str, path: str, creds: Creds = ("admin", ADMIN_PASSWORD), **kw: Any
    ) -> requests.Response:
        return requests.request(
            method, f"{self.server.url}/api/v2.0{path}", auth=creds, timeout=30, **kw
        )


ROLES = {"padmin": 1, "maintainer": 4, "developer": 2, "guest": 3, "limited": 5}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data: Path = tmp_path_factory.mktemp("wharf-auth") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN_PASSWORD) as server:
        admin = Caller(server.url, ("admin", ADMIN_PASSWORD))

        def api(method: str, path: str, **kw: Any) -> requests.Response:
            return requests.request(
                method,
                f"{server.url}/api/v2.0{path}",
                auth=("admin", ADMIN_PASSWORD),
                timeout=30,
                **kw,
            )

        users: dict[str, int] = {}
        for name in [*ROLES, "outsider", "both", "victim"]:
            r = api(
                "POST",
                "/users",
                json={
                    "username": name,
                    "email": f"{name}@example.com",
                    "realname": name,
                    "password": PASSWORD,
                },
            )
            assert r.status_code == 201, r.text
            users[name] = int(r.headers["Location"].rsplit("/", 1)[1])
        for project, public in (("team", "false"), ("other", "false")):
            r = api(
                "POST", "/projects", json={"project_name": project, "metadata": {"public": public}}
            )
            assert r.status_code == 201, r.text
        for name, role in ROLES.items():
            r = api(
                "POST",
                "/projects/team/members",
                json={"role_id": role, "member_user": {"username": name}},
            )
            assert r.status_code == 201, r.text
        for name in ("developer", "outsider", "both", "victim"):
            api(
                "POST",
                "/projects/other/members",
                json={"role_id": 2, "member_user": {"username": name}},
            )
        api(
            "POST",
            "/projects/team/members",
            json={"role_id": 2, "member_user": {"username": "both"}},
        )
        api(
            "POST",
            "/projects/team/members",
            json={"role_id": 2, "member_user": {"username": "victim"}},
        )
        robots: dict[str, tuple[str, str, int]] = {}
        for label, acts in (
            ("puller", ["pull"]),
            ("pusher", ["pull", "push"]),
            ("gone", ["pull"]),
            ("old", ["pull"]),
        ):
            r = api(
                "POST",
                "/robots",
                json={
                    "name": label,
                    "duration": -1,
                    "level": "project",
                    "permissions": [
                        {
                            "kind": "project",
                            "namespace": "team",
                            "access": [{"resource": "repository", "action": a} for a in acts],
                        }
                    ],
                },
            )
            assert r.status_code == 201, r.text
            doc = r.json()
            assert doc["name"] == f"robot$team+{label}" and len(doc["secret"]) >= 32
            robots[label] = (doc["name"], doc["secret"], doc["id"])
        status, _ = admin.push_image("team/app", "v1")
        assert status == 201
        status, _ = admin.push_image("library/pub", "v1")
        assert status == 201
        manifest = admin.request(
            "GET", "/v2/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST}
        ).json()
        yield World(server, admin, manifest["layers"][0]["digest"], users, robots)
    # whatever the tests threw at it, the app never logged an error of its own
    assert not server.errors, server.error_log()


PRINCIPALS = ["sysadmin", *ROLES, "outsider", "anonymous", "robot-puller", "robot-pusher"]


def caller_for(world: World, who: str) -> Caller:
    if who == "sysadmin":
        return Caller(world.server.url, ("admin", ADMIN_PASSWORD))
    if who == "anonymous":
        return Caller(world.server.url, None)
    if who.startswith("robot-"):
        name, secret, _ = world.robots[who[6:]]
        return Caller(world.server.url, (name, secret))
    return Caller(world.server.url, (who, PASSWORD))


CAN_PULL = {"sysadmin", *ROLES, "robot-puller", "robot-pusher"}
CAN_PUSH = {"sysadmin", "padmin", "maintainer", "developer", "robot-pusher"}
CAN_DELETE = {"sysadmin", "padmin", "maintainer"}
# Harbor's limited guests may list a project's repositories and artifacts
# (src/common/rbac/project/rbac_role.go: repository list/read/pull, artifact read/list)
CAN_LIST = CAN_PULL


def _refused(who: str) -> int:
    return 401 if who == "anonymous" else 403


@pytest.mark.parametrize("who", PRINCIPALS)
def test_pull_and_tags_on_private_project(world: World, who: str) -> None:
    c = caller_for(world, who)
    r = c.request("GET", "/v2/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
    t = c.request("GET", "/v2/team/app/tags/list")
    b = c.request("HEAD", f"/v2/team/app/blobs/{world.layer}")
    if who in CAN_PULL:
        assert (r.status_code, t.status_code, b.status_code) == (200, 200, 200), r.text
        assert t.json()["tags"] == ["v1"]
    else:
        assert {r.status_code, t.status_code, b.status_code} == {_refused(who)}, r.text
        assert "v1" not in r.text


@pytest.mark.parametrize("who", PRINCIPALS)
def test_push(world: World, who: str) -> None:
    status, _ = caller_for(world, who).push_image(f"team/pushed-{who}", "t")
    assert status == (201 if who in CAN_PUSH else _refused(who))


@pytest.mark.parametrize("who", PRINCIPALS)
def test_delete(world: World, who: str) -> None:
    status, digest = world.admin.push_image(f"team/del-{who}", "t")
    assert status == 201
    r = caller_for(world, who).request("DELETE", f"/v2/team/del-{who}/manifests/{digest}")
    assert r.status_code == (202 if who in CAN_DELETE else _refused(who)), r.text


@pytest.mark.parametrize("who", PRINCIPALS)
def test_public_project(world: World, who: str) -> None:
    c = caller_for(world, who)
    r = c.request("GET", "/v2/library/pub/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200
    status, _ = c.push_image("library/pushed", "t")
    assert status == (201 if who == "sysadmin" else _refused(who))


@pytest.mark.parametrize("who", PRINCIPALS)
def test_catalog_shows_only_listable_repositories(world: World, who: str) -> None:
    r = caller_for(world, who).request("GET", "/v2/_catalog")
    if who == "anonymous":
        assert r.status_code == 401
        return
    assert r.status_code == 200, r.text
    repos = set(r.json()["repositories"])
    assert "library/pub" in repos
    assert ("team/app" in repos) == (who in CAN_LIST)


@pytest.mark.parametrize("who", ["sysadmin", "developer", "both", "outsider", "guest"])
def test_cross_repo_mount_needs_pull_on_source(world: World, who: str) -> None:
    c = caller_for(world, who)
    r = c.request(
        "POST",
        f"/v2/other/mnt-{who}/blobs/uploads/",
        params={"mount": world.layer, "from": "team/app"},
    )
    if who in ("sysadmin", "developer", "both"):
        assert r.status_code == 201, r.text
    elif who == "outsider":  # may push to `other` but not read `team`: a plain upload starts
        assert r.status_code == 202, r.text
        # and no automatic mount of a blob only `team` holds either
        secret = os.urandom(64)
        world.admin.request(
            "POST", "/v2/team/secret/blobs/uploads/", params={"digest": sha256(secret)}, data=secret
        )
        r2 = c.request(
            "POST", f"/v2/other/mnt2-{who}/blobs/uploads/", params={"mount": sha256(secret)}
        )
        assert r2.status_code == 202
    else:  # guest of team, not a member of `other`
        assert r.status_code == 403


@pytest.mark.parametrize("who", PRINCIPALS)
def test_management_calls(world: World, who: str) -> None:
    c = caller_for(world, who)
    # newest first (Harbor's order): ask for the one wanted
    repos = world.api(
        "GET", "/projects/team/repositories", creds=c.creds, params={"q": "name=team/app"}
    )
    if who in CAN_LIST:
        assert repos.status_code == 200, repos.text
        assert "team/app" in [r["name"] for r in repos.json()]
        assert int(repos.headers["X-Total-Count"]) >= 1
    else:  # as in Harbor: anonymous callers are told to sign in, others are refused
        assert repos.status_code == (401 if who == "anonymous" else 403), repos.text
    member = world.api(
        "POST",
        "/projects/team/members",
        creds=c.creds,
        json={"role_id": 3, "member_user": {"username": "outsider"}},
    )
    if who in ("sysadmin", "padmin"):
        assert member.status_code in (201, 409), member.text
        if member.status_code == 201:
            mid = member.headers["Location"].rsplit("/", 1)[1]
            assert (
                world.api("DELETE", f"/projects/team/members/{mid}", creds=c.creds).status_code
                == 200
            )
    else:
        assert member.status_code == (401 if who == "anonymous" else 403), member.text
    users = world.api("GET", "/users", creds=c.creds)
    assert users.status_code == (200 if who == "sysadmin" else 401 if who == "anonymous" else 403)


def test_unauthenticated_challenge_and_docker_login(world: World) -> None:
    url = world.server.url
    r = requests.get(f"{url}/v2/", timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == f'Bearer realm="{url}/service/token",service="wharf"'
    r = requests.get(f"{url}/v2/team/app/manifests/v1", timeout=10)
    assert 'scope="repository:team/app:pull"' in r.headers["WWW-Authenticate"]
    r = requests.post(
        f"{url}/v2/team/x/blobs/uploads/?mount=sha256:{'0' * 64}&from=team/app", timeout=10
    )
    assert (
        'scope="repository:team/x:pull,push repository:team/app:pull"'
        in r.headers["WWW-Authenticate"]
    )
    r = requests.get(f"{url}/v2/_catalog", timeout=10)
    assert 'scope="registry:catalog:*"' in r.headers["WWW-Authenticate"]
    t = requests.get(
        f"{url}/service/token", params={"service": "wharf"}, auth=("guest", PASSWORD), timeout=10
    )
    assert t.status_code == 200
    assert (
        requests.get(
            f"{url}/v2/", headers={"Authorization": f"Bearer {t.json()['token']}"}, timeout=10
        ).status_code
        == 200
    )
    assert requests.get(f"{url}/v2/", auth=("guest", PASSWORD), timeout=10).status_code == 200
    bad = requests.get(f"{url}/v2/", auth=("guest", "wrong"), timeout=10)
    assert bad.status_code == 401 and "wrong" not in bad.text


def test_token_endpoint_grants_the_intersection(world: World) -> None:
    c = caller_for(world, "guest")
    r = c.get_token(
        [
            "repository:team/app:pull,push,delete",
            "repository:other/x:pull",
            "registry:catalog:*",
            "bogus",
            "repository:UPPER/x:pull",
        ]
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (
        doc["expires_in"] == 300
        and doc["issued_at"].endswith("Z")
        and doc["token"] == doc["access_token"]
    )
    access = jwt.decode(doc["token"], options={"verify_signature": False})["access"]
    assert access == [
        {"type": "repository", "name": "team/app", "actions": ["pull"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]
    assert (
        Caller(world.server.url, ("guest", "nope"))
        .get_token(["repository:team/app:pull"])
        .status_code
        == 401
    )
    anon = Caller(world.server.url, None).get_token(
        ["repository:team/app:pull", "repository:library/pub:pull,push"]
    )
    assert jwt.decode(anon.json()["token"], options={"verify_signature": False})["access"] == [
        {"type": "repository", "name": "library/pub", "actions": ["pull"]}
    ]
    assert c.get_token(["repository:team/app:pull"], service="other").status_code == 400


def test_oauth2_post_and_refresh(world: World) -> None:
    url = f"{world.server.url}/service/token"
    form = {
        "grant_type": "password",
        "username": "developer",
        "password": PASSWORD,
        "service": "wharf",
        "client_id": "test",
        "access_type": "offline",
        "scope": "repository:team/app:pull,push",
    }
    r = requests.post(url, data=form, timeout=10)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["scope"] == "repository:team/app:pull,push" and doc["refresh_token"]
    again = requests.post(
        url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": doc["refresh_token"],
            "service": "wharf",
            "client_id": "test",
            "scope": "repository:team/app:pull",
        },
        timeout=10,
    )
    assert again.status_code == 200 and again.json()["access_token"]
    assert requests.post(url, data={**form, "password": "wrong"}, timeout=10).status_code == 401
    assert (
        requests.post(
            url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": doc["access_token"],
                "client_id": "t",
            },
            timeout=10,
        ).status_code
        == 401
    )
    offline = requests.get(
        url,
        params={"service": "wharf", "offline_token": "true"},
        auth=("developer", PASSWORD),
        timeout=10,
    )
    assert offline.json()["refresh_token"]


def test_robots_disabled_and_expired(world: World) -> None:
    name, secret, rid = world.robots["gone"]
    c = Caller(world.server.url, (name, secret))
    assert c.request("GET", "/v2/team/app/tags/list").status_code == 200
    r = world.api("PUT", f"/robots/{rid}", json={"disable": True})
    assert r.status_code == 200, r.text
    assert (
        c.request("GET", "/v2/team/app/tags/list").status_code == 401
    )  # old token: subject disabled
    assert c.get_token(["repository:team/app:pull"]).status_code == 401
    name, secret, rid = world.robots["old"]
    c = Caller(world.server.url, (name, secret))
    assert c.request("GET", "/v2/team/app/tags/list").status_code == 200
    db = sqlite3.connect(world.server.data_dir / "wharf.db")
    db.execute("UPDATE robots SET expires_at = ? WHERE id = ?", (time.time() - 1, rid))
    db.commit()
    db.close()
    assert c.request("GET", "/v2/team/app/tags/list").status_code == 401
    assert c.get_token(["repository:team/app:pull"]).status_code == 401
    assert Caller(world.server.url, (name, "wrong-secret")).get_token([]).status_code == 401


def test_replay_after_user_disabled_and_forged_tokens(world: World) -> None:
    url = world.server.url
    c = Caller(url, ("victim", PASSWORD))
    assert c.request("GET", "/v2/team/app/tags/list").status_code == 200
    token = c.token
    r = world.api("PUT", f"/users/{world.users['victim']}/enabled", json={"enabled": False})
    assert r.status_code == 200, r.text
    replay = requests.get(
        f"{url}/v2/team/app/tags/list", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert (
        replay.status_code == 401 and 'error="invalid_token"' in replay.headers["WWW-Authenticate"]
    )
    assert c.get_token(["repository:team/app:pull"]).status_code == 401
    assert requests.get(f"{url}/v2/", auth=("victim", PASSWORD), timeout=10).status_code == 401
    # forged with the registry's own key but for the wrong audience, expired, or as someone else
    db = sqlite3.connect(world.server.data_dir / "wharf.db")
    kid, pem = db.execute("SELECT kid, private_key FROM signing_keys").fetchone()
    db.close()
    key = serialization.load_pem_private_key(pem.encode(), None)
    now = int(time.time())
    base = {
        "iss": "wharf-token-service",
        "sub": "guest",
        "aud": "wharf",
        "exp": now + 60,
        "nbf": now,
        "iat": now,
        "jti": "j",
        "access": [
            {"type": "repository", "name": "team/app", "actions": ["pull", "push", "delete"]}
        ],
    }

    def call(claims: dict[str, Any], method: str = "GET") -> int:
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})  # type: ignore[arg-type]
        return requests.request(
            method,
            f"{url}/v2/team/app/tags/list",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).status_code

    assert call(base) == 200
    assert call({**base, "aud": "elsewhere"}) == 401
    assert call({**base, "exp": now - 120}) == 401
    assert call({**base, "iss": "someone"}) == 401
    # a token granting more than the subject holds is narrowed to the subject's rights
    delete = requests.delete(
        f"{url}/v2/team/app/manifests/sha256:{'0' * 64}",
        timeout=10,
        headers={
            "Authorization": "Bearer "
            + jwt.encode(base, key, algorithm="RS256", headers={"kid": kid})
        },
    )  # type: ignore[arg-type]
    assert delete.status_code == 403
    token = jwt.encode(base, key, algorithm="RS256", headers={"kid": kid})  # type: ignore[arg-type]
    head, payload, sig = token.split(".")
    assert (
        requests.get(
            f"{url}/v2/", headers={"Authorization": f"Bearer {head}.{payload}x.{sig}"}, timeout=10
        ).status_code
        == 401
    )


def test_push_into_missing_project_is_denied(world: World) -> None:
    status, _ = world.admin.push_image("nowhere/app", "t")
    assert status == 403
    status, _ = caller_for(world, "developer").push_image("nowhere/app", "t")
    assert status == 403


def test_audit_log(world: World) -> None:
    world.admin.request("GET", "/v2/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
    requests.get(f"{world.server.url}/service/token", auth=("developer", "bad"), timeout=10)
    # pulls are written in batches (at most AUDIT_FLUSH_SECONDS late)
    deadline = time.monotonic() + 5
    while True:
        logs = world.api("GET", "/projects/team/logs", params={"page_size": 100})
        assert logs.status_code == 200
        ops = {(e["operation"], e["result"]) for e in logs.json()}
        if ("pull", "success") in ops or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert {
        ("create", "success"),  # Harbor's word for a push
        ("pull", "success"),
        ("delete", "success"),
        ("create", "success"),
    } <= ops
    assert ("create", "denied") in ops
    every = world.api(
        "GET", "/audit-logs", params={"q": "operation=login", "page_size": 100}
    ).json()
    assert any(
        e["username"] == "developer" and e["result"] == "failure" and e["client_ip"] for e in every
    )
    assert world.api("GET", "/projects/team/logs", creds=("developer", PASSWORD)).status_code == 403
    # Harbor: only project admins read a project's log (maintainers too in older Wharf)
    assert (
        world.api("GET", "/projects/team/logs", creds=("maintainer", PASSWORD)).status_code == 403
    )
    assert world.api("GET", "/projects/team/logs", creds=("padmin", PASSWORD)).status_code == 200


def test_repositories_and_artifacts_api(world: World) -> None:
    status, digest = world.admin.push_image("team/nested/deep", "v2")
    assert status == 201
    encoded = urllib.parse.quote(urllib.parse.quote("nested/deep", safe=""), safe="")
    arts = world.api("GET", f"/projects/team/repositories/{encoded}/artifacts")
    assert arts.status_code == 200, arts.text
    assert arts.json()[0]["digest"] == digest and arts.json()[0]["tags"][0]["name"] == "v2"
    assert (
        world.api("DELETE", f"/projects/team/repositories/{encoded}/artifacts/v2").status_code
        == 200
    )
    assert world.api("GET", f"/projects/team/repositories/{encoded}/artifacts").json() == []
    assert world.api("DELETE", f"/projects/team/repositories/{encoded}").status_code == 200
    assert world.api("DELETE", f"/projects/team/repositories/{encoded}").status_code == 404
    assert world.api("DELETE", "/projects/team").status_code == 412  # still holds repositories
    assert world.api("HEAD", "/projects", params={"project_name": "team"}).status_code == 200
    assert world.api("HEAD", "/projects", params={"project_name": "nope"}).status_code == 404
    projects = world.api("GET", "/projects", params={"page": 1, "page_size": 1})
    assert projects.status_code == 200 and len(projects.json()) == 1
    assert 'rel="next"' in projects.headers["Link"] and int(projects.headers["X-Total-Count"]) >= 3
    mine = world.api("GET", "/projects", creds=("outsider", PASSWORD)).json()
    assert {p["name"] for p in mine} == {"library", "other"}
