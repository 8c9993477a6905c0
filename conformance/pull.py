"""Pull workflow: API version check, manifests and blobs by tag/digest, ranges, 404s."""

from __future__ import annotations

from .context import Context
from .expect import (
    content_type,
    expect,
    expect_error,
    expect_header,
    expect_status,
    header,
)
from .framework import Skip, check
from .oci import OCI_MANIFEST, random_blob, sha256

WF = "pull"


@check(WF, "GET /v2/ returns 200 with Docker-Distribution-API-Version")
def api_version(ctx: Context) -> None:
    r = ctx.client.get("/v2/")
    expect_status(r, 200)
    expect_header(r, "Docker-Distribution-API-Version", "registry/2.0")


def _manifest_common(ctx: Context, ref: str, method: str) -> None:
    m = ctx.image()
    r = ctx.client.get_manifest(ctx.repo, ref, method)
    expect_status(r, 200)
    expect_header(r, "Docker-Content-Digest", m.digest)
    expect(content_type(r) == OCI_MANIFEST, f"Content-Type {content_type(r)!r} != {OCI_MANIFEST}")
    if method == "HEAD":
        expect_header(r, "Content-Length", str(len(m.body)))
        expect(not r.content, "HEAD response has a body")
    else:
        expect(r.content == m.body, "manifest body differs from what was pushed")
        cl = r.headers.get("Content-Length")
        expect(cl is None or cl == str(len(m.body)), f"Content-Length {cl} != {len(m.body)}")


@check(WF, "HEAD manifest by tag")
def head_manifest_tag(ctx: Context) -> None:
    _manifest_common(ctx, ctx.tag, "HEAD")


@check(WF, "GET manifest by tag")
def get_manifest_tag(ctx: Context) -> None:
    _manifest_common(ctx, ctx.tag, "GET")


@check(WF, "HEAD manifest by digest")
def head_manifest_digest(ctx: Context) -> None:
    _manifest_common(ctx, ctx.image().digest, "HEAD")


@check(WF, "GET manifest by digest")
def get_manifest_digest(ctx: Context) -> None:
    _manifest_common(ctx, ctx.image().digest, "GET")


@check(WF, "HEAD blob: 200, Content-Length, Docker-Content-Digest")
def head_blob(ctx: Context) -> None:
    layer = ctx.image().blobs[1]
    r = ctx.client.head(f"/v2/{ctx.repo}/blobs/{layer.digest}")
    expect_status(r, 200)
    expect_header(r, "Content-Length", str(len(layer.data)))
    expect_header(r, "Docker-Content-Digest", layer.digest)


@check(WF, "GET blob returns the exact bytes")
def get_blob(ctx: Context) -> None:
    for blob in ctx.image().blobs:
        r = ctx.client.get(f"/v2/{ctx.repo}/blobs/{blob.digest}")
        expect_status(r, 200)
        expect(r.content == blob.data, f"blob {blob.digest} content differs")
        expect(sha256(r.content) == blob.digest, "downloaded bytes do not hash to the digest")
        expect_header(r, "Docker-Content-Digest", blob.digest)
        expect_header(r, "Content-Length", str(len(blob.data)))


@check(WF, "GET blob with Range: bytes=a-b -> 206 + Content-Range")
def get_blob_range(ctx: Context) -> None:
    layer = ctx.image().blobs[1]
    size = len(layer.data)
    r = ctx.client.get(f"/v2/{ctx.repo}/blobs/{layer.digest}", headers={"Range": "bytes=10-99"})
    if r.status_code == 200:
        raise Skip("registry ignores Range on blob GET (Range support is a SHOULD)")
    expect_status(r, 206)
    expect_header(r, "Content-Range", f"bytes 10-99/{size}")
    expect(r.content == layer.data[10:100], "206 body is not bytes 10..99 of the blob")
    expect_header(r, "Content-Length", "90")
    # an open-ended range too
    r = ctx.client.get(
        f"/v2/{ctx.repo}/blobs/{layer.digest}", headers={"Range": f"bytes={size - 5}-"}
    )
    expect_status(r, 206)
    expect(r.content == layer.data[-5:], "open-ended range returned the wrong bytes")


