"""Harbor's artifact API against the contract (swagger v2.15 and its handlers): the fields
Harbor always returns, the artifact list's ``q``, one artifact by tag or digest, index
references, accessories, additions, tags, deletes with what hangs on an artifact, copies,
labels, repositories, project summaries — each through Harbor's role matrix. In-process
(``tests/inproc.py``), one server for the module."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from .helpers import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, Client
from .inproc import ADMIN, InProcessServer, serve_in_process

PASSWORD = "Role-Pass-123"
ROLES = {"padmin": 1, "maintainer": 4, "developer": 2, "guest": 3, "limited": 5}
NEVER = "0001-01-01T00:00:00.000Z"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
NOTATION = "application/vnd.cncf.notary.signature"
HARBOR_SBOM = "application/vnd.goharbor.harbor.sbom.v1"
COSIGN_LAYER = "application/vnd.dev.cosign.simplesigning.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"
Creds = tuple[str, str] | None


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Pushed:
    digest: str
    body: bytes
    config: bytes
    layers: list[bytes]


class Pusher:
    """Pushes content through /v2 as the system admin (HTTP Basic)."""

    def __init__(self, url: str) -> None:
        self.client = Client(url)
        self.client.http.auth = ADMIN

    def blob(self, repo: str, data: bytes) -> str:
        return self.client.push_blob(repo, data)

    def manifest(
        self, repo: str, reference: str | None, doc: dict[str, Any], media_type: str = OCI_MANIFEST
    ) -> tuple[str, bytes]:
        body = json.dumps(doc).encode()
        digest = sha256(body)
        r = self.client.request(
            "PUT",
            f"/v2/{repo}/manifests/{reference or digest}",
            data=body,
            headers={"Content-Type": media_type},
        )
        assert r.status_code == 201, r.text
        return digest, body

    def image(
        self,
        repo: str,
        tag: str | None,
        config: dict[str, Any] | None = None,
        config_type: str = OCI_CONFIG,
        layer_type: str = OCI_LAYER,
        layers: list[bytes] | None = None,
        **extra: Any,
    ) -> Pushed:
        config_body = json.dumps(
            config
            or {"architecture": "amd64", "os": "linux", "n": os.urandom(4).hex(), "history": []}
        ).encode()
        layer_bodies = layers if layers is not None else [os.urandom(700)]
        doc: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": config_type,
                "digest": self.blob(repo, config_body),
                "size": len(config_body),
            },
            "layers": [
                {"mediaType": layer_type, "digest": self.blob(repo, b), "size": len(b)}
                for b in layer_bodies
            ],
            **extra,
        }
        digest, body = self.manifest(repo, tag, doc)
        return Pushed(digest, body, config_body, layer_bodies)

    def referrer(self, repo: str, subject: Pushed | str, artifact_type: str) -> Pushed:
        """An OCI 1.1 referrer (signature, SBOM, …) of ``subject``."""
        digest = subject if isinstance(subject, str) else subject.digest
        body = subject.body if isinstance(subject, Pushed) else b""
        return self.image(
            repo,
            None,
            config={},
            config_type=EMPTY,
            layer_type="application/octet-stream",
            artifactType=artifact_type,
            subject={"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body)},
        )


@dataclass
class World:
    server: InProcessServer
    push: Pusher
    users: dict[str, int]
    team_id: int
    app_v1: Pushed
    app_untagged: Pushed
    index: str
    index_body: bytes
    children: list[Pushed]

    def api(self, method: str, path: str, creds: Creds = ADMIN, **kw: Any) -> requests.Response:
        return requests.request(
            method, f"{self.server.url}/api/v2.0{path}", auth=creds, timeout=30, **kw
        )

    def ok(self, path: str, creds: Creds = ADMIN, **kw: Any) -> Any:
        r = self.api("GET", path, creds, **kw)
        assert r.status_code == 200, r.text
        return r.json()


def as_user(name: str) -> tuple[str, str]:
    return (name, PASSWORD)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    data: Path = tmp_path_factory.mktemp("harbor-artifacts") / "data"
    environ = {}
    if request.param == "postgres":
        postgres = request.getfixturevalue("postgres")
        environ["WHARF_DATABASE__URL"] = postgres.create_database("harbor_artifacts")
    with serve_in_process(data, auth=True, admin_password=ADMIN[1], environ=environ) as server:

        def api(method: str, path: str, **kw: Any) -> requests.Response:
            return requests.request(
                method, f"{server.url}/api/v2.0{path}", auth=ADMIN, timeout=30, **kw
            )

        users: dict[str, int] = {}
        for name in [*ROLES, "outsider"]:
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
        for project, public in (("team", "false"), ("pub", "true"), ("dest", "false")):
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
        api(
            "POST",
            "/projects/dest/members",
            json={"role_id": 2, "member_user": {"username": "developer"}},
        )
        team_id = api("GET", "/projects/team").json()["project_id"]

        push = Pusher(server.url)
        config = {
            "architecture": "arm64",
            "os": "linux",
            "created": "2026-01-02T03:04:05Z",
            "config": {"Env": ["A=1"], "Labels": {"maintainer": "ops@example.com"}},
            "history": [{"created_by": "RUN make", "empty_layer": False}],
        }
        app_v1 = push.image("team/app", "v1", config=config)
        push.manifest("team/app", "latest", json.loads(app_v1.body))
        time.sleep(0.01)
        app_untagged = push.image("team/app", None)

        children = [push.image("team/multi", None) for _ in range(2)]
        index_doc = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": child.digest,
                    "size": len(child.body),
                    "platform": {"architecture": arch, "os": "linux", "os.version": "1"},
                }
                for child, arch in zip(children, ("amd64", "arm64"), strict=True)
            ],
        }
        index, index_body = push.manifest("team/multi", "v1", index_doc, OCI_INDEX)
        push.image("pub/hello", "v1")
        yield World(server, push, users, team_id, app_v1, app_untagged, index, index_body, children)
    assert not server.errors, server.error_log()


def enc(name: str) -> str:
    return urllib.parse.quote(urllib.parse.quote(name, safe=""), safe="")


# --- repositories -------------------------------------------------------------------------
def test_repository_fields(world: World) -> None:
    repos = world.ok("/projects/team/repositories")
    assert [r["name"] for r in repos] == ["team/multi", "team/app"]  # newest first
    by_name = {r["name"]: r for r in repos}
    app = by_name["team/app"]
    assert set(app) >= {
        "id", "name", "project_id", "description", "artifact_count", "pull_count",
        "creation_time", "update_time",
    }  # fmt: skip
    assert app["project_id"] == world.team_id and app["artifact_count"] == 2
    assert by_name["team/multi"]["artifact_count"] == 1  # the index; its children are not counted
    one = world.ok("/projects/team/repositories/app")
    assert one == app
    missing = world.api("GET", "/projects/team/repositories/none")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NOT_FOUND"
    fuzzy = world.ok("/projects/team/repositories", params={"q": "name=~mul"})
    assert [r["name"] for r in fuzzy] == ["team/multi"]
    by_name_sort = world.ok("/projects/team/repositories", params={"sort": "name"})
    assert [r["name"] for r in by_name_sort] == ["team/app", "team/multi"]


def test_all_repositories_by_visibility(world: World) -> None:
    everything = {r["name"] for r in world.ok("/repositories", params={"page_size": 100})}
    assert {"team/app", "team/multi", "pub/hello"} <= everything
    outsider = {r["name"] for r in world.ok("/repositories", as_user("outsider"))}
    assert "pub/hello" in outsider and not any(n.startswith("team/") for n in outsider)
    anonymous = {r["name"] for r in world.ok("/repositories", None)}
    assert "pub/hello" in anonymous and not any(n.startswith("team/") for n in anonymous)
    limited = {r["name"] for r in world.ok("/repositories", as_user("limited"))}
    assert {"team/app", "team/multi"} <= limited
    assert world.api("GET", "/repositories", params={"q": "name"}).status_code == 400


def test_update_repository_description(world: World) -> None:
    path = "/projects/team/repositories/app"
    body = {"description": "<b>it's</b> the app"}
    assert world.api("PUT", path, as_user("guest"), json=body).status_code == 403
    assert world.api("PUT", path, None, json=body).status_code == 401
    assert world.api("PUT", path, as_user("developer"), json=body).status_code == 200
    got = world.ok(path)
    assert got["description"] == "&lt;b&gt;it&#39;s&lt;/b&gt; the app"  # as Harbor stores it
    assert world.api("PUT", "/projects/team/repositories/none", json=body).status_code == 404
    assert world.api("PUT", path, json={"description": 5}).status_code == 422


def test_repository_read_follows_the_matrix(world: World) -> None:
    path = "/projects/team/repositories/app"
    for who in ROLES:
        assert world.api("GET", path, as_user(who)).status_code == 200, who
        assert world.api("GET", "/projects/team/repositories", as_user(who)).status_code == 200
    assert world.api("GET", path, as_user("outsider")).status_code == 403
    assert world.api("GET", path, None).status_code == 401
    # a public project's repositories may be listed by anyone
    assert world.api("GET", "/projects/pub/repositories", None).status_code == 200


# --- artifacts: fields ----------------------------------------------------------------------
def test_image_artifact_fields(world: World) -> None:
    art = world.ok("/projects/team/repositories/app/artifacts/v1")
    pushed = world.app_v1
    assert art["digest"] == pushed.digest
    assert art["type"] == "IMAGE"
    assert art["media_type"] == OCI_CONFIG and art["manifest_media_type"] == OCI_MANIFEST
    assert art["size"] == len(pushed.body) + len(pushed.config) + sum(map(len, pushed.layers))
    assert art["project_id"] == world.team_id and art["repository_name"] == "team/app"
    assert art["id"] > 0 and art["repository_id"] > 0
    assert art["pull_time"] == NEVER and art["push_time"].endswith("Z")
    attrs = art["extra_attrs"]
    assert attrs["architecture"] == "arm64" and attrs["os"] == "linux"
    assert attrs["created"] == "2026-01-02T03:04:05Z"
    assert attrs["author"] == "ops@example.com"  # from the maintainer label
    assert attrs["config"]["Env"] == ["A=1"]
    assert art["addition_links"] == {
        "build_history": {
            "href": f"/api/v2.0/projects/team/repositories/app/artifacts/{pushed.digest}"
            "/additions/build_history",
            "absolute": False,
        }
    }
    assert sorted(t["name"] for t in art["tags"]) == ["latest", "v1"]
    for tag in art["tags"]:
        assert tag["artifact_id"] == art["id"] and tag["repository_id"] == art["repository_id"]
        assert tag["id"] > 0 and tag["immutable"] is False and tag["pull_time"] == NEVER
    by_digest = world.ok(f"/projects/team/repositories/app/artifacts/{pushed.digest}")
    assert by_digest["id"] == art["id"]
    bare = world.ok("/projects/team/repositories/app/artifacts/v1", params={"with_tag": "false"})
    assert bare.get("tags") is None


def test_missing_artifact_is_not_found(world: World) -> None:
    for ref in ("nope", "sha256:" + "0" * 64):
        r = world.api("GET", f"/projects/team/repositories/app/artifacts/{ref}")
        assert r.status_code == 404
        assert r.json()["errors"][0]["code"] == "NOT_FOUND"
    r = world.api("GET", "/projects/team/repositories/none/artifacts/v1")
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NOT_FOUND"
    # a list of a repository that does not exist is empty, as Harbor's
    assert world.ok("/projects/team/repositories/none/artifacts") == []


def test_index_references_and_size(world: World) -> None:
    art = world.ok("/projects/team/repositories/multi/artifacts/v1")
    assert art["type"] == "IMAGE" and art["media_type"] == OCI_INDEX
    assert art["manifest_media_type"] == OCI_INDEX and art["extra_attrs"] == {}
    children = {c.digest: c for c in world.children}
    assert art["size"] == len(world.index_body) + sum(
        len(c.body) + len(c.config) + sum(map(len, c.layers)) for c in world.children
    )
    refs = art["references"]
    assert [r["child_digest"] for r in refs] == [c.digest for c in world.children]
    assert [r["platform"]["architecture"] for r in refs] == ["amd64", "arm64"]
    assert refs[0]["platform"]["'os.version'"] == "1"  # Harbor's key, quotes included
    assert all(r["parent_id"] == art["id"] and r["child_id"] > 0 for r in refs)
    child = world.ok(f"/projects/team/repositories/multi/artifacts/{refs[0]['child_digest']}")
    assert child["id"] == refs[0]["child_id"] and child["digest"] in children
    assert art["addition_links"] == {}


# --- artifacts: the list and its query -------------------------------------------------------
def digests(world: World, path: str, **params: str) -> list[str]:
    return [a["digest"] for a in world.ok(path, params=params)]


def test_list_artifacts_query(world: World) -> None:
    path = "/projects/team/repositories/app/artifacts"
    tagged, untagged = world.app_v1.digest, world.app_untagged.digest
    assert digests(world, path) == [untagged, tagged]  # newest first
    r = world.api("GET", path)
    assert r.headers["X-Total-Count"] == "2" and r.headers["X-Request-Id"]
    assert digests(world, path, q="tags=*") == [tagged]
    assert digests(world, path, q="tags=nil") == [untagged]
    assert digests(world, path, q="tags=~lat") == [tagged]
    assert digests(world, path, q="tags=v1") == [tagged]
    assert digests(world, path, q="tags=v9") == []
    assert digests(world, path, q=f"digest={untagged}") == [untagged]
    assert digests(world, path, q="type=IMAGE") == [untagged, tagged]
    assert digests(world, path, q="type=CHART") == []
    # q is unescaped once more (as Harbor does): a '+' must come as %2B
    plus = OCI_CONFIG.replace("+", "%2B")
    assert digests(world, path, q=f"media_type={plus}") == [untagged, tagged]
    assert digests(world, path, q="push_time=[2000-01-01T00:00:00~2200-01-01T00:00:00]") == [
        untagged,
        tagged,
    ]
    assert digests(world, path, q="push_time=[2200-01-01T00:00:00~]") == []
    assert digests(world, path, sort="push_time") == [tagged, untagged]
    one = world.api("GET", path, params={"page_size": 1, "page": 2})
    assert [a["digest"] for a in one.json()] == [tagged] and one.headers["X-Total-Count"] == "2"
    assert 'rel="prev"' in one.headers["Link"]
    for bad in ("tags=[1~2]", "labels=1", "base=x", "tags"):
        r = world.api("GET", path, params={"q": bad})
        assert r.status_code == 400, bad
        assert r.json()["errors"][0]["code"] == "BAD_REQUEST"
    assert world.api("GET", path, params={"page_size": 101}).status_code == 422


def test_index_children_are_listed_only_with_base(world: World) -> None:
    path = "/projects/team/repositories/multi/artifacts"
    assert digests(world, path) == [world.index]
    every = set(digests(world, path, q="base=*"))
    assert every == {world.index, *(c.digest for c in world.children)}


def test_project_artifacts(world: World) -> None:
    listed = digests(world, "/projects/team/artifacts", page_size="100")
    assert set(listed) == {world.app_v1.digest, world.app_untagged.digest, world.index}
    only = digests(world, "/projects/team/artifacts", q="repository_name=team/multi")
    assert only == [world.index]
    latest = world.ok(
        "/projects/team/artifacts",
        params={"q": f"media_type={OCI_CONFIG.replace('+', '%2B')}", "latest_in_repository": "1"},
    )
    assert [a["digest"] for a in latest] == [world.app_untagged.digest]
    assert world.api("GET", "/projects/team/artifacts", as_user("limited")).status_code == 200
    assert world.api("GET", "/projects/team/artifacts", as_user("outsider")).status_code == 403


# --- accessories -----------------------------------------------------------------------------
def test_accessories(world: World) -> None:
    repo = "team/signed"
    subject = world.push.image(repo, "v1")
    notation = world.push.referrer(repo, subject, NOTATION)
    sbom = world.push.referrer(repo, subject, HARBOR_SBOM)
    cosign_tag = "sha256-" + subject.digest.split(":")[1] + ".sig"
    cosign = world.push.image(
        repo, cosign_tag, config={}, layer_type=COSIGN_LAYER, layers=[b'{"critical":{}}']
    )
    path = "/projects/team/repositories/signed/artifacts"
    assert digests(world, path) == [subject.digest]  # accessories are not listed
    assert world.ok("/projects/team/repositories/signed")["artifact_count"] == 1
    found = world.ok(f"{path}/v1/accessories")
    kinds = {a["digest"]: a["type"] for a in found}
    assert kinds == {
        notation.digest: "signature.notation",
        sbom.digest: "sbom.harbor",
        cosign.digest: "signature.cosign",
    }
    subject_doc = world.ok(f"{path}/v1")
    for accessory in found:
        assert accessory["subject_artifact_digest"] == subject.digest
        assert accessory["subject_artifact_id"] == subject_doc["id"]
        assert accessory["subject_artifact_repo"] == repo
        assert accessory["artifact_id"] > 0 and accessory["size"] > 0
    only = world.ok(f"{path}/v1/accessories", params={"q": "type=signature.cosign"})
    assert [a["digest"] for a in only] == [cosign.digest]
    with_acc = world.ok(f"{path}/v1", params={"with_accessory": "true"})
    assert {a["digest"] for a in with_acc["accessories"]} == set(kinds)
    listed = world.ok(path, params={"with_accessory": "true"})
    assert {a["type"] for a in listed[0]["accessories"]} == set(kinds.values())
    assert world.api("GET", f"{path}/v1/accessories", as_user("limited")).status_code == 200
    assert world.api("GET", f"{path}/v1/accessories", as_user("outsider")).status_code == 403


def test_store_pages_equal_the_pages_of_the_whole_list(world: World) -> None:
    """A list without ``q`` in the default order reads its page alone from the store (with
    what hangs on it): the same answer as the whole list filtered and paged (``q`` that
    matches everything takes that path)."""
    repo = "team/paged"
    subject = world.push.image(repo, "signed")
    world.push.referrer(repo, subject, NOTATION)
    world.push.referrer(repo, subject, HARBOR_SBOM)
    world.push.image(
        repo,
        "sha256-" + subject.digest.split(":")[1] + ".sig",
        config={},
        layer_type=COSIGN_LAYER,
        layers=[b'{"critical":{}}'],
    )
    children = [world.push.image(repo, None) for _ in range(2)]
    world.push.image(repo, None)  # untagged: listed
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": c.digest, "size": len(c.body)} for c in children
        ],
    }
    index, _ = world.push.manifest(repo, "multi", doc, OCI_INDEX)
    world.push.referrer(repo, index, NOTATION)
    for n in range(3):
        world.push.image(repo, f"v{n}")
    path = "/projects/team/repositories/paged/artifacts"
    options = {
        "with_tag": "true",
        "with_label": "true",
        "with_accessory": "true",
        "with_inherited_accessory": "true",
    }
    for size in ("2", "3", "100"):
        for page in ("1", "2", "3", "4"):
            asked = {**options, "page": page, "page_size": size}
            paged = world.api("GET", path, params=asked)
            whole = world.api("GET", path, params={**asked, "q": "digest=~sha256:"})
            assert paged.status_code == whole.status_code == 200, paged.text
            assert paged.json() == whole.json()
            assert paged.headers["X-Total-Count"] == whole.headers["X-Total-Count"] == "6"
            more = int(page) * int(size) < 6
            assert ('rel="next"' in paged.headers.get("Link", "")) is more
    first = world.ok(path, params={**options, "page_size": "100"})
    listed = {a["digest"]: a for a in first}
    assert len(listed[subject.digest]["accessories"]) == 3
    assert [r["child_id"] > 0 for r in listed[index]["references"]] == [True, True]
    assert len(listed[index]["accessories"]) == 1
    assert world.ok("/projects/team/repositories/nothing/artifacts") == []


def test_inherited_signatures_of_an_index(world: World) -> None:
    repo = "team/signedindex"
    children = [world.push.image(repo, None) for _ in range(2)]
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": c.digest, "size": len(c.body)} for c in children
        ],
    }
    index, body = world.push.manifest(repo, "v1", doc, OCI_INDEX)
    signature = world.push.referrer(repo, index, NOTATION)
    own = world.push.referrer(repo, children[1], NOTATION)
    path = "/projects/team/repositories/signedindex/artifacts"
    first = world.ok(f"{path}/{children[0].digest}", params={"with_inherited_accessory": "true"})
    assert [a["digest"] for a in first["inherited_accessories"]] == [signature.digest]
    assert first["inherited_accessories"][0]["subject_artifact_digest"] == index
    second = world.ok(f"{path}/{children[1].digest}", params={"with_inherited_accessory": "true"})
    assert second.get("inherited_accessories") is None  # signed in its own right
    assert own.digest != signature.digest and body


# --- additions -------------------------------------------------------------------------------
def test_build_history_addition(world: World) -> None:
    base = "/projects/team/repositories/app/artifacts/v1/additions"
    r = world.api("GET", f"{base}/build_history")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert r.json() == [{"created_by": "RUN make", "empty_layer": False}]
    unsupported = world.api("GET", f"{base}/values.yaml")
    assert unsupported.status_code == 400
    assert unsupported.json()["errors"][0]["code"] == "BAD_REQUEST"
    assert world.api("GET", f"{base}/nonsense").status_code == 422
    index = world.api(
        "GET", "/projects/team/repositories/multi/artifacts/v1/additions/build_history"
    )
    assert index.status_code == 400
    assert world.api("GET", f"{base}/build_history", as_user("limited")).status_code == 200
    assert world.api("GET", f"{base}/build_history", as_user("outsider")).status_code == 403


def test_manifest_and_config_documents(world: World) -> None:
    """Wharf's own reads for the web UI: the manifest byte for byte and the config."""
    base = "/projects/team/repositories/app/artifacts"
    r = world.api("GET", f"{base}/v1/manifest")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert r.content == world.app_v1.body
    config = world.ok(f"{base}/{world.app_v1.digest}/config")
    assert config == json.loads(world.app_v1.config)
    index = world.api("GET", "/projects/team/repositories/multi/artifacts/v1/manifest")
    assert index.status_code == 200 and index.content == world.index_body
    none = world.api("GET", "/projects/team/repositories/multi/artifacts/v1/config")
    assert none.status_code == 404 and none.json()["errors"][0]["code"] == "NOT_FOUND"
    assert world.api("GET", f"{base}/nope/manifest").status_code == 404
    assert world.api("GET", f"{base}/v1/manifest", as_user("limited")).status_code == 200
    assert world.api("GET", f"{base}/v1/config", as_user("outsider")).status_code == 403
    assert world.api("GET", f"{base}/v1/manifest", None).status_code == 401


