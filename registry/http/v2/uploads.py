"""/v2/<name>/blobs/uploads/: start (monolithic, mount), then PATCH chunks, PUT to finish,
GET/HEAD for status, DELETE to cancel."""

from __future__ import annotations

from aiohttp import web

from wharf.registry.http.v2.common import (
    actor,
    content,
    empty,
    has_body,
    readable,
    upload_body,
    url,
)
from wharf.registry.http.v2.routes import Route
from wharf.registry.oci.errors import (
    BLOB_UPLOAD_INVALID,
    DIGEST_INVALID,
    RANGE_INVALID,
    RegistryError,
)
from wharf.registry.oci.names import Digest, parse_digest
from wharf.registry.oci.ranges import parse_content_range


def _location(request: web.Request, name: str, upload_id: str) -> str:
    return url(request, f"/v2/{name}/blobs/uploads/{upload_id}")


def _progress(request: web.Request, name: str, upload_id: str, offset: int) -> dict[str, str]:
    return {
        "Location": _location(request, name, upload_id),
        "Range": f"0-{max(offset - 1, 0)}",
        "Docker-Upload-UUID": upload_id,
    }


def _created(request: web.Request, name: str, digest: Digest) -> web.Response:
    return empty(
        201,
        {
            "Location": url(request, f"/v2/{name}/blobs/{digest}"),
            "Docker-Content-Digest": str(digest),
        },
    )


async def start(request: web.Request, route: Route) -> web.StreamResponse:
    core = content(request)
    mount = request.query.get("mount")
    if mount:
        digest = parse_digest(mount)
        source = request.query.get("from") or None
        if await core.blobs.mount(route.name, digest, source, readable(request), actor(request)):
            return _created(request, route.name, digest)
    elif "digest" in request.query:
        digest = parse_digest(request.query["digest"])
        await core.uploads.whole(route.name, digest, upload_body(request), actor(request))
        return _created(request, route.name, digest)
    session = await core.uploads.start(route.name, actor(request))
    return empty(202, _progress(request, route.name, session.id, 0))


def _content_range(request: web.Request) -> tuple[int | None, int | None]:
    header = request.headers.get("Content-Range")
    if header is None:
        return None, None
    byte_range = parse_content_range(header)
    if byte_range is None:
        raise RegistryError(
            RANGE_INVALID, {"Content-Range": header[:100]}, message="malformed Content-Range"
        )
    length = request.content_length
    if length is not None and length != byte_range.length:
        raise RegistryError(
            BLOB_UPLOAD_INVALID,
            {"Content-Range": header[:100], "Content-Length": length},
            message="Content-Range and Content-Length disagree",
        )
    return byte_range.start, byte_range.length


async def upload(request: web.Request, route: Route) -> web.StreamResponse:
    uploads = content(request).uploads
    name, upload_id = route.name, route.arg
    method = request.method
    if method in ("GET", "HEAD"):
        session = await uploads.status(name, upload_id)
        return empty(204, _progress(request, name, upload_id, session.offset))
    if method == "DELETE":
        await uploads.cancel(name, upload_id)
        return empty(204, {})
    if method == "PATCH":
        first, length = _content_range(request)
        try:
            session = await uploads.append(name, upload_id, upload_body(request), first, length)
        except RegistryError as err:
            if err.error is RANGE_INVALID and "Range" in err.headers:
                err.headers["Location"] = _location(request, name, upload_id)
            raise
        return empty(202, _progress(request, name, upload_id, session.offset))
    # PUT
    raw_digest = request.query.get("digest")
    if not raw_digest:
        raise RegistryError(DIGEST_INVALID, message="digest query parameter is required")
    digest = parse_digest(raw_digest)
    first, _length = _content_range(request)
    chunks = upload_body(request) if has_body(request) else None
    if first is not None and chunks is not None:
        session = await uploads.status(name, upload_id)
        if first != session.offset:
            raise RegistryError(RANGE_INVALID, {"offset": session.offset})
    await uploads.finish(name, upload_id, digest, chunks, actor(request), request.content_length)
    return _created(request, name, digest)
