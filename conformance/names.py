"""Repository-name and tag validation: bad names are rejected cleanly, good ones work."""

from __future__ import annotations

import json

from .client import RawResponse
from .context import Context
from .expect import expect, expect_header, expect_status, header
from .framework import CheckFailed, check
from .oci import SPEC_ERROR_CODES, Manifest, random_image

WF = "names"


def _codes(r: RawResponse) -> list[str]:
    try:
        doc = json.loads(r.body)
        return [str(e.get("code")) for e in doc["errors"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


def _rejected(
    r: RawResponse, what: str, codes: tuple[str, ...], also_404: bool = True
) -> str | None:
    """A 400 with one of ``codes`` (or, where the spec is silent, a 404)."""
    body = r.body[:200].decode("utf-8", "replace")
    if r.status >= 500:
        raise CheckFailed(f"{what}: server error {r.status} {body!r}")
    if r.status == 400:
        got = _codes(r)
        if not set(got) & set(codes):
            raise CheckFailed(f"{what}: 400 with codes {got}, expected one of {codes}")
        unknown = [c for c in got if c not in SPEC_ERROR_CODES and c not in codes]
        expect(not unknown, f"{what}: error codes outside the catalog: {unknown}")
        return None
    if r.status in (401, 403):
        return f"refused by authorization ({r.status})"
    if 300 <= r.status < 400:
        # The server refused to act on the path and pointed at its cleaned form (Go's
        # path cleaning does this for '..'); nothing was read or written under the name.
        return f"{r.status} redirect to the cleaned path"
    if r.status == 404 and also_404:
        if r.headers.get("content-type", "").startswith("application/json"):
            expect(bool(_codes(r)), f"{what}: 404 JSON body without errors[]: {body!r}")
        return None
    want = "400" + (" or 404" if also_404 else "")
    raise CheckFailed(f"{what}: expected {want}, got {r.status} {body!r}")


def _probe_name(ctx: Context, name: str, what: str) -> str | None:
    """Read and write endpoints must all refuse the name."""
    c = ctx.client
    m = random_image()
    notes: set[str] = set()
    for method, path, body in (
        ("GET", f"/v2/{name}/tags/list", None),
        ("GET", f"/v2/{name}/manifests/latest", None),
        ("POST", f"/v2/{name}/blobs/uploads/", b""),
        ("PUT", f"/v2/{name}/manifests/latest", m.body),
    ):
        headers = {"Content-Type": m.media_type} if method == "PUT" else {}
        try:
            r = c.raw_request(method, path, body, headers)
        except CheckFailed as e:
            if not str(e).startswith("token endpoint"):
                raise
            notes.add("token service refused the scope")
            continue
        note = _rejected(r, f"{what} {method} {path[:80]}", ("NAME_INVALID",))
        if note:
            notes.add(note)
    return "; ".join(sorted(notes)) or None


@check(WF, "uppercase repository name -> 400 NAME_INVALID or 404")
def upper(ctx: Context) -> str | None:
    return _probe_name(ctx, f"{ctx.repo}/UPPER", "uppercase")


@check(WF, "'..' path segment in name -> 400 NAME_INVALID or 404")
def dotdot(ctx: Context) -> str | None:
    return _probe_name(ctx, f"{ctx.repo}/../{ctx.sub('escape')}", "'..'")


@check(WF, "'%2e%2e' in name -> 400 NAME_INVALID or 404")
def dotdot_encoded(ctx: Context) -> str | None:
    return _probe_name(ctx, f"{ctx.repo}/%2e%2e/{ctx.sub('escape')}", "'%2e%2e'")


@check(WF, "'%2f' in name -> 400 NAME_INVALID or 404")
def slash_encoded(ctx: Context) -> str | None:
    return _probe_name(ctx, f"{ctx.repo}%2fsub", "'%2f'")


@check(WF, "name over 255 characters -> 400 NAME_INVALID or 404")
def too_long(ctx: Context) -> str | None:
    name = f"{ctx.repo}/" + "a" * (256 - len(ctx.repo))
    expect(len(name) > 255, "test name too short")
    return _probe_name(ctx, name, "256-char name")


@check(WF, "valid multi-component name with separators is accepted")
def valid_name(ctx: Context) -> None:
    repo = f"{ctx.repo}/a.b/c_d/e__f/g-h--i"
    m = random_image()
    r = ctx.client.push_manifest(repo, "ok", m)
    expect_header(r, "Docker-Content-Digest", m.digest)
    expect_status(ctx.client.get_manifest(repo, "ok", "HEAD"), 200)


def _put_tag(ctx: Context, tag: str) -> RawResponse:
    m = ctx.image()
    return ctx.client.raw_request(
        "PUT", f"/v2/{ctx.repo}/manifests/{tag}", m.body, {"Content-Type": m.media_type}
    )


_TAG_CODES = ("MANIFEST_INVALID", "DIGEST_INVALID", "NAME_INVALID")


@check(WF, "tag 'a:b' -> 400 MANIFEST_INVALID (never 5xx)")
def tag_colon(ctx: Context) -> None:
    _rejected(_put_tag(ctx, "a:b"), "tag 'a:b'", _TAG_CODES)


@check(WF, "129-character tag -> 400 MANIFEST_INVALID (never 5xx)")
def tag_too_long(ctx: Context) -> None:
    _rejected(_put_tag(ctx, "t" * 129), "129-char tag", _TAG_CODES)


@check(WF, "tag starting with '.' or '-' is rejected (never 5xx)")
def tag_bad_start(ctx: Context) -> None:
    for tag in (".hidden", "-dash"):
        _rejected(_put_tag(ctx, tag), f"tag {tag!r}", _TAG_CODES)


@check(WF, "128-character tag is accepted")
def tag_max(ctx: Context) -> None:
    tag = "T" + "t" * 126 + "9"
    r = _put_tag(ctx, tag)
    expect(r.status == 201, f"128-char tag: {r.status} {r.body[:200]!r}")
    g = ctx.client.get_manifest(ctx.repo, tag, "HEAD")
    expect_status(g, 200)
    header(g, "Docker-Content-Digest")


@check(WF, "manifest pushed with a mismatched Content-Type is not a 5xx")
def wrong_content_type(ctx: Context) -> None:
    m = ctx.image()
    bad = Manifest(m.body, "application/x-not-a-manifest")
    r = ctx.client.put_manifest(ctx.repo, "wrong-ct", bad)
    expect(r.status_code < 500, f"server error: {r.status_code} {r.text[:200]!r}")
