"""Push workflow: every upload flavour, mounts, and manifests of every media type."""

from __future__ import annotations

import urllib.parse

import requests

from .client import with_query
from .context import Context
from .expect import (
    content_type,
    describe,
    error_codes,
    expect,
    expect_error,
    expect_header,
    expect_status,
    header,
    parse_range,
)
from .framework import Skip, check
from .oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    MANIFEST_ACCEPT,
    OCI_INDEX,
    OCI_MANIFEST,
    Blob,
    Manifest,
    artifact,
    index,
    random_blob,
    random_image,
    sha256,
    sha512,
)

WF = "push"
OCTET = {"Content-Type": "application/octet-stream"}


def _expect_blob(ctx: Context, repo: str, data: bytes, digest: str | None = None) -> None:
    digest = digest or sha256(data)
    r = ctx.client.get(f"/v2/{repo}/blobs/{digest}")
    expect_status(r, 200)
    expect(r.content == data, f"blob {digest} reads back different bytes")


def _expect_created_blob(ctx: Context, r: requests.Response, repo: str, digest: str) -> None:
    expect_status(r, 201)
    expect_header(r, "Docker-Content-Digest", digest)
    loc = header(r, "Location")
    # The spec only requires "a pullable blob URL", so follow it rather than parse it.
    h = ctx.client.head(urllib.parse.urljoin(r.url, loc))
    expect(h.status_code == 200, f"Location {loc!r} is not pullable: {describe(h)}")


@check(WF, "POST upload -> 202 + Location + Docker-Upload-UUID")
def post_upload(ctx: Context) -> None:
    r = ctx.client.request(
        "POST", f"/v2/{ctx.repo}/blobs/uploads/", headers={"Content-Length": "0"}
    )
    expect_status(r, 202)
    header(r, "Location")
    uuid = header(r, "Docker-Upload-UUID")
    expect(bool(uuid.strip()), "empty Docker-Upload-UUID")
    ctx.client.request("DELETE", ctx.client.upload_location(r))


@check(WF, "POST then PUT ?digest= with body (monolithic) -> 201")
def post_put_monolithic(ctx: Context) -> None:
    data = random_blob(2048)
    digest = sha256(data)
    loc = ctx.client.start_upload(ctx.repo)
    r = ctx.client.request(
        "PUT",
        with_query(loc, digest=digest),
        data=data,
        headers={**OCTET, "Content-Length": str(len(data))},
    )
    _expect_created_blob(ctx, r, ctx.repo, digest)
    r = ctx.client.head(f"/v2/{ctx.repo}/blobs/{digest}")
    expect_status(r, 200)
    expect_header(r, "Content-Length", str(len(data)))
    _expect_blob(ctx, ctx.repo, data)


@check(WF, "single POST ?digest= with body (monolithic) -> 201")
def post_monolithic(ctx: Context) -> str | None:
    data = random_blob(1500)
    digest = sha256(data)
    r = ctx.client.request(
        "POST",
        f"/v2/{ctx.repo}/blobs/uploads/?digest={digest}",
        data=data,
        headers={**OCTET, "Content-Length": str(len(data))},
    )
    if r.status_code == 202:
        ctx.client.request("DELETE", ctx.client.upload_location(r))
        raise Skip("registry answered 202: single-POST upload unsupported (allowed by spec)")
    _expect_created_blob(ctx, r, ctx.repo, digest)
    _expect_blob(ctx, ctx.repo, data)
    return None


@check(WF, "chunked upload: PATCH chunks with Content-Range, then PUT ?digest=")
def chunked_upload(ctx: Context) -> None:
    data = random_blob(3 * 1024)
    chunks = [data[:1024], data[1024:2500], data[2500:]]
    loc = ctx.client.start_upload(ctx.repo)
    offset = 0
    for chunk in chunks:
        end = offset + len(chunk) - 1
        r = ctx.client.request(
            "PATCH",
            loc,
            data=chunk,
            headers={
                **OCTET,
                "Content-Range": f"{offset}-{end}",
                "Content-Length": str(len(chunk)),
            },
        )
        expect_status(r, 202)
        loc = ctx.client.upload_location(r)
        got = parse_range(header(r, "Range"))
        expect(got == (0, end), f"Range after chunk is {got}, expected (0, {end})")
        offset = end + 1
    r = ctx.client.request(
        "PUT", with_query(loc, digest=sha256(data)), headers={"Content-Length": "0"}
    )
    _expect_created_blob(ctx, r, ctx.repo, sha256(data))
    _expect_blob(ctx, ctx.repo, data)


