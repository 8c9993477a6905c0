"""Tag retention over the real API (Harbor's /retentions): the rule templates, a policy's
create/get/update/delete and the project's ``retention_id``, each rule family's dry run
checked against the expected list of removals (push and pull times set in the database
for a deterministic clock), then a real run that leaves an immutable tag's artifact in
place, GC collecting what it removed, tasks and their logs, stop, and the cron schedule
firing on the leader."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.helpers import Client
from tests.inproc import ADMIN, InProcessServer, serve_in_process

DAY = 86400.0


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    data = tmp_path_factory.mktemp("retention") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as server:
        yield server
        assert not server.errors, server.error_log()


def api(app: InProcessServer, method: str, path: str, **kw: Any) -> requests.Response:
    kw.setdefault("auth", ADMIN)
    return requests.request(method, f"{app.url}/api/v2.0{path}", timeout=30, **kw)


def client(app: InProcessServer) -> Client:
    c = Client(app.url)
    c.http.auth = ADMIN
    return c


def new_project(app: InProcessServer, name: str) -> int:
    assert api(app, "POST", "/projects", json={"project_name": name}).status_code == 201
    return int(api(app, "GET", f"/projects/{name}").json()["project_id"])


def rule(
    template: str,
    n: int | None = None,
    *,
    tags: str = "**",
    tag_deco: str = "matches",
    untagged: bool | None = None,
    repos: str = "**",
    repo_deco: str = "repoMatches",
) -> dict[str, Any]:
    selector: dict[str, Any] = {"kind": "doublestar", "decoration": tag_deco, "pattern": tags}
    if untagged is not None:
        selector["extras"] = '{"untagged":%s}' % ("true" if untagged else "false")
    return {
        "disabled": False,
        "action": "retain",
        "template": template,
        "params": {} if n is None else {template: n},
        "tag_selectors": [selector],
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": repo_deco, "pattern": repos}]
        },
    }


def policy(project_id: int, *rules: dict[str, Any], cron: str = "") -> dict[str, Any]:
    return {
        "algorithm": "or",
        "rules": list(rules),
        "trigger": {"kind": "Schedule", "settings": {"cron": cron}, "references": {}},
        "scope": {"level": "project", "ref": project_id},
    }


def execute(app: InProcessServer, policy_id: int, *, dry_run: bool) -> dict[str, Any]:
    """Start an execution and wait for its end; the execution."""
    r = api(app, "POST", f"/retentions/{policy_id}/executions", json={"dry_run": dry_run})
    assert r.status_code == 201, r.text
    eid = int(r.headers["Location"].rsplit("/", 1)[1])
    return wait_for(app, policy_id, eid)


def wait_for(app: InProcessServer, policy_id: int, eid: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        docs = api(
            app, "GET", f"/retentions/{policy_id}/executions", params={"page_size": 100}
        ).json()
        found = next(d for d in docs if d["id"] == eid)
        if found["status"] in ("Succeed", "Error", "Stopped"):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


def marks(app: InProcessServer, policy_id: int, eid: int) -> dict[str, dict[str, str]]:
    """Each task's log table: repository → {digest: RETAIN | DEL | IMMUTABLE | ERR}."""
    tasks = api(app, "GET", f"/retentions/{policy_id}/executions/{eid}/tasks").json()
    out: dict[str, dict[str, str]] = {}
    for task in tasks:
        r = api(app, "GET", f"/retentions/{policy_id}/executions/{eid}/tasks/{task['id']}")
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
        rows = [line.split("|") for line in r.text.splitlines() if line.startswith("| sha256:")]
        out[task["repository"]] = {cells[1].strip(): cells[8].strip() for cells in rows}
    return out


