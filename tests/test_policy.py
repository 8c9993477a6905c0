"""Registry-wide policy through both APIs, against the application in this process with
access control on and the system admin calling: `delete_enabled: false` refuses every
delete, `read_only: true` every change, and nothing is changed by a refused request."""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from .helpers import OCI_MANIFEST, Client, sha256
from .inproc import InProcessServer, serve_in_process

ADMIN = ("admin", "Policy-Admin-1")
REPO = "library/app"
NESTED = "library/nested/deep"


@dataclass
class Image:
    digest: str
    manifest: bytes
    layer: str


class AdminClient(Client):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.http.auth = ADMIN

    def api(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.request(method, f"/api/v2.0{path}", **kw)

    def push(self, repo: str, tag: str) -> Image:
        digest, manifest = self.push_image(repo, tag, layers=1)
        layers = manifest["layers"]
        assert isinstance(layers, list)
        body = self.request("GET", f"/v2/{repo}/manifests/{tag}").content
        return Image(digest, body, layers[0]["digest"])

    def assert_pullable(self, repo: str, tag: str, image: Image) -> None:
        r = self.request("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200, r.text
        assert r.content == image.manifest
        r = self.request("GET", f"/v2/{repo}/manifests/{image.digest}")
        assert r.status_code == 200, r.text
        blob = self.request("GET", f"/v2/{repo}/blobs/{image.layer}")
        assert blob.status_code == 200 and sha256(blob.content) == image.layer


def assert_unsupported(r: requests.Response) -> None:
    """The /v2 answer to a change the registry's policy refuses."""
    assert r.status_code == 405, r.text
    assert r.json()["errors"][0]["code"] == "UNSUPPORTED", r.text


def assert_harbor_refused(r: requests.Response) -> None:
    assert r.status_code == 405, r.text
    errors = r.json()["errors"]
    assert errors and errors[0]["code"] and errors[0]["message"], r.text


def harbor_repo(repo: str) -> str:
    """The Harbor API's repository path segment: the name within the project, twice
    percent-encoded (as Harbor's own UI sends it)."""
    name = repo.split("/", 1)[1]
    return urllib.parse.quote(urllib.parse.quote(name, safe=""), safe="")


@pytest.fixture(scope="module")
def no_deletes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    data = tmp_path_factory.mktemp("no-deletes") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1], delete_enabled=False) as s:
        yield s
    assert not s.errors, s.error_log()


def test_deletes_disabled_through_v2(no_deletes: InProcessServer) -> None:
    admin = AdminClient(no_deletes.url)
    image = admin.push(REPO, "v1")
    assert_unsupported(admin.request("DELETE", f"/v2/{REPO}/manifests/{image.digest}"))
    assert_unsupported(admin.request("DELETE", f"/v2/{REPO}/manifests/v1"))
    assert_unsupported(admin.request("DELETE", f"/v2/{REPO}/blobs/{image.layer}"))
    admin.assert_pullable(REPO, "v1", image)
    assert admin.request("GET", f"/v2/{REPO}/tags/list").json()["tags"] == ["v1"]


def test_deletes_disabled_through_the_management_api(no_deletes: InProcessServer) -> None:
    admin = AdminClient(no_deletes.url)
    image = admin.push(NESTED, "v2")
    artifacts = f"/projects/library/repositories/{harbor_repo(NESTED)}/artifacts"
    assert_harbor_refused(admin.api("DELETE", f"{artifacts}/v2"))
    assert_harbor_refused(admin.api("DELETE", f"{artifacts}/{image.digest}"))
    assert_harbor_refused(
        admin.api("DELETE", f"/projects/library/repositories/{harbor_repo(NESTED)}")
    )
    admin.assert_pullable(NESTED, "v2", image)
    listed = admin.api("GET", artifacts)
    assert listed.status_code == 200, listed.text
    assert [a["digest"] for a in listed.json()] == [image.digest]
    assert [t["name"] for t in listed.json()[0]["tags"]] == ["v2"]


def test_read_only_refuses_pushes_and_deletes_and_serves_pulls(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as writable:
        image = AdminClient(writable.url).push(REPO, "v1")
    assert not writable.errors, writable.error_log()
    with serve_in_process(data, auth=True, admin_password=ADMIN[1], read_only=True) as server:
        admin = AdminClient(server.url)
        admin.assert_pullable(REPO, "v1", image)
        blob = os.urandom(256)
        # monolithic push
        assert_unsupported(
            admin.request(
                "POST", f"/v2/{REPO}/blobs/uploads/", params={"digest": sha256(blob)}, data=blob
            )
        )
        # chunked push: refused when the session would start, before any byte is sent
        assert_unsupported(admin.request("POST", f"/v2/{REPO}/blobs/uploads/"))
        assert admin.request("HEAD", f"/v2/{REPO}/blobs/{sha256(blob)}").status_code == 404
        # manifest push, by tag and by digest
        manifest = json.loads(image.manifest)
        manifest["annotations"] = {"n": os.urandom(4).hex()}
        body = json.dumps(manifest).encode()
        for reference in ("v2", sha256(body)):
            assert_unsupported(
                admin.request(
                    "PUT",
                    f"/v2/{REPO}/manifests/{reference}",
                    data=body,
                    headers={"Content-Type": OCI_MANIFEST},
                )
            )
        assert admin.request("GET", f"/v2/{REPO}/manifests/{sha256(body)}").status_code == 404
        # deletes, through both APIs
        assert_unsupported(admin.request("DELETE", f"/v2/{REPO}/manifests/{image.digest}"))
        assert_unsupported(admin.request("DELETE", f"/v2/{REPO}/blobs/{image.layer}"))
        artifacts = f"/projects/library/repositories/{harbor_repo(REPO)}/artifacts"
        assert_harbor_refused(admin.api("DELETE", f"{artifacts}/v1"))
        # and nothing changed
        admin.assert_pullable(REPO, "v1", image)
        assert admin.request("GET", f"/v2/{REPO}/tags/list").json()["tags"] == ["v1"]
    assert not server.errors, server.error_log()