@check(WF, "chunked upload: last chunk sent with the closing PUT")
def chunked_upload_final_put(ctx: Context) -> None:
    data = random_blob(2000)
    loc = ctx.client.start_upload(ctx.repo)
    r = ctx.client.request(
        "PATCH",
        loc,
        data=data[:1200],
        headers={**OCTET, "Content-Range": "0-1199", "Content-Length": "1200"},
    )
    expect_status(r, 202)
    loc = ctx.client.upload_location(r)
    r = ctx.client.request(
        "PUT",
        with_query(loc, digest=sha256(data)),
        data=data[1200:],
        headers={**OCTET, "Content-Length": str(len(data) - 1200)},
    )
    _expect_created_blob(ctx, r, ctx.repo, sha256(data))
    _expect_blob(ctx, ctx.repo, data)


@check(WF, "out-of-order PATCH chunk -> 416")
def chunk_out_of_order(ctx: Context) -> None:
    loc = ctx.client.start_upload(ctx.repo)
    r = ctx.client.request(
        "PATCH",
        loc,
        data=b"a" * 100,
        headers={**OCTET, "Content-Range": "0-99", "Content-Length": "100"},
    )
    expect_status(r, 202)
    loc = ctx.client.upload_location(r)
    r = ctx.client.request(
        "PATCH",
        loc,
        data=b"b" * 100,
        headers={**OCTET, "Content-Range": "200-299", "Content-Length": "100"},
    )
    try:
        expect_status(r, 416)
    finally:
        ctx.client.request("DELETE", loc)


@check(WF, "GET upload status -> 204 + Range 0-<end> + Location")
def upload_status(ctx: Context) -> None:
    loc = ctx.client.start_upload(ctx.repo)
    r = ctx.client.request(
        "PATCH",
        loc,
        data=b"x" * 500,
        headers={**OCTET, "Content-Range": "0-499", "Content-Length": "500"},
    )
    expect_status(r, 202)
    loc = ctx.client.upload_location(r)
    r = ctx.client.get(loc)
    expect_status(r, 204)
    expect(parse_range(header(r, "Range")) == (0, 499), f"status Range {r.headers['Range']!r}")
    header(r, "Location")
    ctx.client.request("DELETE", loc)


@check(WF, "DELETE upload -> 204, then GET -> 404 BLOB_UPLOAD_UNKNOWN")
def cancel_upload(ctx: Context) -> None:
    loc = ctx.client.start_upload(ctx.repo)
    r = ctx.client.request("DELETE", loc)
    expect_status(r, 204)
    r = ctx.client.get(loc)
    expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN")


@check(WF, "PUT with wrong ?digest= -> 400 DIGEST_INVALID")
def digest_mismatch(ctx: Context) -> None:
    data = random_blob(512)
    loc = ctx.client.start_upload(ctx.repo)
    wrong = sha256(data + b"!")
    r = ctx.client.request(
        "PUT",
        with_query(loc, digest=wrong),
        data=data,
        headers={**OCTET, "Content-Length": str(len(data))},
    )
    expect_error(r, 400, "DIGEST_INVALID")
    expect_status(ctx.client.head(f"/v2/{ctx.repo}/blobs/{wrong}"), 404)


@check(WF, "cross-repository mount ?mount=&from= -> 201 (or 202 fallback)")
def cross_mount(ctx: Context) -> str | None:
    data = random_blob(1024)
    digest = ctx.client.push_blob(ctx.repo, data)
    r = ctx.client.request(
        "POST",
        f"/v2/{ctx.mount_repo}/blobs/uploads/?mount={digest}&from={ctx.repo}",
        headers={"Content-Length": "0"},
    )
    if r.status_code == 202:
        header(r, "Location")
        ctx.client.request("DELETE", ctx.client.upload_location(r))
        return "registry fell back to a regular upload (202), which the spec allows"
    _expect_created_blob(ctx, r, ctx.mount_repo, digest)
    _expect_blob(ctx, ctx.mount_repo, data)
    return None