def chart_archive(name: str, files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}/{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_chart_artifact_and_its_additions(world: World) -> None:
    chart_yaml = (
        "apiVersion: v2\nname: web\nversion: 1.2.3\n"
        "dependencies:\n- name: redis\n  version: 17.0.0\n  repository: https://charts.example\n"
    )
    archive = chart_archive(
        "web",
        {
            "Chart.yaml": chart_yaml,
            "values.yaml": "replicas: 2\n",
            "README.md": "# web\n",
            "templates/deploy.yaml": "kind: Deployment\n",
        },
    )
    config = {"name": "web", "version": "1.2.3", "apiVersion": "v2"}
    chart = world.push.image(
        "team/charts", "1.2.3", config=config, config_type=HELM_CONFIG, layer_type=HELM_LAYER,
        layers=[archive],
    )  # fmt: skip
    base = "/projects/team/repositories/charts/artifacts/1.2.3"
    art = world.ok(base)
    assert art["type"] == "CHART" and art["media_type"] == HELM_CONFIG
    assert art["extra_attrs"] == config and art["digest"] == chart.digest
    assert set(art["addition_links"]) == {"values.yaml", "readme.md", "dependencies"}
    values = world.api("GET", f"{base}/additions/values.yaml")
    assert values.status_code == 200 and values.text == "replicas: 2\n"
    assert values.headers["Content-Type"].startswith("text/plain")
    readme = world.api("GET", f"{base}/additions/readme.md")
    assert readme.text == "# web\n" and readme.headers["Content-Type"].startswith("text/markdown")
    deps = world.ok(f"{base}/additions/dependencies")
    assert deps == [{"name": "redis", "version": "17.0.0", "repository": "https://charts.example"}]
    assert world.api("GET", f"{base}/additions/build_history").status_code == 400


def test_other_artifact_types() -> None:
    """Type and media type as Harbor's processors decide them (pure, no server)."""
    from wharf.registry.oci import artifacts as kinds

    assert kinds.processor(None, "application/vnd.cnab.manifest.v1").type == "CNAB"
    assert kinds.processor(None, "application/vnd.wasm.config.v1+json").type == "WASM"
    assert kinds.processor(None, "application/vnd.goharbor.harbor.sbom.v1").type == "SBOM"
    model = "application/vnd.cncf.model.manifest.v1+json"
    assert kinds.processor(model, "application/vnd.cncf.model.config.v1+json").type == "CNAI"
    assert kinds.processor(None, "application/vnd.acme.rocket.config.v1+json").type == "ROCKET"
    assert kinds.processor(None, "application/x-unknown").type == "UNKNOWN"
    assert kinds.processor(None, OCI_INDEX).type == "IMAGE"
    cnab = {"annotations": {"org.opencontainers.artifactType": "application/vnd.cnab.manifest.v1"}}
    assert kinds.media_type(cnab, OCI_INDEX) == "application/vnd.cnab.manifest.v1"
    wasm = {"config": {"mediaType": OCI_CONFIG}, "annotations": {"run.oci.handler": "wasm"}}
    assert kinds.media_type(wasm, OCI_MANIFEST) == "application/vnd.wasm.config.v1+json"
    nydus = {
        "config": {"mediaType": OCI_CONFIG},
        "layers": [{"annotations": {"containerd.io/snapshot/nydus-bootstrap": "true"}}],
    }
    assert kinds.accessory_type(nydus) == "accelerator.nydus"
    cosign = {"artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"}
    assert kinds.accessory_type(cosign) == "signature.cosign"
    assert kinds.accessory_type({"artifactType": "application/spdx+json"}) == "subject.accessory"


# --- tags ------------------------------------------------------------------------------------
def test_tags_create_list_delete(world: World) -> None:
    image = world.push.image("team/tagged", "v1")
    base = f"/projects/team/repositories/tagged/artifacts/{image.digest}/tags"
    for who, status in (("guest", 403), ("limited", 403), ("outsider", 403)):
        assert world.api("POST", base, as_user(who), json={"name": "x"}).status_code == status
    assert world.api("POST", base, None, json={"name": "x"}).status_code == 401
    r = world.api("POST", base, as_user("developer"), json={"name": "v2"})
    assert r.status_code == 201, r.text
    conflict = world.api("POST", base, json={"name": "v1"})
    assert conflict.status_code == 409 and conflict.json()["errors"][0]["code"] == "CONFLICT"
    assert world.api("POST", base, json={"name": "bad tag"}).status_code == 400
    assert world.api("POST", base, json={}).status_code == 422
    tags = world.ok(base)
    assert [t["name"] for t in tags] == ["v2", "v1"]  # newest first
    assert world.ok(base, params={"q": "name=v1"})[0]["name"] == "v1"
    assert world.ok(base, as_user("limited"))  # limited guests may list tags
    pulled = world.push.client.request("GET", "/v2/team/tagged/manifests/v2")
    assert pulled.status_code == 200 and sha256(pulled.content) == image.digest
    assert world.api("DELETE", f"{base}/v2", as_user("developer")).status_code == 403
    assert world.api("DELETE", f"{base}/v2", as_user("maintainer")).status_code == 200
    assert world.api("DELETE", f"{base}/v2").status_code == 404
    other = world.push.image("team/tagged", "elsewhere")
    assert world.api("DELETE", f"{base}/elsewhere").status_code == 404  # not this artifact's
    assert world.push.client.request("GET", "/v2/team/tagged/manifests/v2").status_code == 404
    assert other.digest != image.digest


# --- deletes ---------------------------------------------------------------------------------
def test_delete_artifact_takes_what_hangs_on_it(world: World) -> None:
    repo = "team/gone"
    children = [world.push.image(repo, None) for _ in range(2)]
    kept = world.push.image(repo, "kept")  # tagged: stays though the index holds it too
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": c.digest, "size": len(c.body)}
            for c in [*children, kept]
        ],
    }
    index, _ = world.push.manifest(repo, "v1", doc, OCI_INDEX)
    signature = world.push.referrer(repo, index, NOTATION)
    base = "/projects/team/repositories/gone/artifacts"
    held = world.api("DELETE", f"{base}/{children[0].digest}")
    assert held.status_code == 412
    assert held.json()["errors"][0]["code"] == "VIOLATE_FOREIGN_KEY_CONSTRAINT"
    assert world.api("DELETE", f"{base}/v1", as_user("developer")).status_code == 403
    assert world.api("DELETE", f"{base}/v1", None).status_code == 401
    assert world.api("DELETE", f"{base}/v1", as_user("maintainer")).status_code == 200
    left = set(digests(world, base, q="base=*"))
    assert left == {kept.digest}
    for gone in (index, signature.digest, *(c.digest for c in children)):
        assert world.api("GET", f"{base}/{gone}").status_code == 404
    missing = world.api("DELETE", f"{base}/v1")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NOT_FOUND"


