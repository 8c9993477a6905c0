"""Immutable tag rules over the real API: Harbor's /projects/{p}/immutabletagrules (list,
create, update, disable, delete, its errors), the gate refusing to move or delete a held
tag through /v2 (OCI DENIED) and the Harbor API (403, Harbor's body) with the rule named,
``immutable`` on tags, and a rule change seen at once by a second server process on the
same data (the per-project cache invalidated through the shared generations)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import Client
from tests.inproc import ADMIN, InProcessServer, serve_in_process


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("immutable") / "data"


@pytest.fixture(scope="module")
def app(data: Path) -> Iterator[InProcessServer]:
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as server:
        r = requests.post(
            f"{server.url}/api/v2.0/projects", json={"project_name": "imm"}, auth=ADMIN, timeout=30
        )
        assert r.status_code == 201, r.text
        yield server
        assert not server.errors, server.error_log()


def api(app: InProcessServer, method: str, path: str, **kw: Any) -> requests.Response:
    kw.setdefault("auth", ADMIN)
    return requests.request(method, f"{app.url}/api/v2.0{path}", timeout=30, **kw)


def client(app: InProcessServer) -> Client:
    c = Client(app.url)
    c.http.auth = ADMIN
    return c


def rule(
    repo: str, tag: str, *, repo_deco: str = "repoMatches", tag_deco: str = "matches", **extra: Any
) -> dict[str, Any]:
    return {
        "disabled": False,
        "action": "immutable",
        "template": "immutable_template",
        "tag_selectors": [{"kind": "doublestar", "decoration": tag_deco, "pattern": tag}],
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": repo_deco, "pattern": repo}]
        },
        **extra,
    }


RULES = "/projects/imm/immutabletagrules"


def create_rule(app: InProcessServer, body: dict[str, Any]) -> int:
    r = api(app, "POST", RULES, json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def overwrite(c: Client, repo: str, tag: str) -> requests.Response:
    """Push a different image under ``tag``: the answer of its manifest PUT."""
    _, manifest = c.push_image(repo, None)
    manifest["annotations"] = {"n": json.dumps(tag)}
    _, r = c.push_manifest(repo, tag, manifest)
    return r


def test_rules_crud_and_shape(app: InProcessServer) -> None:
    first = create_rule(app, rule("crud/**", "v{1,2}.*"))
    second = create_rule(app, rule("**", "rc-*", tag_deco="excludes"))
    r = api(app, "GET", RULES)
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "2"
    docs = {d["id"]: d for d in r.json()}
    assert set(docs) == {first, second}
    doc = docs[first]
    assert set(doc) == {
        "id",
        "priority",
        "disabled",
        "action",
        "template",
        "params",
        "tag_selectors",
        "scope_selectors",
    }
    assert doc["tag_selectors"] == [
        {"kind": "doublestar", "decoration": "matches", "pattern": "v{1,2}.*", "extras": ""}
    ]
    assert doc["scope_selectors"]["repository"][0]["pattern"] == "crud/**"
    assert doc["disabled"] is False and doc["action"] == "immutable"
    # the same rule twice: 409; a bad pattern or decoration: 400
    assert api(app, "POST", RULES, json=rule("crud/**", "v{1,2}.*")).status_code == 409
    bad = api(app, "POST", RULES, json=rule("**", "v[1"))
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "BAD_REQUEST"
    assert api(app, "POST", RULES, json=rule("**", "x", tag_deco="nsMatches")).status_code == 400
    # paging
    page = api(app, "GET", RULES, params={"page": 2, "page_size": 1})
    assert [d["id"] for d in page.json()] == [second]
    # update: id must match the path; the portal's toggle keeps the selectors
    assert api(app, "PUT", f"{RULES}/{first}", json={"id": second}).status_code == 400
    r = api(app, "PUT", f"{RULES}/{first}", json={"id": first, "disabled": True})
    assert r.status_code == 200, r.text
    doc = next(d for d in api(app, "GET", RULES).json() if d["id"] == first)
    assert doc["disabled"] is True and doc["tag_selectors"][0]["pattern"] == "v{1,2}.*"
    r = api(app, "PUT", f"{RULES}/{first}", json={"id": first, **rule("crud/*", "v9")})
    assert r.status_code == 200
    doc = next(d for d in api(app, "GET", RULES).json() if d["id"] == first)
    assert doc["tag_selectors"][0]["pattern"] == "v9" and doc["disabled"] is False
    # delete: 200, then 404; another project's path does not reach the rule
    assert api(app, "POST", "/projects", json={"project_name": "other"}).status_code == 201
    assert api(app, "DELETE", f"/projects/other/immutabletagrules/{first}").status_code == 404
    for rule_id in (first, second):
        assert api(app, "DELETE", f"{RULES}/{rule_id}").status_code == 200
        assert api(app, "DELETE", f"{RULES}/{rule_id}").status_code == 404
    assert api(app, "GET", RULES).json() == []
    # anonymous callers and unknown projects
    assert api(app, "GET", RULES, auth=None).status_code == 401
    assert api(app, "GET", "/projects/nope/immutabletagrules").status_code == 404


def test_immutable_tag_refuses_overwrite_and_deletes(app: InProcessServer) -> None:
    c = client(app)
    held, _ = c.push_image("imm/app/web", "v1.0")
    c.push_image("imm/app/web", "latest")
    rule_id = create_rule(app, rule("app/**", "v{1,2}.*"))
    try:
        # moving a held tag: 403 DENIED naming the rule and its patterns
        r = overwrite(c, "imm/app/web", "v1.0")
        assert r.status_code == 403, r.text
        error = r.json()["errors"][0]
        assert error["code"] == "DENIED"
        assert f"rule {rule_id}" in error["message"] and "v{1,2}.*" in error["message"]
        assert "app/**" in error["message"]
        # the same digest again, a new tag, and tags no rule holds are fine
        manifest = c.request(
            "GET",
            f"/v2/imm/app/web/manifests/{held}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        _, again = c.push_manifest("imm/app/web", "v1.0", json.loads(manifest.content))
        assert again.status_code == 201
        assert overwrite(c, "imm/app/web", "v2.0").status_code == 201  # new: allowed
        assert overwrite(c, "imm/app/web", "latest").status_code == 201
        # deletes through /v2: the tag, and the manifest carrying it
        assert c.request("DELETE", "/v2/imm/app/web/manifests/v1.0").status_code == 403
        r = c.request("DELETE", f"/v2/imm/app/web/manifests/{held}")
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
        # and through the Harbor API
        base = "/projects/imm/repositories/app%252Fweb/artifacts"
        r = api(app, "DELETE", f"{base}/{held}")
        assert r.status_code == 403, r.text
        assert r.json()["errors"][0]["code"] == "DENIED"  # Harbor's code for a policy refusal
        assert f"rule {rule_id}" in r.json()["errors"][0]["message"]
        assert api(app, "DELETE", f"{base}/{held}/tags/v1.0").status_code == 403
        assert api(app, "DELETE", "/projects/imm/repositories/app%252Fweb").status_code == 403
        # tags show it when asked (as Harbor: with_immutable_status)
        tags = api(app, "GET", f"{base}/{held}/tags", params={"with_immutable_status": "true"})
        assert {t["name"]: t["immutable"] for t in tags.json()} == {"v1.0": True}
        listed = api(app, "GET", base, params={"with_tag": "true", "with_immutable_status": "true"})
        flags = {t["name"]: t["immutable"] for a in listed.json() for t in a["tags"] or []}
        assert flags == {"v1.0": True, "v2.0": True, "latest": False}
        plain = api(app, "GET", f"{base}/{held}/tags")
        assert [t["immutable"] for t in plain.json()] == [False]
        # a repository outside the rule's scope is not held
        c.push_image("imm/other", "v1.0")
        assert overwrite(c, "imm/other", "v1.0").status_code == 201
        # disabled: the tag moves again
        r = api(app, "PUT", f"{RULES}/{rule_id}", json={"id": rule_id, "disabled": True})
        assert r.status_code == 200
        assert overwrite(c, "imm/app/web", "v1.0").status_code == 201
    finally:
        api(app, "DELETE", f"{RULES}/{rule_id}")
    assert c.request("DELETE", "/v2/imm/app/web/manifests/v2.0").status_code == 202


def test_excludes_decorations(app: InProcessServer) -> None:
    c = client(app)
    c.push_image("imm/svc", "stable")
    c.push_image("imm/svc", "dev-1")
    c.push_image("imm/scratch", "stable")
    rule_id = create_rule(
        app, rule("scratch", "dev-*", repo_deco="repoExcludes", tag_deco="excludes")
    )
    try:
        assert overwrite(c, "imm/svc", "stable").status_code == 403
        assert overwrite(c, "imm/svc", "dev-1").status_code == 201
        assert overwrite(c, "imm/scratch", "stable").status_code == 201
    finally:
        api(app, "DELETE", f"{RULES}/{rule_id}")


def test_a_rule_change_reaches_another_process_at_once(app: InProcessServer, data: Path) -> None:
    c = client(app)
    c.push_image("imm/shared", "v1")
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as second:
        other = client(second)
        assert overwrite(other, "imm/shared", "v1").status_code == 201  # caches "no rules"
        rule_id = create_rule(app, rule("shared", "v*"))
        assert overwrite(other, "imm/shared", "v1").status_code == 403
        api(app, "DELETE", f"{RULES}/{rule_id}")
        assert overwrite(other, "imm/shared", "v1").status_code == 201
        assert not second.errors, second.error_log()


def test_a_deleted_projects_rules_go_with_it(app: InProcessServer) -> None:
    assert api(app, "POST", "/projects", json={"project_name": "gone"}).status_code == 201
    project_id = api(app, "GET", "/projects/gone").json()["project_id"]
    r = api(app, "POST", "/projects/gone/immutabletagrules", json=rule("**", "**"))
    assert r.status_code == 201
    retention = api(
        app,
        "POST",
        "/retentions",
        json={
            "algorithm": "or",
            "rules": [
                {
                    "template": "always",
                    "action": "retain",
                    "params": {},
                    "tag_selectors": [
                        {"kind": "doublestar", "decoration": "matches", "pattern": "**"}
                    ],
                    "scope_selectors": {
                        "repository": [
                            {"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}
                        ]
                    },
                }
            ],
            "trigger": {"kind": "Schedule", "settings": {"cron": ""}},
            "scope": {"level": "project", "ref": project_id},
        },
    )
    assert retention.status_code == 201, retention.text
    assert api(app, "DELETE", "/projects/gone").status_code == 200
    assert (
        api(app, "GET", retention.headers["Location"].removeprefix("/api/v2.0")).status_code == 404
    )
    assert api(app, "POST", "/projects", json={"project_name": "gone"}).status_code == 201
    assert api(app, "GET", "/projects/gone/immutabletagrules").json() == []
    c = client(app)
    c.push_image("gone/app", "v1")
    assert overwrite(c, "gone/app", "v1").status_code == 201