@check(WF, "mount of a blob missing from the source repo does not 201")
def cross_mount_missing(ctx: Context) -> None:
    digest = sha256(random_blob(64))
    r = ctx.client.request(
        "POST",
        f"/v2/{ctx.mount_repo}/blobs/uploads/?mount={digest}&from={ctx.repo}",
        headers={"Content-Length": "0"},
    )
    expect(r.status_code != 201, f"mounted a blob the source does not have: {describe(r)}")
    if r.status_code == 202:
        ctx.client.request("DELETE", ctx.client.upload_location(r))
    else:  # the spec says SHOULD 202; an error is tolerated if it is a proper one
        expect_error(r, (400, 404), "BLOB_UNKNOWN", "NAME_UNKNOWN", "BLOB_UPLOAD_INVALID")


@check(WF, "sha512 blob upload")
def sha512_upload(ctx: Context) -> str | None:
    data = random_blob(700)
    digest = sha512(data)
    loc = ctx.client.start_upload(ctx.repo)
    r = ctx.client.request(
        "PUT",
        with_query(loc, digest=digest),
        data=data,
        headers={**OCTET, "Content-Length": str(len(data))},
    )
    if r.status_code in (400, 404, 405) and r.content:
        try:
            codes = error_codes(r)
        except Exception:
            codes = []
        if set(codes) & {"DIGEST_INVALID", "UNSUPPORTED"}:
            ctx.client.request("DELETE", loc)
            raise Skip(f"registry rejects sha512 ({', '.join(codes)})")
    expect_status(r, 201)
    # The spec lets Docker-Content-Digest carry the registry's canonical digest, which MAY
    # differ from the one provided (a sha256-only store answers with the sha256).
    canon = header(r, "Docker-Content-Digest")
    expect(
        canon in (digest, sha256(data)),
        f"Docker-Content-Digest {canon!r} is not a digest of the uploaded bytes",
    )
    _expect_created_blob(ctx, r, ctx.repo, canon)
    _expect_blob(ctx, ctx.repo, data, canon)
    if canon != digest:
        return f"stored under canonical digest {canon.split(':')[0]} (allowed by spec)"
    return None


def _roundtrip(ctx: Context, m: Manifest, tag: str) -> None:
    r = ctx.client.push_manifest(ctx.repo, tag, m)
    expect_header(r, "Docker-Content-Digest", m.digest)
    loc = header(r, "Location")
    g = ctx.client.request(
        "GET", urllib.parse.urljoin(r.url, loc), headers={"Accept": MANIFEST_ACCEPT}
    )
    expect(
        g.status_code == 200 and g.content == m.body,
        f"Location {loc!r} does not serve the manifest: {describe(g)}",
    )
    for ref in (tag, m.digest):
        for method in ("HEAD", "GET"):
            g = ctx.client.get_manifest(ctx.repo, ref, method)
            expect_status(g, 200)
            expect(
                content_type(g) == m.media_type,
                f"{method} {ref}: Content-Type {content_type(g)!r} != {m.media_type!r}",
            )
            expect_header(g, "Docker-Content-Digest", m.digest)
            if method == "GET":
                expect(g.content == m.body, f"GET {ref}: body differs from pushed bytes")
            else:
                expect_header(g, "Content-Length", str(len(m.body)))


@check(WF, "PUT manifest by tag -> 201 + Location + Docker-Content-Digest")
def put_manifest_tag(ctx: Context) -> None:
    _roundtrip(ctx, random_image(), "by-tag")


@check(WF, "PUT manifest by digest -> 201")
def put_manifest_digest(ctx: Context) -> None:
    m = random_image()
    for b in m.blobs:
        ctx.client.push_blob(ctx.repo, b)
    r = ctx.client.put_manifest(ctx.repo, m.digest, m)
    expect_status(r, 201)
    expect_header(r, "Docker-Content-Digest", m.digest)
    header(r, "Location")
    g = ctx.client.get_manifest(ctx.repo, m.digest)
    expect_status(g, 200)
    expect(g.content == m.body, "body differs")


