"""Hostile input never gets a 5xx: random requests against every endpoint, through a real
socket to the application in this process, checked for a 4xx with an OCI error body (or a
success). Over a thousand requests a run: marked slow; tests/test_v2_errors.py walks the
client errors deterministically in the fast set."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import OCI_INDEX, OCI_MANIFEST, Client
from .inproc import ADMIN, InProcessServer

pytestmark = pytest.mark.slow

names = st.one_of(
    st.sampled_from(["fuzz/app", "fuzz/other", "a", "Fuzz/App", "..", "a..b", "a/" * 130 + "z"]),
    st.text(alphabet="abc./_-%2eAZ:", min_size=1, max_size=20),
)
digests = st.one_of(
    st.sampled_from(
        [
            "sha256:" + "0" * 64,
            "sha512:" + "1" * 128,
            "sha256:" + "A" * 64,
            "md5:" + "0" * 32,
            "sha256:..%2f..%2fetc",
            "",
        ]
    ),
    st.text(alphabet="sha256:0123456789abcdefxyz%/", max_size=80),
)
references = st.one_of(digests, st.text(alphabet="latest-_.:vV0123%", min_size=1, max_size=140))
uuids = st.one_of(st.uuids().map(str), st.text(alphabet="abc-0123%./", max_size=40))
header_values = st.text(alphabet="bytes=0123456789-,/* abc;", max_size=30)
bodies = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"{}",
            b"[]",
            b"null",
            json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST}).encode(),
            json.dumps({"schemaVersion": 2, "manifests": [{"digest": 1}]}).encode(),
            json.dumps({"schemaVersion": 2, "config": {}, "layers": [None]}).encode(),
            json.dumps({"schemaVersion": 2, "subject": "x", "annotations": []}).encode(),
        ]
    ),
)


@st.composite
def requests_(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes, dict[str, str]]:
    name = draw(names)
    kind = draw(st.sampled_from(["blob", "manifest", "upload", "start", "tags", "refs", "cat"]))
    path = {
        "blob": lambda: f"/v2/{name}/blobs/{draw(digests)}",
        "manifest": lambda: f"/v2/{name}/manifests/{draw(references)}",
        "upload": lambda: f"/v2/{name}/blobs/uploads/{draw(uuids)}",
        "start": lambda: f"/v2/{name}/blobs/uploads/",
        "tags": lambda: f"/v2/{name}/tags/list",
        "refs": lambda: f"/v2/{name}/referrers/{draw(digests)}",
        "cat": lambda: "/v2/_catalog",
    }[kind]()
    method = draw(st.sampled_from(["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS"]))
    headers = {}
    for header in ("Content-Range", "Range", "Content-Type", "Accept"):
        if draw(st.booleans()):
            headers[header] = draw(
                header_values
                if header.endswith("Range")
                else st.sampled_from(
                    [OCI_MANIFEST, OCI_INDEX, "text/plain", "application/json", "*/*", ";;"]
                )
            )
    params = {}
    for param in ("digest", "mount", "from", "n", "last", "artifactType"):
        if draw(st.integers(0, 3)) == 0:
            params[param] = draw(st.text(alphabet="sha256:0a-/.%n5", max_size=70))
    return method, path, headers, draw(bodies), params


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(requests_())
def test_no_server_errors(
    app: InProcessServer, request: tuple[str, str, dict[str, str], bytes, dict[str, str]]
) -> None:
    method, path, headers, body, params = request
    client = Client(app.url)
    try:
        r = client.request(method, path, headers=headers, data=body, params=params, timeout=10)
    except (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader):
        return  # the client library refused to send it
    assert r.status_code < 500, (method, path, headers, params, r.status_code, r.text[:300])
    if r.status_code >= 400 and method != "HEAD" and r.content:
        assert r.json()["errors"][0]["code"], r.text[:300]


authorizations = st.one_of(
    st.just(None),
    st.sampled_from(
        [
            "Basic " + base64.b64encode(":".join(ADMIN).encode()).decode(),
            "Basic !!!",
            "Basic " + "A" * 500,
            "Bearer ",
            "Bearer a.b.c",
            "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
            "Negotiate xyz",
        ]
    ),
    st.text(alphabet="BasicBearer abc.=+/", max_size=60),
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(requests_(), authorizations)
def test_no_server_errors_with_auth(
    app_auth: InProcessServer,
    request: tuple[str, str, dict[str, str], bytes, dict[str, str]],
    authorization: str | None,
) -> None:
    method, path, headers, body, params = request
    if authorization is not None:
        headers = {**headers, "Authorization": authorization}
    client = Client(app_auth.url)
    try:
        r = client.request(method, path, headers=headers, data=body, params=params, timeout=10)
    except (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader):
        return
    assert r.status_code < 500, (method, path, headers, params, r.status_code, r.text[:300])


MANAGEMENT_PATHS = [
    "/users",
    "/users/current",
    "/users/{id}",
    "/users/{id}/password",
    "/users/{id}/sysadmin",
    "/users/{id}/enabled",
    "/projects",
    "/projects/{name}",
    "/projects/{name}/members",
    "/projects/{name}/members/{id}",
    "/projects/{name}/logs",
    "/projects/{name}/webhook/policies",
    "/projects/{name}/webhook/policies/{id}",
    "/projects/{name}/webhook/policies/{id}/executions/{id}/tasks/{id}/log",
    "/projects/{name}/webhook/jobs",
    "/projects/{name}/repositories",
    "/projects/{name}/repositories/{name}",
    "/projects/{name}/repositories/{name}/artifacts",
    "/projects/{name}/repositories/{name}/artifacts/{name}",
    "/robots",
    "/robots/{id}",
    "/audit-logs",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**12) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=8,
)
management_bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=60),
    st.fixed_dictionaries(
        {},
        optional={
            "username": st.text(max_size=20),
            "email": st.text(max_size=20),
            "password": st.text(max_size=20),
            "project_name": st.text(alphabet="abc-_.A1", max_size=12),
            "metadata": st.dictionaries(st.sampled_from(["public"]), json_values, max_size=1),
            "role_id": json_values,
            "member_user": st.dictionaries(st.sampled_from(["username", "user_id"]), json_values),
            "name": st.text(max_size=12),
            "duration": json_values,
            "level": st.text(max_size=8),
            "permissions": json_values,
            "sysadmin_flag": json_values,
            "enabled": json_values,
            "new_password": st.text(max_size=12),
            "event_types": json_values,
            "targets": st.lists(
                st.dictionaries(
                    st.sampled_from(["address", "type", "auth_header", "payload_format"]),
                    json_values | st.text(alphabet="htps:/[]1.a\x00 ", max_size=20),
                ),
                max_size=2,
            ),
        },
    ).map(lambda d: json.dumps(d).encode()),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.sampled_from(MANAGEMENT_PATHS),
    st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
    st.text(alphabet="abc0123-_%./", min_size=1, max_size=12),
    management_bodies,
    st.dictionaries(
        st.sampled_from(["page", "page_size", "q", "project_name", "name", "sort"]),
        st.text(alphabet="0123456789-=abc,~ ", max_size=12),
        max_size=3,
    ),
    st.booleans(),
)
def test_management_api_has_no_server_errors(
    app_auth: InProcessServer,
    template: str,
    method: str,
    ident: str,
    body: bytes,
    params: dict[str, str],
    as_admin: bool,
) -> None:
    path = "/api/v2.0" + template.replace("{id}", ident).replace("{name}", ident)
    auth = ADMIN if as_admin else None
    try:
        r = requests.request(
            method,
            app_auth.url + path,
            data=body,
            params=params,
            auth=auth,
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
    except (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader):
        return
    assert r.status_code < 500, (method, path, params, body[:200], r.status_code, r.text[:300])


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.sampled_from(["GET", "POST"]),
    st.dictionaries(
        st.sampled_from(
            [
                "service",
                "scope",
                "account",
                "grant_type",
                "refresh_token",
                "username",
                "password",
                "client_id",
                "offline_token",
            ]
        ),
        st.one_of(
            st.text(alphabet="repository:library/x:pull,push*registry:catalog wharf", max_size=40),
            st.sampled_from(["password", "refresh_token", "true", "wharf", "admin", ADMIN[1]]),
        ),
        max_size=5,
    ),
    authorizations,
)
def test_token_endpoint_has_no_server_errors(
    app_auth: InProcessServer, method: str, fields: dict[str, str], authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    url = f"{app_auth.url}/service/token"
    try:
        if method == "GET":
            r = requests.get(url, params=fields, headers=headers, timeout=10)
        else:
            r = requests.post(url, data=fields, headers=headers, timeout=10)
    except requests.exceptions.InvalidHeader:
        return
    assert r.status_code < 500, (method, fields, authorization, r.status_code, r.text[:300])
