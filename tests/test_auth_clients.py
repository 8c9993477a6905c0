"""Real clients through the Docker token flow against a 2-worker process, and the
conformance suite with auth on against the application in this process."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from conformance import run as conformance_run

from .e2e.clients import make_image, run
from .helpers import Server, run_wharf
from .inproc import InProcessServer, serve_in_process

ADMIN = ("admin", "Admin-Pass-1")
DEV = ("dev", "Dev-Pass-123")
GUEST = ("visitor", "Guest-Pass-123")


def api(server: Server | InProcessServer, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, f"{server.url}/api/v2.0{path}", auth=ADMIN, timeout=30, **kw)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("wharf-auth-clients") / "data"
    with run_wharf(data, workers=2, auth=True, env={"WHARF_ADMIN_PASSWORD": ADMIN[1]}) as srv:
        populate(srv)
        yield srv


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    data = tmp_path_factory.mktemp("app-auth-clients") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as srv:
        populate(srv)
        yield srv
    assert not srv.errors, srv.error_log()


def populate(srv: Server | InProcessServer) -> None:
    """Users dev (developer of `apps`, maintainer of `conformance`) and visitor (guest of
    `apps`); both projects private."""
    for user, password in (DEV, GUEST):
        r = api(
            srv,
            "POST",
            "/users",
            json={
                "username": user,
                "email": f"{user}@example.com",
                "realname": user,
                "password": password,
            },
        )
        assert r.status_code == 201, r.text
    for project in ("apps", "conformance"):
        assert (
            api(
                srv,
                "POST",
                "/projects",
                json={"project_name": project, "metadata": {"public": "false"}},
            ).status_code
            == 201
        )
    api(
        srv,
        "POST",
        "/projects/apps/members",
        json={"role_id": 2, "member_user": {"username": DEV[0]}},
    )
    api(
        srv,
        "POST",
        "/projects/apps/members",
        json={"role_id": 3, "member_user": {"username": GUEST[0]}},
    )
    api(
        srv,
        "POST",
        "/projects/conformance/members",
        json={"role_id": 4, "member_user": {"username": DEV[0]}},
    )


def test_conformance_suite_with_auth_as_a_maintainer(app_server: InProcessServer) -> None:
    """The whole suite through the Bearer flow as a (non-admin) maintainer of `conformance`."""
    out = io.StringIO()
    report = conformance_run(app_server.url, username=DEV[0], password=DEV[1], out=out)
    assert report.passed > 50, out.getvalue()
    assert report.ok, "\n".join(f"{r.id}: {r.reason}" for r in report.failures())
    assert report.skipped == 0, out.getvalue()


def test_conformance_anonymous_is_refused(app_server: InProcessServer) -> None:
    report = conformance_run(app_server.url, only="push", out=io.StringIO())
    assert not report.ok and report.passed == 0


def _creds(pair: tuple[str, str]) -> str:
    return f"{pair[0]}:{pair[1]}"


@pytest.mark.e2e
def test_skopeo_through_the_token_flow(server: Server, tmp_path: Path) -> None:
    host = server.url.split("://", 1)[1]
    env = {
        "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"),
        "CONTAINERS_REGISTRIES_CONF": str(tmp_path / "r.conf"),
    }
    (tmp_path / "auth.json").write_text("{}")
    (tmp_path / "r.conf").write_text("")
    layout = tmp_path / "layout"
    make_image(layout, "v1", layers=2, files_per_layer=1, file_size=4096)
    run(
        [
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            _creds(DEV),
            f"oci:{layout}:v1",
            f"docker://{host}/apps/web:v1",
        ],
        env=env,
    )
    # copy between repositories of the registry: cross-repo mounts with pull on the source
    run(
        [
            "skopeo",
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--src-creds",
            _creds(DEV),
            "--dest-creds",
            _creds(DEV),
            f"docker://{host}/apps/web:v1",
            f"docker://{host}/apps/web-copy:v1",
        ],
        env=env,
    )
    out = run(
        [
            "skopeo",
            "inspect",
            "--tls-verify=false",
            "--creds",
            _creds(GUEST),
            f"docker://{host}/apps/web-copy:v1",
        ],
        env=env,
    )
    assert json.loads(out.stdout)["Name"].endswith("apps/web-copy")
    tags = run(
        [
            "skopeo",
            "list-tags",
            "--tls-verify=false",
            "--creds",
            _creds(GUEST),
            f"docker://{host}/apps/web",
        ],
        env=env,
    )
    assert json.loads(tags.stdout)["Tags"] == ["v1"]
    # a guest may not push; anonymous may not read a private project; wrong password fails
    denied = run(
        [
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            _creds(GUEST),
            f"oci:{layout}:v1",
            f"docker://{host}/apps/guest:v1",
        ],
        env=env,
        check=False,
    )
    assert denied.returncode != 0 and (
        "denied" in denied.stderr.lower() or "unauthorized" in denied.stderr.lower()
    )
    anon = run(
        ["skopeo", "inspect", "--tls-verify=false", "--no-creds", f"docker://{host}/apps/web:v1"],
        env=env,
        check=False,
    )
    assert anon.returncode != 0
    bad = run(
        [
            "skopeo",
            "inspect",
            "--tls-verify=false",
            "--creds",
            "dev:wrong",
            f"docker://{host}/apps/web:v1",
        ],
        env=env,
        check=False,
    )
    assert bad.returncode != 0
    # the public `library` project: admin pushes, anyone pulls
    run(
        [
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            _creds(ADMIN),
            f"oci:{layout}:v1",
            f"docker://{host}/library/base:v1",
        ],
        env=env,
    )
    run(
        [
            "skopeo",
            "inspect",
            "--tls-verify=false",
            "--no-creds",
            f"docker://{host}/library/base:v1",
        ],
        env=env,
    )
    # delete needs the delete action: the developer is refused, the admin is not
    refused = run(
        [
            "skopeo",
            "delete",
            "--tls-verify=false",
            "--creds",
            _creds(DEV),
            f"docker://{host}/apps/web-copy:v1",
        ],
        env=env,
        check=False,
    )
    assert refused.returncode != 0
    run(
        [
            "skopeo",
            "delete",
            "--tls-verify=false",
            "--creds",
            _creds(ADMIN),
            f"docker://{host}/apps/web-copy:v1",
        ],
        env=env,
    )
    logs = api(server, "GET", "/projects/apps/logs", params={"page_size": 100}).json()
    # Harbor's vocabulary: a push creates an artifact
    assert {"create", "pull", "delete"} <= {e["operation"] for e in logs}


@pytest.mark.e2e
def test_oras_py_basic_auth_on_http(server: Server, tmp_path: Path) -> None:
    """oras-py pushes and pulls an artifact with Basic credentials on /v2 over plain http.
    (Its token backend re-sends a stale token on a 401 and refreshes only on 403, so it
    cannot widen a token's scope against a spec-following registry; not tested.)"""
    backend = "basic"
    oras_provider = pytest.importorskip("oras.provider")
    host = server.url.split("://", 1)[1]
    artifact = tmp_path / "hello.txt"
    artifact.write_text("hello from oras\n")
    reg = oras_provider.Registry(hostname=host, insecure=True, auth_backend=backend)
    reg.login(
        username=DEV[0],
        password=DEV[1],
        tls_verify=False,
        hostname=host,
        config_path=str(tmp_path / "config.json"),
    )
    res = reg.push(
        target=f"{host}/apps/notes-{backend}:v1",
        files=[str(artifact)],
        disable_path_validation=True,
    )
    assert res.status_code in (200, 201), res.text
    pulled = reg.pull(target=f"{host}/apps/notes-{backend}:v1", outdir=str(tmp_path / "out"))
    assert Path(pulled[0]).read_text() == "hello from oras\n"
