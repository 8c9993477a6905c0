"""Hardening: malformed input is a 4xx with a spec-shaped error body, never a 5xx."""

from __future__ import annotations

import json

import requests

from .client import with_query
from .context import Context
from .expect import (
    describe,
    error_codes,
    expect,
    expect_error,
    expect_status,
    not_server_error,
)
from .framework import CheckFailed, check
from .oci import OCI_MANIFEST, Manifest, canonical, random_blob, random_image, sha256

WF = "errors"


def _bad_schema(ctx: Context, version: int) -> None:
    m = random_image()
    for b in m.blobs:
        ctx.client.push_blob(ctx.repo, b)
    doc = m.json()
    doc["schemaVersion"] = version
    bad = Manifest(canonical(doc), OCI_MANIFEST)
    r = ctx.client.put_manifest(ctx.repo, f"schema{version}", bad)
    not_server_error(r)
    expect_error(r, 400, "MANIFEST_INVALID", "UNSUPPORTED")


@check(WF, "schemaVersion 1 in an OCI manifest -> 400")
def schema_v1(ctx: Context) -> None:
    _bad_schema(ctx, 1)


@check(WF, "schemaVersion 3 -> 400")
def schema_v3(ctx: Context) -> None:
    _bad_schema(ctx, 3)


@check(WF, "manifest JSON that is not an object -> 400 MANIFEST_INVALID")
def manifest_not_object(ctx: Context) -> None:
    for body in (b"[]", b'"x"', b"null", b"{}"):
        r = ctx.client.put_manifest(ctx.repo, "not-object", Manifest(body, OCI_MANIFEST))
        not_server_error(r)
        expect_error(r, 400, "MANIFEST_INVALID")


@check(WF, "manifest with a malformed descriptor digest -> 400")
def manifest_bad_descriptor(ctx: Context) -> None:
    m = random_image()
    doc = m.json()
    doc["layers"][0]["digest"] = "sha256:not-hex"
    r = ctx.client.put_manifest(ctx.repo, "bad-desc", Manifest(canonical(doc), OCI_MANIFEST))
    not_server_error(r)
    expect_error(r, 400, "MANIFEST_INVALID", "DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN")


@check(WF, "PUT upload with malformed ?digest= -> 400 DIGEST_INVALID")
def upload_bad_digest(ctx: Context) -> None:
    data = random_blob(64)
    loc = ctx.client.start_upload(ctx.repo)
    r = ctx.client.request(
        "PUT",
        with_query(loc, digest="sha256:xyz"),
        data=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    not_server_error(r)
    expect_error(r, 400, "DIGEST_INVALID")


@check(WF, "PUT upload without ?digest= -> 400")
def upload_no_digest(ctx: Context) -> None:
    loc = ctx.client.start_upload(ctx.repo)
    r = ctx.client.request(
        "PUT", loc, data=b"abc", headers={"Content-Type": "application/octet-stream"}
    )
    not_server_error(r)
    expect_error(r, 400, "DIGEST_INVALID", "BLOB_UPLOAD_INVALID")


@check(WF, "PATCH/PUT to an unknown upload session -> 404 BLOB_UPLOAD_UNKNOWN")
def unknown_session(ctx: Context) -> None:
    ctx.image()
    base = f"/v2/{ctx.repo}/blobs/uploads/00000000-0000-4000-8000-000000000000"
    r = ctx.client.request(
        "PATCH",
        base,
        data=b"abc",
        headers={"Content-Type": "application/octet-stream", "Content-Range": "0-2"},
    )
    not_server_error(r)
    expect_error(r, (404, 400), "BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID")
    r = ctx.client.request("PUT", with_query(base, digest=sha256(b"abc")), data=b"abc")
    not_server_error(r)
    expect_error(r, (404, 400), "BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID")


@check(WF, "GET blob with a malformed digest -> 400/404, never 5xx")
def blob_bad_digest(ctx: Context) -> None:
    ctx.image()
    for digest in ("sha256:abc", "sha256:" + "z" * 64, "md5:" + "0" * 32):
        r = ctx.client.get(f"/v2/{ctx.repo}/blobs/{digest}")
        not_server_error(r)
        expect_status(r, 400, 404)
        if r.status_code == 400:
            expect_error(r, 400, "DIGEST_INVALID", "UNSUPPORTED", "BLOB_UNKNOWN")


@check(WF, "every error response body is {errors:[{code,message,detail}]}")
def error_shape(ctx: Context) -> None:
    ctx.image()
    c = ctx.client
    probes: list[tuple[str, requests.Response]] = [
        ("blob unknown", c.get(f"/v2/{ctx.repo}/blobs/{sha256(b'nope')}")),
        ("manifest unknown", c.get_manifest(ctx.repo, "nope")),
        ("name unknown", c.get(f"/v2/{ctx.sub('unknown')}/tags/list")),
        ("manifest invalid", c.put_manifest(ctx.repo, "x", Manifest(b"{", OCI_MANIFEST))),
        ("upload unknown", c.get(f"/v2/{ctx.repo}/blobs/uploads/nope")),
    ]
    bad = []
    for what, r in probes:
        try:
            expect(400 <= r.status_code < 500, f"status {r.status_code}")
            error_codes(r)
            for e in json.loads(r.content)["errors"]:
                expect(isinstance(e.get("message", ""), str), "message not a string")
        except CheckFailed as e:
            bad.append(f"{what}: {e}")
    expect(not bad, "; ".join(bad) + f" (last: {describe(probes[-1][1])})" if bad else "")