def test_delete_repository(world: World) -> None:
    world.push.image("team/doomed", "v1")
    path = "/projects/team/repositories/doomed"
    assert world.api("DELETE", path, as_user("developer")).status_code == 403
    assert world.api("DELETE", path, as_user("maintainer")).status_code == 200
    assert world.api("DELETE", path).status_code == 404


# --- copies ----------------------------------------------------------------------------------
def test_copy_artifact(world: World) -> None:
    source = world.push.image("team/source", "v1")
    signature = world.push.referrer("team/source", source, NOTATION)
    r = world.api(
        "POST", "/projects/dest/repositories/copied/artifacts", params={"from": "team/source:v1"}
    )
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == "/api/v2.0/projects/dest/repositories/copied/artifacts/v1"
    copied = world.ok("/projects/dest/repositories/copied/artifacts/v1")
    assert copied["digest"] == source.digest and [t["name"] for t in copied["tags"]] == ["v1"]
    got = world.push.client.request("GET", "/v2/dest/copied/manifests/v1")
    layer = json.loads(got.content)["layers"][0]["digest"]
    assert world.push.client.request("GET", f"/v2/dest/copied/blobs/{layer}").status_code == 200
    acc = world.ok("/projects/dest/repositories/copied/artifacts/v1/accessories")
    assert [a["digest"] for a in acc] == [signature.digest]  # accessories come along

    nested = enc("deep/er")
    by_digest = world.api(
        "POST",
        f"/projects/dest/repositories/{nested}/artifacts",
        params={"from": f"team/multi@{world.index}"},
    )
    assert by_digest.status_code == 201, by_digest.text
    index = world.ok(f"/projects/dest/repositories/{nested}/artifacts/{world.index}")
    assert len(index["references"]) == 2 and all(r["child_id"] > 0 for r in index["references"])

    # pull on the source, create on the destination
    dev = as_user("developer")  # developer in both projects
    ok = world.api(
        "POST", "/projects/dest/repositories/bydev/artifacts", dev, params={"from": "team/app:v1"}
    )
    assert ok.status_code == 201, ok.text
    guest = world.api(
        "POST",
        "/projects/dest/repositories/byguest/artifacts",
        as_user("guest"),
        params={"from": "team/app:v1"},
    )
    assert guest.status_code == 403  # not a member of dest
    outsider_source = world.api(
        "POST",
        "/projects/team/repositories/x/artifacts",
        as_user("outsider"),
        params={"from": "team/app:v1"},
    )
    assert outsider_source.status_code == 403
    for bad in ("nope", "team/app:", "Team/App:v1", "team/app@sha256:xyz"):
        r = world.api("POST", "/projects/dest/repositories/c/artifacts", params={"from": bad})
        assert r.status_code == 400, bad
    missing = world.api(
        "POST", "/projects/dest/repositories/c/artifacts", params={"from": "team/app:none"}
    )
    assert missing.status_code == 404
    accessory = world.api(
        "POST",
        "/projects/dest/repositories/c/artifacts",
        params={"from": f"team/source@{signature.digest}"},
    )
    assert accessory.status_code == 403 and accessory.json()["errors"][0]["code"] == "DENIED"
    assert world.api("POST", "/projects/dest/repositories/c/artifacts").status_code == 422