class World:
    """Project ``ret``: ``ret/app`` holds a1..a4 (tags v1..v4), a5 (keep-1) and an
    untagged u1, pushed 10 days apart (a1 50 days ago ... u1 now); a2 was pulled a day
    ago, a3 20 days ago. ``ret/lib`` holds l1 (v1)."""

    def __init__(self, app: InProcessServer) -> None:
        self.app = app
        self.project_id = new_project(app, "ret")
        c = client(app)
        self.d: dict[str, str] = {}
        self.layers: dict[str, str] = {}
        for name, tag in (
            ("a1", "v1"),
            ("a2", "v2"),
            ("a3", "v3"),
            ("a4", "v4"),
            ("a5", "keep-1"),
            ("u1", None),
        ):
            digest, manifest = c.push_image("ret/app", tag)
            self.d[name] = digest
            self.layers[name] = manifest["layers"][0]["digest"]  # type: ignore[index]
        self.d["l1"], _ = c.push_image("ret/lib", "v1")
        now = time.time()
        # a deterministic clock: pushed 10 days apart, oldest first; a2 pulled yesterday,
        # a3 pulled 20 days ago, the others never
        db = sqlite3.connect(app.data_dir / "wharf.db", timeout=30)
        with db:
            for age, name in enumerate(("u1", "a5", "a4", "a3", "a2", "a1")):
                db.execute(
                    "UPDATE manifests SET created = ? WHERE digest = ?",
                    (now - age * 10 * DAY - 60, self.d[name]),
                )
            db.execute(
                "UPDATE artifacts SET pull_time = ? WHERE digest = ?", (now - DAY, self.d["a2"])
            )
            db.execute(
                "UPDATE artifacts SET pull_time = ? WHERE digest = ?",
                (now - 20 * DAY, self.d["a3"]),
            )
        db.close()

    def names(self, digests: dict[str, str], mark: str) -> set[str]:
        by_digest = {v: k for k, v in self.d.items()}
        return {by_digest[d] for d, m in digests.items() if m == mark}


@pytest.fixture(scope="module")
def world(app: InProcessServer) -> World:
    return World(app)


def test_metadatas(app: InProcessServer) -> None:
    doc = api(app, "GET", "/retentions/metadatas").json()
    assert [t["rule_template"] for t in doc["templates"]] == [
        "latestPushedK",
        "latestPulledN",
        "nDaysSinceLastPush",
        "nDaysSinceLastPull",
        "always",
    ]
    assert doc["templates"][0] == {
        "rule_template": "latestPushedK",
        "display_text": "the most recently pushed # artifacts",
        "action": "retain",
        "params": [{"type": "int", "unit": "COUNT", "required": True}],
    }
    assert doc["templates"][-1]["params"] == []
    assert doc["scope_selectors"][0]["decorations"] == ["repoMatches", "repoExcludes"]
    assert doc["tag_selectors"][0]["decorations"] == ["matches", "excludes"]
    # as Harbor's handler: no access check (the templates are no secret)
    assert api(app, "GET", "/retentions/metadatas", auth=None).status_code == 200


