"""Content management: deleting manifests (by digest and by tag) and blobs."""

from __future__ import annotations

from .context import Context
from .expect import describe, expect, expect_error, expect_status, json_body
from .framework import check
from .oci import random_blob, random_image, sha256

WF = "management"


@check(WF, "DELETE manifest by digest -> 202, then GET -> 404")
def delete_manifest_digest(ctx: Context) -> None:
    repo = ctx.sub("mgmt")
    m = random_image()
    ctx.client.push_manifest(repo, "to-delete", m)
    r = ctx.client.request("DELETE", f"/v2/{repo}/manifests/{m.digest}")
    expect_status(r, 202)
    expect_error(ctx.client.get_manifest(repo, m.digest), 404, "MANIFEST_UNKNOWN")
    expect_status(ctx.client.get_manifest(repo, m.digest, "HEAD"), 404)
    expect_status(ctx.client.get_manifest(repo, "to-delete", "HEAD"), 404)


@check(WF, "DELETE manifest by tag removes only the tag -> 202")
def delete_tag(ctx: Context) -> None:
    repo = ctx.sub("mgmt")
    m = random_image()
    ctx.client.push_manifest(repo, "keep", m)
    ctx.client.push_manifest(repo, "drop", m)
    r = ctx.client.request("DELETE", f"/v2/{repo}/manifests/drop")
    expect(
        r.status_code not in (400, 405),
        f"tag deletion unsupported ({describe(r)}); the spec lets a registry disable it "
        "with 400/405, but Wharf requires it",
    )
    expect_status(r, 202)
    expect_error(ctx.client.get_manifest(repo, "drop"), 404, "MANIFEST_UNKNOWN")
    expect_status(ctx.client.get_manifest(repo, "keep", "HEAD"), 200)
    expect_status(ctx.client.get_manifest(repo, m.digest, "HEAD"), 200)
    tags = json_body(ctx.client.get(f"/v2/{repo}/tags/list")).get("tags") or []
    expect("drop" not in tags and "keep" in tags, f"tags after delete: {tags}")


@check(WF, "DELETE unknown manifest -> 404 MANIFEST_UNKNOWN")
def delete_unknown_manifest(ctx: Context) -> None:
    ctx.image()
    r = ctx.client.request("DELETE", f"/v2/{ctx.repo}/manifests/{sha256(random_blob(16))}")
    expect_error(r, 404, "MANIFEST_UNKNOWN")


@check(WF, "DELETE blob -> 202, then GET/HEAD -> 404")
def delete_blob(ctx: Context) -> None:
    repo = ctx.sub("mgmt")
    data = random_blob(600)
    digest = ctx.client.push_blob(repo, data)
    r = ctx.client.request("DELETE", f"/v2/{repo}/blobs/{digest}")
    expect_status(r, 202)
    expect_status(ctx.client.head(f"/v2/{repo}/blobs/{digest}"), 404)
    expect_error(ctx.client.get(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    r = ctx.client.request("DELETE", f"/v2/{repo}/blobs/{digest}")
    expect_error(r, 404, "BLOB_UNKNOWN")


@check(WF, "deleted manifest's tag disappears from tags list")
def delete_updates_tags(ctx: Context) -> None:
    repo = ctx.sub("mgmt2")
    a, b = random_image(), random_image()
    ctx.client.push_manifest(repo, "a", a)
    ctx.client.push_manifest(repo, "b", b)
    expect_status(ctx.client.request("DELETE", f"/v2/{repo}/manifests/{a.digest}"), 202)
    r = ctx.client.get(f"/v2/{repo}/tags/list")
    expect_status(r, 200)
    tags = json_body(r).get("tags") or []
    expect(tags == ["b"], f"tags after deleting a's manifest: {tags}")