# --- labels ----------------------------------------------------------------------------------
def test_global_labels(world: World) -> None:
    label = {"name": "approved", "color": "#00ff00", "description": "ok", "scope": "g"}
    assert world.api("POST", "/labels", as_user("padmin"), json=label).status_code == 403
    assert world.api("POST", "/labels", None, json=label).status_code == 401
    r = world.api("POST", "/labels", json=label)
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    label_id = int(location.rsplit("/", 1)[1])
    assert location == f"/api/v2.0/labels/{label_id}"
    assert world.api("POST", "/labels", json=label).status_code == 409
    got = world.ok(f"/labels/{label_id}")
    assert (got["name"], got["scope"], got["project_id"], got["color"]) == (
        "approved", "g", 0, "#00ff00",
    )  # fmt: skip
    assert world.api("GET", f"/labels/{label_id}", as_user("developer")).status_code == 403
    listed = world.ok("/labels", as_user("guest"), params={"scope": "g"})
    assert label_id in [x["id"] for x in listed]
    assert world.ok("/labels", params={"scope": "g", "name": "appr"})[0]["id"] == label_id
    assert world.api("GET", "/labels").status_code == 400  # a scope is required
    change = {"name": "approved2", "color": "#000", "description": "changed"}
    assert (
        world.api("PUT", f"/labels/{label_id}", as_user("padmin"), json=change).status_code == 403
    )
    assert world.api("PUT", f"/labels/{label_id}", json=change).status_code == 200
    assert world.ok(f"/labels/{label_id}")["name"] == "approved2"
    assert world.api("PUT", f"/labels/{label_id}", json={"name": ""}).status_code == 400
    assert world.api("DELETE", f"/labels/{label_id}").status_code == 200
    assert world.api("GET", f"/labels/{label_id}").status_code == 404
    assert world.api("DELETE", "/labels/999999").status_code == 404
    bad_scope = {"name": "x", "scope": "z"}
    assert world.api("POST", "/labels", json=bad_scope).status_code == 400