def test_policy_crud_and_validation(app: InProcessServer) -> None:
    pid = new_project(app, "crud")
    bad = [
        policy(pid, rule("latestPushedK")),  # its parameter is required
        policy(pid, rule("latestPushedK", -1)),
        policy(pid, rule("nosuch", 1)),
        policy(pid, rule("always", tags="v[1")),
        policy(pid, rule("always"), rule("always")),  # the same rule twice
        policy(pid, *[rule("latestPushedK", n) for n in range(16)]),
        policy(pid, rule("always"), cron="every day"),
        {**policy(pid, rule("always")), "scope": {"level": "system", "ref": 0}},
        policy(999999, rule("always")),
    ]
    for body in bad:
        r = api(app, "POST", "/retentions", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["errors"][0]["code"] == "BAD_REQUEST"
    r = api(app, "POST", "/retentions", json=policy(pid, rule("latestPushedK", 3)))
    assert r.status_code == 201, r.text
    assert r.headers["Location"].startswith("/api/v2.0/retentions/")
    policy_id = int(r.headers["Location"].rsplit("/", 1)[1])
    meta = api(app, "GET", "/projects/crud/metadatas/retention_id").json()
    assert meta == {"retention_id": str(policy_id)}
    # one policy per project
    assert api(app, "POST", "/retentions", json=policy(pid, rule("always"))).status_code == 400
    doc = api(app, "GET", f"/retentions/{policy_id}").json()
    assert doc["id"] == policy_id and doc["algorithm"] == "or"
    assert doc["scope"] == {"level": "project", "ref": pid}
    assert doc["trigger"] == {"kind": "Schedule", "settings": {"cron": ""}, "references": {}}
    assert doc["rules"][0]["template"] == "latestPushedK"
    assert doc["rules"][0]["params"] == {"latestPushedK": 3}
    changed = policy(pid, rule("always", tags="keep-*"), cron="0 0 0 * * *")
    assert api(app, "PUT", f"/retentions/{policy_id}", json=changed).status_code == 200
    doc = api(app, "GET", f"/retentions/{policy_id}").json()
    assert doc["trigger"]["settings"]["cron"] == "0 0 0 * * *"
    assert doc["rules"][0]["tag_selectors"][0]["pattern"] == "keep-*"
    assert (
        api(app, "PUT", f"/retentions/{policy_id}", json=policy(pid, rule("x"))).status_code == 400
    )
    assert api(app, "GET", f"/retentions/{policy_id}", auth=None).status_code == 401
    assert api(app, "DELETE", f"/retentions/{policy_id}").status_code == 200
    assert api(app, "GET", f"/retentions/{policy_id}").status_code == 404
    assert api(app, "GET", "/projects/crud/metadatas/retention_id").json() == {}
    assert api(app, "GET", "/retentions/424242/executions").status_code == 404


FAMILIES = [
    # (rules, what the dry run removes from ret/app)
    ([rule("latestPushedK", 2, untagged=False)], {"a1", "a2", "a3", "u1"}),
    ([rule("latestPushedK", 2, untagged=True)], {"a1", "a2", "a3", "a4"}),
    ([rule("latestPulledN", 1)], {"a1", "a3", "a4", "a5", "u1"}),
    ([rule("latestPulledN", 2, tags="v*", untagged=False)], {"a1", "a4", "a5", "u1"}),
    ([rule("nDaysSinceLastPush", 25)], {"a1", "a2", "a3"}),
    ([rule("nDaysSinceLastPull", 7)], {"a1", "a3", "a4", "a5", "u1"}),
    ([rule("nDaysSinceLastPull", 30)], {"a1", "a4", "a5", "u1"}),
    ([rule("always", tags="keep-*", untagged=False)], {"a1", "a2", "a3", "a4", "u1"}),
    # Harbor's excludes: a tagged artifact with some tag outside the pattern; untagged ones
    # unless the untagged extra is set
    ([rule("always", tags="v*", tag_deco="excludes")], {"a1", "a2", "a3", "a4"}),
    ([rule("always", tags="v{1,2}", untagged=False)], {"a3", "a4", "a5", "u1"}),
    # any rule retaining is enough (the second one keeps untagged artifacts: its default)
    ([rule("latestPushedK", 1, untagged=False), rule("always", tags="v1")], {"a2", "a3", "a4"}),
    # disabled rules retain nothing
    ([{**rule("always"), "disabled": True}, rule("latestPushedK", 5)], {"a1"}),
]


@pytest.mark.parametrize(("rules", "removed"), FAMILIES)
def test_dry_run_of_each_rule_family(
    app: InProcessServer, world: World, rules: list[dict[str, Any]], removed: set[str]
) -> None:
    scoped = [
        {
            **r,
            "scope_selectors": {
                "repository": [
                    {"kind": "doublestar", "decoration": "repoMatches", "pattern": "app"}
                ]
            },
        }
        for r in rules
    ]
    policy_id = ensure_policy(app, world, scoped)
    execution = execute(app, policy_id, dry_run=True)
    assert execution["status"] == "Succeed" and execution["dry_run"] is True
    assert execution["trigger"] == "MANUAL" and execution["end_time"]
    found = marks(app, policy_id, execution["id"])
    assert set(found) == {"ret/app"}  # ret/lib is out of every rule's scope
    assert world.names(found["ret/app"], "DEL") == removed
    assert world.names(found["ret/app"], "RETAIN") == {"a1", "a2", "a3", "a4", "a5", "u1"} - removed
    [task] = api(app, "GET", f"/retentions/{policy_id}/executions/{execution['id']}/tasks").json()
    assert task["total"] == 6 and task["retained"] == 6 - len(removed)
    assert task["status"] == "Succeed" and task["job_id"]
    # a dry run removes nothing
    arts = api(app, "GET", "/projects/ret/repositories/app/artifacts").json()
    assert len(arts) == 6


def ensure_policy(app: InProcessServer, world: World, rules: list[dict[str, Any]]) -> int:
    meta = api(app, "GET", "/projects/ret/metadatas/retention_id").json()
    body = policy(world.project_id, *rules)
    if meta:
        policy_id = int(meta["retention_id"])
        assert api(app, "PUT", f"/retentions/{policy_id}", json=body).status_code == 200
        return policy_id
    r = api(app, "POST", "/retentions", json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def test_real_run_spares_immutable_tags_and_feeds_gc(app: InProcessServer, world: World) -> None:
    immutable = api(
        app,
        "POST",
        "/projects/ret/immutabletagrules",
        json={
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v1"}],
            "scope_selectors": {
                "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
            },
        },
    )
    assert immutable.status_code == 201
    policy_id = ensure_policy(app, world, [rule("latestPushedK", 2, untagged=False)])
    dry = execute(app, policy_id, dry_run=True)
    expected = {"ret/app": {"a2", "a3", "u1"}, "ret/lib": set()}
    found = marks(app, policy_id, dry["id"])
    assert {repo: world.names(m, "DEL") for repo, m in found.items()} == expected
    assert world.names(found["ret/app"], "IMMUTABLE") == {"a1"}
    execution = execute(app, policy_id, dry_run=False)
    assert execution["status"] == "Succeed" and execution["dry_run"] is False
    found = marks(app, policy_id, execution["id"])
    assert {repo: world.names(m, "DEL") for repo, m in found.items()} == expected
    assert world.names(found["ret/app"], "IMMUTABLE") == {"a1"}
    assert world.names(found["ret/lib"], "RETAIN") == {"l1"}
    tasks = api(app, "GET", f"/retentions/{policy_id}/executions/{execution['id']}/tasks").json()
    assert {t["repository"]: (t["total"], t["retained"]) for t in tasks} == {
        "ret/app": (6, 3),
        "ret/lib": (1, 1),
    }
    left = api(app, "GET", "/projects/ret/repositories/app/artifacts").json()
    assert {a["digest"] for a in left} == {world.d[n] for n in ("a1", "a4", "a5")}
    # stopping an ended execution changes nothing
    r = api(
        app,
        "PATCH",
        f"/retentions/{policy_id}/executions/{execution['id']}",
        json={"action": "stop"},
    )
    assert r.status_code == 200
    assert wait_for(app, policy_id, execution["id"])["status"] == "Succeed"
    assert (
        api(
            app,
            "PATCH",
            f"/retentions/{policy_id}/executions/{execution['id']}",
            json={"action": "pause"},
        ).status_code
        == 400
    )
    # what retention removed is garbage: GC (no grace) takes the blobs only they held,
    # once the pushes' pins (15 minutes) are over
    c = client(app)
    db = sqlite3.connect(app.data_dir / "wharf.db", timeout=30)
    with db:
        db.execute("UPDATE blobs SET last_seen = 1000, created = 1000")
        db.execute("DELETE FROM blob_pins")
    db.close()
    r = api(
        app,
        "POST",
        "/system/gc/schedule",
        json={"schedule": {"type": "Manual"}, "parameters": {"grace": 0}},
    )
    assert r.status_code == 201, r.text
    gc_id = int(r.headers["Location"].rsplit("/", 1)[1])
    deadline = time.monotonic() + 60
    while api(app, "GET", f"/system/gc/{gc_id}").json()["job_status"] not in ("Success", "Error"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert api(app, "GET", f"/system/gc/{gc_id}").json()["job_status"] == "Success"
    for name in ("a2", "a3", "u1"):
        assert c.request("HEAD", f"/v2/ret/app/blobs/{world.layers[name]}").status_code == 404
    for name in ("a1", "a4", "a5"):
        assert c.request("HEAD", f"/v2/ret/app/blobs/{world.layers[name]}").status_code == 200


def test_schedule_fires_on_the_leader(app: InProcessServer) -> None:
    pid = new_project(app, "sched")
    client(app).push_image("sched/x", "v1")
    r = api(app, "POST", "/retentions", json=policy(pid, rule("always"), cron="* * * * * *"))
    assert r.status_code == 201, r.text
    policy_id = int(r.headers["Location"].rsplit("/", 1)[1])
    deadline = time.monotonic() + 15
    while True:
        docs = api(app, "GET", f"/retentions/{policy_id}/executions").json()
        if docs:
            break
        assert time.monotonic() < deadline, "the schedule did not fire"
        time.sleep(0.1)
    assert (
        api(app, "PUT", f"/retentions/{policy_id}", json=policy(pid, rule("always"))).status_code
        == 200
    )
    first = wait_for(app, policy_id, docs[-1]["id"])
    assert first["trigger"] == "SCHEDULE" and first["dry_run"] is False
    assert first["status"] == "Succeed"
    # nothing removed: "always" retains everything
    assert client(app).request("HEAD", "/v2/sched/x/manifests/v1").status_code == 200
    r = api(app, "GET", f"/retentions/{policy_id}/executions", params={"page_size": 1})
    assert r.headers["X-Total-Count"] and len(r.json()) == 1
