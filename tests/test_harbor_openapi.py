"""Wharf's own OpenAPI document of /api/v2.0: generated from the operations the resource
modules declare, served at /api/v2.0/swagger.json, in step with the router, and fuzzed
with schemathesis (no 5xx, every answer as documented)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from wharf.registry.http.harbor import app as harbor_app
from wharf.registry.http.harbor.app import create_harbor_app, declared_apis, document

from .inproc import ADMIN, InProcessServer, serve_in_process

# Modules whose operations are not declared yet: their routes are served but not in the
# document. A module leaves this list as soon as it has an ``api`` (checked below).
NOT_DECLARED: set[str] = set()
EXAMPLES_PER_OPERATION = 8
# no 5xx, and every answer as documented (its status, content type, headers and body);
# schemathesis' "positive data accepted" is left out: the document describes types, and
# Harbor answers 400 for values its types allow but its rules refuse (a name, a password)
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]


def test_every_route_is_documented_and_every_operation_routed() -> None:
    app = create_harbor_app()
    undeclared_paths = set()
    for module in harbor_app.RESOURCES:
        name = module.__name__.rsplit(".", 1)[1]
        if getattr(module, "api", None) is None:
            assert name in NOT_DECLARED, f"{name} declares no operations"
            probe = type(app.router)()
            module.add_routes(probe)
            undeclared_paths |= {(r.method, r.resource.canonical) for r in probe.routes()}
    routed = {
        (r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None
    }
    documented = {
        (method.upper(), path)
        for path, ops in document()["paths"].items()  # type: ignore[attr-defined]
        for method in ops
    }
    assert routed - undeclared_paths == documented
    ids = [op.operation_id for api in declared_apis() for op in api.operations]
    assert len(ids) == len(set(ids)), "operationIds are unique"


def test_document_is_valid_openapi_with_harbors_operation_ids() -> None:
    doc = document()
    schema = schemathesis.openapi.from_dict(doc)
    schema.validate()
    ops = {
        op["operationId"]
        for path in doc["paths"].values()  # type: ignore[attr-defined]
        for op in path.values()
    }
    for harbor in (
        "listProjects",
        "getProject",
        "createUser",
        "ListRobot",
        "listAuditLogs",
        "getCurrentUserPermissions",
        "setCliSecret",
        "getHealth",
        "search",
    ):
        assert harbor in ops


def test_logs_are_plain_text_and_array_parameters_arrays() -> None:
    """As Harbor documents them: a log (and the ping) is a text/plain string, the old
    webhook jobs' status an array."""
    paths = document()["paths"]  # type: ignore[index]
    logs = [
        ("/ping", "get"),
        ("/system/gc/{gc_id}/log", "get"),
        ("/system/purgeaudit/{purge_id}/log", "get"),
        ("/replication/executions/{id}/tasks/{task_id}/log", "get"),
        ("/retentions/{id}/executions/{eid}/tasks/{tid}", "get"),
        (
            "/projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}"
            "/executions/{execution_id}/tasks/{task_id}/log",
            "get",
        ),
    ]
    for path, method in logs:
        answer = paths[path][method]["responses"]["200"]
        assert answer["content"] == {"text/plain": {"schema": {"type": "string"}}}, path
        assert "Content-Type" in answer["headers"], path
    params = paths["/projects/{project_name_or_id}/webhook/jobs"]["get"]["parameters"]
    status = next(p for p in params if p["name"] == "status")
    assert status["schema"] == {"type": "array", "items": {"type": "string"}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    data: Path = tmp_path_factory.mktemp("harbor-openapi") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as app:
        yield app
    assert not app.errors, app.error_log()


def test_served_document(server: InProcessServer) -> None:
    r = requests.get(f"{server.url}/api/v2.0/swagger.json", timeout=10)
    assert r.status_code == 200 and r.json()["openapi"].startswith("3.1")
    assert r.json()["paths"] == document()["paths"]


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
    server: InProcessServer,
) -> None:
    """Every declared operation, a few generated requests each (as the system admin and
    anonymously). Every operation is fuzzed: a time budget would silently drop the last ones."""
    requests.post(
        f"{server.url}/api/v2.0/projects", json={"project_name": "fuzzed"}, auth=ADMIN, timeout=10
    )
    schema = schemathesis.openapi.from_url(f"{server.url}/api/v2.0/swagger.json")
    checked = 0
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:
            for auth in (ADMIN, None):
                response = case.call(auth=auth, timeout=10)
                assert response.status_code < 500, (case.method, case.path, response.text)
                case.validate_response(response, checks=CHECKS)

        call()
        checked += 1
    methods = {"get", "put", "post", "delete", "head", "patch"}
    documented = sum(
        1
        for ops in document()["paths"].values()  # type: ignore[attr-defined]
        for method in ops
        if method in methods
    )
    documented -= 1  # schemathesis leaves out the operation that serves the document itself
    assert checked == operations == documented