def test_project_labels_and_artifact_labels(world: World) -> None:
    label = {"name": "qa", "scope": "p", "project_id": world.team_id}
    assert world.api("POST", "/labels", as_user("developer"), json=label).status_code == 403
    r = world.api("POST", "/labels", as_user("maintainer"), json=label)
    assert r.status_code == 201, r.text
    label_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert world.api("POST", "/labels", json={"name": "qa", "scope": "p"}).status_code == 400
    listed = world.ok(
        "/labels", as_user("guest"), params={"scope": "p", "project_id": world.team_id}
    )
    assert [x["id"] for x in listed] == [label_id]
    limited = world.api(
        "GET", "/labels", as_user("limited"), params={"scope": "p", "project_id": world.team_id}
    )
    assert limited.status_code == 403
    assert world.api("GET", "/labels", params={"scope": "p"}).status_code == 400
    assert world.ok(f"/labels/{label_id}", as_user("guest"))["name"] == "qa"

    glob = world.api("POST", "/labels", json={"name": "shared", "scope": "g"})
    global_id = int(glob.headers["Location"].rsplit("/", 1)[1])
    other = world.api(
        "POST", "/labels", json={"name": "theirs", "scope": "p", "project_id": world.team_id + 1000}
    )
    assert other.status_code == 403 or other.status_code == 404  # no such project

    image = world.push.image("team/labelled", "v1")
    base = "/projects/team/repositories/labelled/artifacts/v1/labels"
    assert world.api("POST", base, as_user("guest"), json={"id": label_id}).status_code == 403
    assert world.api("POST", base, as_user("developer"), json={"id": label_id}).status_code == 200
    assert world.api("POST", base, json={"id": label_id}).status_code == 409
    assert world.api("POST", base, json={"id": global_id}).status_code == 200
    assert world.api("POST", base, json={"id": 999999}).status_code == 404
    art = world.ok("/projects/team/repositories/labelled/artifacts/v1", params={"with_label": "1"})
    assert sorted(x["id"] for x in art["labels"]) == sorted([label_id, global_id])
    path = "/projects/team/repositories/labelled/artifacts"
    world.push.image("team/labelled", "v2")
    assert digests(world, path, q=f"labels=({label_id} {global_id})") == [image.digest]
    assert len(digests(world, path)) == 2
    assert world.api("DELETE", f"{base}/{label_id}", as_user("guest")).status_code == 403
    assert world.api("DELETE", f"{base}/{label_id}", as_user("developer")).status_code == 200
    assert world.api("DELETE", f"{base}/{label_id}").status_code == 404
    # deleting a label detaches it everywhere
    assert world.api("DELETE", f"/labels/{global_id}").status_code == 200
    art = world.ok("/projects/team/repositories/labelled/artifacts/v1", params={"with_label": "1"})
    assert art["labels"] == []


