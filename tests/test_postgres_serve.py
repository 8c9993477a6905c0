"""`wharf serve --workers 2` on PostgreSQL with access control on: the conformance suite and
a token-authenticated push and pull, with nothing written to a SQLite file."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import requests

from conformance import run as conformance_run

from .helpers import Server, run_wharf
from .services import Postgres
from .test_auth_matrix import Caller

pytestmark = pytest.mark.services

ADMIN = ("admin", "Admin-Pass-1")


@pytest.fixture(scope="module")
def pg_wharf(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    postgres.create_database("serve_e2e")
    data = tmp_path_factory.mktemp("wharf-pg") / "data"
    env = {"WHARF_ADMIN_PASSWORD": ADMIN[1], **postgres.wharf_env("serve_e2e", pool_max="4")}
    with run_wharf(data, workers=2, auth=True, env=env) as server:
        for project in ("conformance", "apps"):
            r = requests.post(
                f"{server.url}/api/v2.0/projects",
                json={"project_name": project, "metadata": {"public": "false"}},
                auth=ADMIN,
                timeout=30,
            )
            assert r.status_code == 201, r.text
        yield server
    assert '"level":"error"' not in server.log(), server.log()[-5000:]
    assert not (data / "wharf.db").exists()  # everything went to PostgreSQL


def test_conformance_suite_on_postgres(pg_wharf: Server) -> None:
    out = io.StringIO()
    report = conformance_run(pg_wharf.url, username=ADMIN[0], password=ADMIN[1], out=out)
    assert report.passed > 50, out.getvalue()
    assert report.ok, "\n".join(f"{r.id}: {r.reason}" for r in report.failures())
    assert report.skipped == 0, out.getvalue()


def test_token_push_and_pull_on_postgres(pg_wharf: Server, postgres: Postgres) -> None:
    admin = Caller(pg_wharf.url, ADMIN)
    status, digest = admin.push_image("apps/web", "v1")
    assert status == 201
    assert admin.token is not None  # the push went through the Bearer flow

    puller = Caller(pg_wharf.url, ADMIN)
    r = puller.request(
        "GET",
        "/v2/apps/web/manifests/v1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == digest
    for layer in [r.json()["config"], *r.json()["layers"]]:
        blob = puller.request("GET", f"/v2/apps/web/blobs/{layer['digest']}")
        assert blob.status_code == 200 and len(blob.content) == layer["size"]
    anonymous = requests.get(f"{pg_wharf.url}/v2/apps/web/manifests/v1", timeout=30)
    assert anonymous.status_code == 401

    # the tag is a row in PostgreSQL
    rows = postgres.psql(
        "SELECT count(*) FROM tags t JOIN repositories r ON r.id = t.repo_id "
        "WHERE r.name = 'apps/web' AND t.name = 'v1'",
        "serve_e2e",
    )
    assert rows.strip() == "1"
