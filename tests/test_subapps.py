"""The token service (/service) and Harbor's API (/api/v2.0) as sub-applications of a real
server: their own error formats, deletes through the content core, and the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from .helpers import Client, Server, run_wharf

ADMIN_PASSWORD = "Admin-Pass-1"
ADMIN = ("admin", ADMIN_PASSWORD)
SERVICE = "registry.test.example"


def api(server: Server, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, f"{server.url}/api/v2.0{path}", auth=ADMIN, timeout=30, **kw)


def admin_client(server: Server) -> Client:
    client = Client(server.url)
    client.http.auth = ADMIN  # /v2 accepts Basic directly by default
    return client


def create_project(server: Server, name: str) -> None:
    r = api(
        server, "POST", "/projects", json={"project_name": name, "metadata": {"public": "false"}}
    )
    assert r.status_code == 201, r.text


def harbor_error(r: requests.Response) -> dict[str, str]:
    body = r.json()
    assert list(body) == ["errors"] and len(body["errors"]) == 1, body
    error: dict[str, str] = body["errors"][0]
    return error


def start(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Iterator[Server]:
    data: Path = tmp_path_factory.mktemp("wharf-subapps") / "data"
    with run_wharf(data, auth=True, env={"WHARF_ADMIN_PASSWORD": ADMIN_PASSWORD, **env}) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start(tmp_path_factory, {"WHARF_AUTH__SERVICE": SERVICE})


@pytest.fixture(scope="module")
def no_deletes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start(tmp_path_factory, {"WHARF_DELETE_ENABLED": "false"})


# --- the token sub-app -----------------------------------------------------------------


def test_token_refusals_name_the_configured_service(server: Server) -> None:
    r = requests.get(f"{server.url}/service/token", auth=("admin", "wrong"), timeout=30)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == f'Basic realm="{SERVICE}"'
    assert r.json()["error"] == "invalid_grant"
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    form = {"grant_type": "password", "client_id": "t", "username": "admin", "password": "no"}
    r = requests.post(f"{server.url}/service/token", data=form, timeout=30)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == f'Basic realm="{SERVICE}"'
    challenge = requests.get(f"{server.url}/v2/", timeout=30).headers["WWW-Authenticate"]
    assert f'service="{SERVICE}"' in challenge
    ok = requests.get(
        f"{server.url}/service/token", params={"service": SERVICE}, auth=ADMIN, timeout=30
    )
    assert ok.status_code == 200 and ok.json()["token"]
    assert requests.get(f"{server.url}/service/keys", timeout=30).json()["keys"]


def test_token_sub_app_answers_unknown_paths_and_methods_in_its_format(server: Server) -> None:
    r = requests.get(f"{server.url}/service/nothing", timeout=30)
    assert r.status_code == 404
    assert r.json()["error"] == "invalid_request"
    assert r.json()["errors"][0]["code"] == "NOT_FOUND"
    r = requests.delete(f"{server.url}/service/token", timeout=30)
    assert r.status_code == 405
    assert r.json()["errors"][0]["code"] == "METHOD_NOT_ALLOWED"
    assert "GET" in r.headers["Allow"] and "POST" in r.headers["Allow"]


# --- Harbor's error body ---------------------------------------------------------------


def test_harbor_unknown_path_is_a_harbor_404(server: Server) -> None:
    r = api(server, "GET", "/no-such-resource")
    assert r.status_code == 404
    assert harbor_error(r)["code"] == "NOT_FOUND"


def test_harbor_wrong_method_is_a_harbor_405(server: Server) -> None:
    r = api(server, "PATCH", "/users")
    assert r.status_code == 405
    assert harbor_error(r)["code"] == "METHOD_NOT_ALLOWED"
    assert {"GET", "POST"} <= {m.strip() for m in r.headers["Allow"].split(",")}


def test_harbor_paging_link_carries_the_full_path(server: Server) -> None:
    for name in ("pager-a", "pager-b"):
        create_project(server, name)
    r = api(server, "GET", "/projects", params={"page": 1, "page_size": 1, "name": "pager"})
    assert r.status_code == 200
    assert r.headers["Link"].startswith("</api/v2.0/projects?")
    assert r.headers["X-Total-Count"] == "2"


# --- deletes through the content core --------------------------------------------------


def push(server: Server, repo: str, tag: str) -> str:
    digest, _ = admin_client(server).push_image(repo, tag, layers=1)
    return digest


def test_deletes_refused_when_disabled(no_deletes: Server) -> None:
    create_project(no_deletes, "frozen")
    push(no_deletes, "frozen/app", "v1")
    r = api(no_deletes, "DELETE", "/projects/frozen/repositories/app/artifacts/v1")
    assert r.status_code == 405
    assert harbor_error(r)["code"] == "UNSUPPORTED"
    r = api(no_deletes, "DELETE", "/projects/frozen/repositories/app")
    assert r.status_code == 405
    assert harbor_error(r)["code"] == "UNSUPPORTED"
    artifacts = api(no_deletes, "GET", "/projects/frozen/repositories/app/artifacts")
    assert [t["name"] for t in artifacts.json()[0]["tags"]] == ["v1"]


def audit_events(server: Server, project: str) -> list[dict[str, Any]]:
    r = api(server, "GET", "/audit-logs", params={"q": "operation=delete", "page_size": 100})
    assert r.status_code == 200, r.text
    return [e for e in r.json() if e["project"] == project]


def test_deletes_allowed_by_default_and_audited_once(server: Server) -> None:
    create_project(server, "shop")
    push(server, "shop/web", "v1")
    push(server, "shop/api", "v1")
    r = api(server, "DELETE", "/projects/shop/repositories/web/artifacts/v1")
    assert r.status_code == 200, r.text
    assert api(server, "GET", "/projects/shop/repositories/web/artifacts").json() == []

    r = api(server, "DELETE", "/projects/shop")
    assert r.status_code == 412
    assert harbor_error(r)["code"] == "PRECONDITION"
    assert api(server, "GET", "/projects/shop").status_code == 200

    for repo in ("web", "api"):
        assert api(server, "DELETE", f"/projects/shop/repositories/{repo}").status_code == 200
    assert api(server, "DELETE", "/projects/shop").status_code == 200
    assert api(server, "GET", "/projects/shop").status_code == 404
    assert api(server, "DELETE", "/projects/shop").status_code == 404

    events = audit_events(server, "shop")  # changes are recorded before the answer
    kinds = sorted((e["resource_type"], e["resource"]) for e in events)
    deletes = [k for k in kinds if k[0] in ("project", "repository")]
    assert deletes == [
        ("project", "shop"),
        ("repository", "shop/api"),
        ("repository", "shop/web"),
    ]
    assert all(e["result"] == "success" and e["username"] == "admin" for e in events)
