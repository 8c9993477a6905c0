"""Storage quotas over the real API, in process, on SQLite and PostgreSQL: ``storage_limit``
at project create and update, the configured default (``storage_per_project``),
Harbor's /quotas (list with reference/reference_id/sort/page, get, update), the project
summary's quota, and /v2 pushes refused with 403 DENIED naming the quota (blob commit,
mount, manifest PUT), audited as denied."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from .inproc import ADMIN, serve_in_process

PASSWORD = "Quota-User-Pass-1"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_manifest(config: bytes, layers: list[bytes]) -> bytes:
    def entry(media_type: str, data: bytes) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": sha(data), "size": len(data)}

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": entry("application/vnd.oci.image.config.v1+json", config),
            "layers": [entry("application/vnd.oci.image.layer.v1.tar", d) for d in layers],
        }
    ).encode()


class World:
    def __init__(self, url: str) -> None:
        self.url = url

    def api(
        self, method: str, path: str, who: tuple[str, str] = ADMIN, **kw: Any
    ) -> requests.Response:
        return requests.request(method, f"{self.url}/api/v2.0{path}", auth=who, timeout=30, **kw)

    def ok(self, path: str, **kw: Any) -> Any:
        r = self.api("GET", path, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def blob(self, repo: str, data: bytes) -> requests.Response:
        return requests.post(
            f"{self.url}/v2/{repo}/blobs/uploads/",
            params={"digest": sha(data)},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
            auth=ADMIN,
            timeout=30,
        )

    def mount(self, repo: str, data: bytes, source: str) -> requests.Response:
        return requests.post(
            f"{self.url}/v2/{repo}/blobs/uploads/",
            params={"mount": sha(data), "from": source},
            auth=ADMIN,
            timeout=30,
        )

    def manifest(self, repo: str, ref: str, body: bytes) -> requests.Response:
        return requests.put(
            f"{self.url}/v2/{repo}/manifests/{ref}",
            data=body,
            headers={"Content-Type": OCI_MANIFEST},
            auth=ADMIN,
            timeout=30,
        )

    def project_id(self, name: str) -> int:
        return int(self.ok(f"/projects/{name}")["project_id"])

    def quota(self, project: str) -> dict[str, Any]:
        found = self.ok("/quotas", params={"reference_id": str(self.project_id(project))})
        assert len(found) == 1, found
        return dict(found[0])

    def used(self, project: str) -> int:
        return int(self.quota(project)["used"]["storage"])

    def create(self, name: str, who: tuple[str, str] = ADMIN, **body: Any) -> None:
        r = self.api("POST", "/projects", who, json={"project_name": name, **body})
        assert r.status_code == 201, r.text


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    data: Path = tmp_path_factory.mktemp("harbor-quotas") / "data"
    environ = {}
    if request.param == "postgres":
        postgres = request.getfixturevalue("postgres")
        environ["WHARF_DATABASE__URL"] = postgres.create_database("harbor_quotas")
    with serve_in_process(data, auth=True, admin_password=ADMIN[1], environ=environ) as server:
        w = World(server.url)
        user = {"username": "dev", "password": PASSWORD, "email": "dev@example.com"}
        assert w.api("POST", "/users", json={**user, "realname": "Dev"}).status_code == 201
        yield w
        assert not server.errors, server.error_log()


def test_storage_limit_at_create_and_update_and_the_quota_api(world: World) -> None:
    w = world
    w.create("qa", storage_limit=5000)
    quota = w.quota("qa")
    pid = w.project_id("qa")
    assert quota["id"] == pid
    assert quota["ref"] == {"id": pid, "name": "qa", "owner_name": "admin"}
    assert (quota["hard"], quota["used"]) == ({"storage": 5000}, {"storage": 0})
    assert quota["creation_time"] and quota["update_time"]
    assert w.ok(f"/quotas/{pid}") == quota
    # no limit given (or 0): the configured default, unlimited unless set
    w.create("qb")
    w.create("qz", storage_limit=0)
    assert w.quota("qb")["hard"] == {"storage": -1} == w.quota("qz")["hard"]
    # the default is one of Harbor's configurations
    r = w.api("PUT", "/configurations", json={"storage_per_project": 7777})
    assert r.status_code == 200, r.text
    assert w.ok("/configurations")["storage_per_project"] == {"value": 7777, "editable": True}
    w.create("qc")
    assert w.quota("qc")["hard"] == {"storage": 7777}
    assert w.api("PUT", "/configurations", json={"storage_per_project": 0}).status_code == 400
    # a non-admin's storage_limit is not theirs to choose: the default applies
    w.create("qd", ("dev", PASSWORD), storage_limit=1)
    assert w.quota("qd")["hard"] == {"storage": 7777}
    assert w.api("PUT", "/configurations", json={"storage_per_project": -1}).status_code == 200
    for bad in (-2, 1024**5 + 1):
        r = w.api("POST", "/projects", json={"project_name": "qbad", "storage_limit": bad})
        assert r.status_code == 400, r.text
    assert w.api("HEAD", "/projects", params={"project_name": "qbad"}).status_code == 404

    # PUT /projects: a system admin changes the limit; a project admin may repeat it only
    assert w.api("PUT", "/projects/qa", json={"storage_limit": 6000}).status_code == 200
    assert w.quota("qa")["hard"] == {"storage": 6000}
    assert w.api("PUT", "/projects/qa", json={"storage_limit": -5}).status_code == 400
    dev = ("dev", PASSWORD)
    assert w.api("PUT", "/projects/qd", dev, json={"storage_limit": 7777}).status_code == 200
    assert w.api("PUT", "/projects/qd", dev, json={"storage_limit": 1}).status_code == 403
    assert w.quota("qd")["hard"] == {"storage": 7777}

    # PUT /quotas/{id}
    r = w.api("PUT", f"/quotas/{pid}", json={"hard": {"storage": 4000}})
    assert r.status_code == 200, r.text
    assert w.ok(f"/quotas/{pid}")["hard"] == {"storage": 4000}
    for body, why in (
        ({}, "hard required"),
        ({"hard": {}}, "hard required"),
        ({"hard": {"count": 3}}, "not support"),
        ({"hard": {"storage": 0}}, "invalid"),
    ):
        r = w.api("PUT", f"/quotas/{pid}", json=body)
        assert r.status_code == 400 and why in r.json()["errors"][0]["message"], r.text
    for path in ("/quotas/999999", "/quotas/0"):
        r = w.api("GET", path)
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NOT_FOUND"
    assert w.api("GET", "/quotas/abc").status_code == 422  # as go-swagger answers
    assert w.api("PUT", "/quotas/999999", json={"hard": {"storage": 1}}).status_code == 404
    # system admins only
    for method, path in (("GET", "/quotas"), ("GET", f"/quotas/{pid}")):
        assert w.api(method, path, dev).status_code == 403
    assert w.api("PUT", f"/quotas/{pid}", dev, json={"hard": {"storage": 1}}).status_code == 403
    assert requests.get(f"{w.url}/api/v2.0/quotas", timeout=10).status_code == 401

    # list: every project, sorted, paged, filtered by reference
    everything = w.ok("/quotas", params={"page_size": 100})
    names = {q["ref"]["name"] for q in everything}
    assert {"library", "qa", "qb", "qc", "qd"} <= names
    by_hard = w.ok("/quotas", params={"sort": "-hard.storage", "page_size": 100})
    hards = [q["hard"]["storage"] for q in by_hard]
    limited = [h for h in hards if h >= 0]
    assert hards[: hards.count(-1)] == [-1] * hards.count(-1)  # unlimited is the largest
    assert limited == sorted(limited, reverse=True)
    page = w.api("GET", "/quotas", params={"page": 2, "page_size": 2})
    assert page.status_code == 200 and len(page.json()) == 2
    assert int(page.headers["X-Total-Count"]) == len(everything)
    assert 'rel="prev"' in page.headers["Link"]
    assert (
        w.ok("/quotas", params={"reference": "project", "reference_id": str(pid)})[0]["id"] == pid
    )
    assert w.ok("/quotas", params={"reference": "other"}) == []
    assert w.ok("/quotas", params={"reference_id": "999999"}) == []


def test_pushes_count_each_blob_once_and_stop_at_the_limit(world: World) -> None:
    w = world
    config, shared, own = b'{"os":"linux","q":1}', b"S" * 2000, b"O" * 500
    first = image_manifest(config, [shared])
    second = image_manifest(config, [shared, own])
    need = len(config) + len(shared) + len(first) + len(own) + len(second)
    w.create("qpush", storage_limit=need)
    for data in (config, shared):
        assert w.blob("qpush/one", data).status_code == 201
    assert w.manifest("qpush/one", "v1", first).status_code == 201
    assert w.used("qpush") == len(config) + len(shared) + len(first)
    # the same config and layer in another repository of the project (mounted, or
    # uploaded again) count once; the second image fills the quota exactly
    assert w.mount("qpush/two", shared, "qpush/one").status_code == 201
    assert w.blob("qpush/two", config).status_code == 201
    assert w.blob("qpush/two", own).status_code == 201
    assert w.manifest("qpush/two", "v1", second).status_code == 201
    assert w.used("qpush") == need
    summary = w.ok("/projects/qpush/summary")
    assert summary["quota"] == {"hard": {"storage": need}, "used": {"storage": need}}

    # full: a new blob is refused with 403 DENIED naming the quota, and leaves nothing
    extra = b"E" * 10
    r = w.blob("qpush/two", extra)
    assert r.status_code == 403, r.text
    error = r.json()["errors"][0]
    assert error["code"] == "DENIED"
    assert "quota" in error["message"] and str(need) in error["message"]
    assert f"would add {len(extra)} bytes" in error["message"]
    head = requests.head(f"{w.url}/v2/qpush/two/blobs/{sha(extra)}", auth=ADMIN, timeout=10)
    assert head.status_code == 404
    # a chunked upload is refused at its final PUT, the session then still there
    r = requests.post(f"{w.url}/v2/qpush/two/blobs/uploads/", auth=ADMIN, timeout=10)
    assert r.status_code == 202
    location = r.headers["Location"]
    location = location if location.startswith("http") else w.url + location
    r = requests.put(location, params={"digest": sha(extra)}, data=extra, auth=ADMIN, timeout=10)
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
    # a tag on a manifest already there needs no room
    assert w.manifest("qpush/two", "latest", second).status_code == 201
    # a mount into a third repository of the project needs no room either (the blob is
    # in the project); into another project it needs its own
    assert w.mount("qpush/three", own, "qpush/two").status_code == 201
    w.create("qother", storage_limit=100)
    r = w.mount("qother/x", own, "qpush/two")
    assert r.status_code == 403 and "quota" in r.json()["errors"][0]["message"]

    # a manifest that does not fit: its layers are in, the manifest is refused and absent
    third = image_manifest(config, [own, shared])  # a new manifest over known blobs
    r = w.manifest("qpush/one", "v2", third)
    assert r.status_code == 403 and "quota" in r.json()["errors"][0]["message"], r.text
    r = requests.get(f"{w.url}/v2/qpush/one/manifests/{sha(third)}", auth=ADMIN, timeout=10)
    assert r.status_code == 404
    tags = requests.get(f"{w.url}/v2/qpush/one/tags/list", auth=ADMIN, timeout=10).json()
    assert tags["tags"] == ["v1"]
    assert w.used("qpush") == need

    # deleting gives room back: the manifest's own bytes at once
    r = requests.delete(f"{w.url}/v2/qpush/two/manifests/{sha(second)}", auth=ADMIN, timeout=10)
    assert r.status_code == 202
    assert w.used("qpush") == need - len(second)
    assert w.blob("qpush/one", own).status_code == 201  # in the project already: no room
    assert w.manifest("qpush/one", "v2", third).status_code == 201
    # raising the limit lets more in
    assert w.api("PUT", f"/quotas/{w.project_id('qpush')}", json={"hard": {"storage": -1}})
    assert w.blob("qpush/two", extra).status_code == 201

    # each refusal is in the audit log as denied, with the quota's words
    logs = w.ok("/audit-logs", params={"page_size": 100, "q": "operation=create"})
    denied = [e for e in logs if e["result"] == "denied" and e["project"] == "qpush"]
    assert len(denied) >= 3
    assert all("quota" in e["detail"] for e in denied)
    assert {e["resource"] for e in denied} >= {f"qpush/two@{sha(extra)}", f"qpush/one@{sha(third)}"}