# --- pulls -----------------------------------------------------------------------------------
def test_pull_time_and_count_are_recorded(world: World) -> None:
    image = world.push.image("team/pulled", "v1")
    # the HEAD first: were it counted, it would be written no later than the last GET
    world.push.client.request("HEAD", "/v2/team/pulled/manifests/v1")  # not a pull
    for reference in ("v1", "v1", image.digest):
        r = world.push.client.request("GET", f"/v2/team/pulled/manifests/{reference}")
        assert r.status_code == 200
    deadline = time.monotonic() + 10
    while True:  # written in batches, every couple of seconds (a batch may hold some)
        repo = world.ok("/projects/team/repositories/pulled")
        if repo["pull_count"] >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert repo["pull_count"] == 3
    art = world.ok("/projects/team/repositories/pulled/artifacts/v1")
    assert art["pull_time"] != NEVER
    [tag] = art["tags"]
    assert tag["pull_time"] != NEVER


# --- project summary and _deletable ----------------------------------------------------------
def test_project_summary(world: World) -> None:
    summary = world.ok("/projects/team/summary")
    repos = world.ok("/projects/team/repositories", params={"page_size": 100})
    assert summary["repo_count"] == len(repos)
    assert summary["quota"]["hard"] == {"storage": -1}
    assert summary["quota"]["used"]["storage"] > 0
    assert (
        summary["project_admin_count"],
        summary["maintainer_count"],
        summary["developer_count"],
        summary["guest_count"],
        summary["limited_guest_count"],
    ) == (2, 1, 1, 1, 1)  # the creator (admin) is a project admin too
    by_id = world.ok(f"/projects/{world.team_id}/summary")
    assert by_id["repo_count"] == summary["repo_count"]
    limited = world.ok("/projects/team/summary", as_user("limited"))
    assert "quota" in limited and limited.get("developer_count") is None  # no member list
    assert world.api("GET", "/projects/team/summary", None).status_code == 401
    assert world.api("GET", "/projects/team/summary", as_user("outsider")).status_code == 403
    assert world.ok("/projects/pub/summary", None)["repo_count"] == 1