@check(WF, "OCI image index push/pull")
def oci_index(ctx: Context) -> None:
    children = [random_image(), random_image()]
    for c in children:
        ctx.client.push_manifest(ctx.repo, c.digest, c)
    _roundtrip(ctx, index(children, OCI_INDEX), "oci-index")


@check(WF, "Docker schema2 manifest push/pull")
def docker_manifest(ctx: Context) -> None:
    _roundtrip(ctx, random_image(DOCKER_MANIFEST), "docker-v2")


@check(WF, "Docker manifest list push/pull")
def docker_list(ctx: Context) -> None:
    children = [random_image(DOCKER_MANIFEST), random_image(DOCKER_MANIFEST)]
    for c in children:
        ctx.client.push_manifest(ctx.repo, c.digest, c)
    _roundtrip(ctx, index(children, DOCKER_LIST), "docker-list")


@check(WF, "artifact manifest with artifactType push/pull")
def artifact_manifest(ctx: Context) -> None:
    m = artifact("application/vnd.example.conformance+type")
    _roundtrip(ctx, m, "artifact")
    doc = ctx.client.get_manifest(ctx.repo, m.digest).json()
    expect(
        doc.get("artifactType") == "application/vnd.example.conformance+type",
        "artifactType lost on the round trip",
    )


@check(WF, "manifest with subject -> 201 + OCI-Subject")
def manifest_subject(ctx: Context) -> None:
    subject = ctx.image()
    m = artifact("application/vnd.example.sig", subject=subject.descriptor)
    for b in m.blobs:
        ctx.client.push_blob(ctx.repo, b)
    r = ctx.client.put_manifest(ctx.repo, m.digest, m)
    expect_status(r, 201)
    expect_header(r, "Docker-Content-Digest", m.digest)
    expect_header(r, "OCI-Subject", subject.digest)


@check(WF, "manifest with subject that does not exist yet is accepted")
def manifest_dangling_subject(ctx: Context) -> None:
    future = random_image()
    m = artifact("application/vnd.example.sig", subject=future.descriptor)
    for b in m.blobs:
        ctx.client.push_blob(ctx.repo, b)
    r = ctx.client.put_manifest(ctx.repo, m.digest, m)
    expect_status(r, 201)


@check(WF, "manifest referencing a missing blob -> 400 MANIFEST_BLOB_UNKNOWN")
def manifest_blob_unknown(ctx: Context) -> None:
    m = random_image()
    ctx.client.push_blob(ctx.repo, m.blobs[0])  # config present, layer missing
    r = ctx.client.put_manifest(ctx.repo, "missing-blob", m)
    expect_error(r, 400, "MANIFEST_BLOB_UNKNOWN")


@check(WF, "manifest that is not JSON -> 400 MANIFEST_INVALID")
def manifest_invalid_json(ctx: Context) -> None:
    bad = Manifest(b'{"schemaVersion": 2, "config": ', OCI_MANIFEST)
    r = ctx.client.put_manifest(ctx.repo, "invalid-json", bad)
    expect_error(r, 400, "MANIFEST_INVALID")


@check(WF, "PUT manifest whose digest != URL digest -> 400 DIGEST_INVALID")
def manifest_digest_mismatch(ctx: Context) -> None:
    m = random_image()
    for b in m.blobs:
        ctx.client.push_blob(ctx.repo, b)
    wrong = sha256(m.body + b" ")
    r = ctx.client.put_manifest(ctx.repo, wrong, m)
    expect_error(r, 400, "DIGEST_INVALID")
    g = ctx.client.get_manifest(ctx.repo, wrong, "HEAD")
    expect(g.status_code == 404, f"mismatched manifest is readable: {describe(g)}")


@check(WF, "re-pushing an identical blob and manifest is idempotent")
def idempotent_push(ctx: Context) -> None:
    m = ctx.image()
    layer: Blob = m.blobs[1]
    loc = ctx.client.start_upload(ctx.repo)
    r = ctx.client.request(
        "PUT",
        with_query(loc, digest=layer.digest),
        data=layer.data,
        headers={**OCTET, "Content-Length": str(len(layer.data))},
    )
    _expect_created_blob(ctx, r, ctx.repo, layer.digest)
    r = ctx.client.put_manifest(ctx.repo, ctx.tag, m)
    expect_status(r, 201)
    expect_header(r, "Docker-Content-Digest", m.digest)