@check(WF, "GET blob with unsatisfiable Range -> 416")
def get_blob_range_416(ctx: Context) -> None:
    layer = ctx.image().blobs[1]
    size = len(layer.data)
    # Streamed: only the status line and headers matter (and some servers send a 416 body
    # that disagrees with its own Content-Length).
    r = ctx.client.get(
        f"/v2/{ctx.repo}/blobs/{layer.digest}",
        headers={"Range": f"bytes={size + 100}-{size + 200}"},
        stream=True,
    )
    r.close()
    if r.status_code == 200 and "Accept-Ranges" not in r.headers:
        raise Skip("registry ignores Range on blob GET (Range support is a SHOULD)")
    expect(
        r.status_code == 416,
        f"expected 416 for bytes={size + 100}-{size + 200} of a "
        f"{size}-byte blob, got {r.status_code}",
    )
    cr = r.headers.get("Content-Range")
    expect(cr is None or cr == f"bytes */{size}", f"416 Content-Range {cr!r} != 'bytes */{size}'")


@check(WF, "GET unknown blob -> 404 BLOB_UNKNOWN")
def get_unknown_blob(ctx: Context) -> None:
    digest = sha256(random_blob(32))
    r = ctx.client.get(f"/v2/{ctx.repo}/blobs/{digest}")
    expect_error(r, 404, "BLOB_UNKNOWN")
    r = ctx.client.head(f"/v2/{ctx.repo}/blobs/{digest}")
    expect_status(r, 404)
    expect(not r.content, "HEAD 404 has a body")


@check(WF, "GET unknown manifest (tag and digest) -> 404 MANIFEST_UNKNOWN")
def get_unknown_manifest(ctx: Context) -> None:
    ctx.image()  # the repository must exist, so the answer is about the manifest
    r = ctx.client.get_manifest(ctx.repo, "no-such-tag")
    expect_error(r, 404, "MANIFEST_UNKNOWN")
    r = ctx.client.get_manifest(ctx.repo, sha256(random_blob(32)))
    expect_error(r, 404, "MANIFEST_UNKNOWN")
    r = ctx.client.get_manifest(ctx.repo, "no-such-tag", "HEAD")
    expect_status(r, 404)


@check(WF, "GET/HEAD/DELETE of a reference that is neither tag nor digest -> 404 MANIFEST_UNKNOWN")
def get_invalid_reference(ctx: Context) -> None:
    # the official suite asks for `.INVALID_MANIFEST_NAME`: it names no manifest, so the
    # answer is "unknown", not "invalid" (only a PUT under such a name is a 400)
    ctx.image()
    for reference in (".INVALID_MANIFEST_NAME", "-dash", "sha256:short"):
        r = ctx.client.get_manifest(ctx.repo, reference)
        expect_error(r, 404, "MANIFEST_UNKNOWN")
        r = ctx.client.get_manifest(ctx.repo, reference, "HEAD")
        expect_status(r, 404)
        r = ctx.client.request("DELETE", f"/v2/{ctx.repo}/manifests/{reference}")
        expect_error(r, 404, "MANIFEST_UNKNOWN")


@check(WF, "pulled manifest references pullable blobs")
def pull_whole_image(ctx: Context) -> None:
    m = ctx.image()
    r = ctx.client.get_manifest(ctx.repo, ctx.tag)
    expect_status(r, 200)
    doc = r.json()
    descs = [doc["config"], *doc["layers"]]
    for d in descs:
        b = ctx.client.get(f"/v2/{ctx.repo}/blobs/{d['digest']}")
        expect_status(b, 200)
        expect(len(b.content) == d["size"], f"blob {d['digest']} size != descriptor size")
    expect(len(descs) == len(m.blobs), "descriptor count changed")
    header(r, "Docker-Content-Digest")