def test_project_deletable(world: World) -> None:
    assert world.ok("/projects/team/_deletable") == {
        "deletable": False,
        "message": "the project contains repositories, can not be deleted",
    }
    r = world.api(
        "POST", "/projects", json={"project_name": "empty", "metadata": {"public": "false"}}
    )
    assert r.status_code == 201
    assert world.ok("/projects/empty/_deletable") == {"deletable": True, "message": ""}
    assert world.api("GET", "/projects/team/_deletable", as_user("maintainer")).status_code == 403
    assert world.api("GET", "/projects/team/_deletable", as_user("padmin")).status_code == 200
    assert world.api("GET", "/projects/team/_deletable", None).status_code == 401


# --- the role matrix over the artifact operations ---------------------------------------------
MATRIX = {
    # operation: who may (besides the system admin)
    "list": {"padmin", "maintainer", "developer", "guest", "limited"},
    "read": {"padmin", "maintainer", "developer", "guest", "limited"},
    "tags": {"padmin", "maintainer", "developer", "guest", "limited"},
    "tag": {"padmin", "maintainer", "developer"},
    "label": {"padmin", "maintainer", "developer"},
    "delete": {"padmin", "maintainer"},
}


@pytest.mark.parametrize("who", [*ROLES, "outsider", "anonymous"])
def test_artifact_operations_follow_the_role_matrix(world: World, who: str) -> None:
    creds = None if who == "anonymous" else as_user(who)
    image = world.push.image("team/matrix", f"for-{who}")
    base = f"/projects/team/repositories/matrix/artifacts/{image.digest}"
    label = world.api("POST", "/labels", json={"name": f"m-{who}", "scope": "g"})
    label_id = int(label.headers["Location"].rsplit("/", 1)[1])
    calls = {
        "list": ("GET", "/projects/team/repositories/matrix/artifacts", None),
        "read": ("GET", base, None),
        "tags": ("GET", f"{base}/tags", None),
        "tag": ("POST", f"{base}/tags", {"name": f"t-{who}"}),
        "label": ("POST", f"{base}/labels", {"id": label_id}),
        "delete": ("DELETE", base, None),
    }
    refused = 401 if creds is None else 403
    for operation, (method, path, body) in calls.items():
        r = world.api(method, path, creds, json=body)
        expected = 201 if method == "POST" and operation == "tag" else 200
        wanted = expected if who in MATRIX[operation] else refused
        assert r.status_code == wanted, (operation, r.status_code, r.text)


def test_changes_are_audited(world: World) -> None:
    image = world.push.image("team/audited", "v1")
    base = f"/projects/team/repositories/audited/artifacts/{image.digest}/tags"
    assert world.api("POST", base, json={"name": "v2"}).status_code == 201
    r = world.api("POST", "/labels", json={"name": "audited", "scope": "g"})
    assert r.status_code == 201
    logs = world.ok("/audit-logs", params={"page_size": 100, "q": "resource_type=tag"})
    assert any(e["operation"] == "create" and e["resource"] == "team/audited:v2" for e in logs), (
        logs
    )
    labels = world.ok("/audit-logs", params={"page_size": 100, "q": "resource_type=label"})
    assert any(e["operation"] == "create" and e["resource"] == "audited" for e in labels)


def test_a_deleted_projects_labels_go_with_it(world: World) -> None:
    r = world.api("POST", "/projects", json={"project_name": "shortlived"})
    assert r.status_code == 201
    project_id = int(r.headers["Location"].rsplit("/", 1)[1])
    label = {"name": "temp", "scope": "p", "project_id": project_id}
    created = world.api("POST", "/labels", json=label)
    assert created.status_code == 201
    label_id = int(created.headers["Location"].rsplit("/", 1)[1])
    assert world.api("DELETE", "/projects/shortlived").status_code == 200
    assert world.api("GET", f"/labels/{label_id}").status_code == 404


def test_read_only_registry_refuses_changes(tmp_path: Path) -> None:
    with serve_in_process(
        tmp_path / "data", auth=True, admin_password=ADMIN[1], read_only=True
    ) as server:
        r = requests.post(
            f"{server.url}/api/v2.0/labels",
            json={"name": "x", "scope": "g"},
            auth=ADMIN,
            timeout=10,
        )
        assert r.status_code == 405 and r.json()["errors"][0]["code"] == "UNSUPPORTED"
    assert not server.errors, server.error_log()


def test_odd_input_is_a_client_error(world: World) -> None:
    huge = 2**40
    assert world.api("GET", f"/labels/{huge}").status_code == 404
    assert world.api("DELETE", f"/labels/{huge}").status_code == 404
    base = "/projects/team/repositories/app/artifacts/v1/labels"
    assert world.api("POST", base, json={"id": 10**30}).status_code == 404
    assert world.api("DELETE", f"{base}/{huge}").status_code == 404
    assert world.api("DELETE", f"{base}/x").status_code == 422
    project_labels = {"scope": "p", "project_id": str(huge)}
    assert world.api("GET", "/labels", params=project_labels).status_code == 404
    label = {"name": "far", "scope": "p", "project_id": huge}
    assert world.api("POST", "/labels", json=label).status_code == 404
    copy = world.api(
        "POST", f"/projects/dest/repositories/{enc('Bad Name')}/artifacts",
        params={"from": "team/app:v1"},
    )  # fmt: skip
    assert copy.status_code == 400
    for ref in ("a%20b", "x" * 300, "sha256:zz"):  # no such tag or digest can exist
        for method in ("GET", "DELETE"):
            r = world.api(method, f"/projects/team/repositories/app/artifacts/{ref}")
            assert r.status_code == 404, (method, ref, r.status_code)
    # an index whose entries carry odd annotations still renders
    child = world.push.image("team/odd", None)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": child.digest,
                "size": len(child.body),
                "annotations": {"n": 1},
                "urls": [3],
                "platform": {"os.features": "not-a-list"},
            }
        ],
    }
    world.push.manifest("team/odd", "v1", doc, OCI_INDEX)
    art = world.ok("/projects/team/repositories/odd/artifacts/v1")
    assert art["references"][0]["annotations"] == {"n": 1}
