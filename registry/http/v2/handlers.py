"""Handlers of the distribution API (/v2/…). Thin: parse the request, call the
content service, shape the response."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from wharf.registry.content.service import BlobHandle, ContentService
from wharf.registry.http.keys import CONTENT, READABLE, SETTINGS
from wharf.registry.http.transport.directread import direct_body, direct_body_possible
from wharf.registry.http.transport.sendfile import send_file
from wharf.registry.http.v2.routes import Endpoint, Route
from wharf.registry.oci.errors import (
    BLOB_UNKNOWN,
    BLOB_UPLOAD_INVALID,
    DIGEST_INVALID,
    MANIFEST_TOO_LARGE,
    MANIFEST_UNKNOWN,
    PAGINATION_NUMBER_INVALID,
    RANGE_INVALID,
    UNSUPPORTED,
    RegistryError,
)
from wharf.registry.oci.manifests import accepts
from wharf.registry.oci.names import Digest, parse_digest, parse_reference
from wharf.registry.oci.ranges import Unsatisfiable, parse_content_range, parse_range

API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")
MAX_PAGE = 10_000

Handler = Callable[[web.Request, Route], Awaitable[web.StreamResponse]]


def _content(request: web.Request) -> ContentService:
    return request.app[CONTENT]


def _readable(request: web.Request) -> Callable[[str], bool]:
    check: Callable[[str], bool] | None = request.get(READABLE)
    return check if check is not None else (lambda _repo: True)


def _url(request: web.Request, path: str) -> str:
    base = request.app[SETTINGS].external_url
    return f"{base}{path}" if base else path


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(data),
        content_type="application/json",
        headers=headers,
    )


def _empty(status: int, headers: dict[str, str]) -> web.Response:
    response = web.Response(status=status, headers=headers)
    response.headers["Content-Length"] = "0"
    return response


def _upload_body(request: web.Request) -> AsyncIterator[bytes | bytearray]:
    if direct_body_possible(request):
        return direct_body(request)
    return _body_chunks(request)


async def _body_chunks(request: web.Request) -> AsyncIterator[bytes]:
    stream = request.content
    while True:
        chunk = await stream.readany()
        if not chunk:
            return
        yield chunk


def _has_body(request: web.Request) -> bool:
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        return True
    return (request.content_length or 0) > 0


# --- base, catalog -------------------------------------------------------------


async def base(request: web.Request, route: Route) -> web.StreamResponse:
    return _json({})


def _pagination(request: web.Request) -> tuple[str | None, int | None]:
    raw = request.query.get("n")
    limit: int | None = None
    if raw is not None and raw != "":
        if not raw.isdigit():
            raise RegistryError(PAGINATION_NUMBER_INVALID, {"n": raw[:50]})
        limit = min(int(raw), MAX_PAGE)
    last = request.query.get("last") or None
    return last, limit


def _next_link(request: web.Request, items: list[str], limit: int | None) -> dict[str, str]:
    if limit is None or not items or len(items) < limit:
        return {}
    query = f"n={limit}&last={items[-1]}"
    return {"Link": f'<{_url(request, request.path)}?{query}>; rel="next"'}


async def catalog(request: web.Request, route: Route) -> web.StreamResponse:
    last, limit = _pagination(request)
    # one extra row tells whether another page exists
    repos = await _content(request).catalog(
        last, None if limit is None else limit + 1, _readable(request)
    )
    more = limit is not None and len(repos) > limit
    page = repos[:limit] if limit is not None else repos
    return _json({"repositories": page}, headers=_next_link(request, page, limit) if more else {})


async def tags_list(request: web.Request, route: Route) -> web.StreamResponse:
    last, limit = _pagination(request)
    tags = await _content(request).list_tags(route.name, last, None if limit is None else limit + 1)
    more = limit is not None and len(tags) > limit
    page = tags[:limit] if limit is not None else tags
    headers = _next_link(request, page, limit) if more else {}
    return _json({"name": route.name, "tags": page}, headers=headers)


# --- blobs ---------------------------------------------------------------------


def _blob_headers(handle: BlobHandle) -> dict[str, str]:
    return {
        "Docker-Content-Digest": str(handle.digest),
        "Content-Type": "application/octet-stream",
        "Accept-Ranges": "bytes",
        "ETag": f'"{handle.digest}"',
        "Cache-Control": "max-age=31536000",
    }


async def blob(request: web.Request, route: Route) -> web.StreamResponse:
    digest = parse_digest(route.arg)
    content = _content(request)
    if request.method == "DELETE":
        await content.delete_blob(route.name, digest)
        return _empty(202, {"Docker-Content-Digest": str(digest)})
    handle = await content.blob(route.name, digest)
    headers = _blob_headers(handle)
    if request.method == "HEAD":
        head = web.Response(status=200, headers=headers)
        head.headers["Content-Length"] = str(handle.size)
        return head
    if handle.redirect_url is not None:
        return _empty(307, {"Location": handle.redirect_url, **headers})
    status, offset, length = 200, 0, handle.size
    range_header = request.headers.get("Range")
    if range_header:
        try:
            byte_range = parse_range(range_header, handle.size)
        except Unsatisfiable:
            raise RegistryError(
                RANGE_INVALID,
                {"range": range_header[:100], "size": handle.size},
                headers={"Content-Range": f"bytes */{handle.size}"},
            ) from None
        if byte_range is not None:
            status, offset, length = 206, byte_range.start, byte_range.length
            headers["Content-Range"] = f"bytes {offset}-{byte_range.end}/{handle.size}"
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = length
    if handle.local_path is not None:
        try:
            await send_file(request, response, handle.local_path, offset, length)
        except FileNotFoundError:
            raise RegistryError(BLOB_UNKNOWN, {"digest": str(digest)}) from None
    else:
        await response.prepare(request)
        async for chunk in content.read_blob(digest, offset, length):
            await response.write(chunk)
        await response.write_eof()
    return response


# --- uploads -------------------------------------------------------------------


def _upload_headers(request: web.Request, name: str, upload_id: str, offset: int) -> dict[str, str]:
    return {
        "Location": _url(request, f"/v2/{name}/blobs/uploads/{upload_id}"),
        "Range": f"0-{max(offset - 1, 0)}",
        "Docker-Upload-UUID": upload_id,
    }


def _blob_created(request: web.Request, name: str, digest: Digest) -> web.Response:
    return _empty(
        201,
        {
            "Location": _url(request, f"/v2/{name}/blobs/{digest}"),
            "Docker-Content-Digest": str(digest),
        },
    )


async def upload_start(request: web.Request, route: Route) -> web.StreamResponse:
    if request.method != "POST":
        raise method_not_allowed(request, "POST")
    content = _content(request)
    mount = request.query.get("mount")
    if mount:
        digest = parse_digest(mount)
        source = request.query.get("from") or None
        if await content.mount(route.name, digest, source, _readable(request)):
            return _blob_created(request, route.name, digest)
    elif "digest" in request.query:
        digest = parse_digest(request.query["digest"])
        await content.upload_whole(route.name, digest, _upload_body(request))
        return _blob_created(request, route.name, digest)
    session = await content.start_upload(route.name)
    return _empty(202, _upload_headers(request, route.name, session.id, 0))


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
    content = _content(request)
    name, upload_id = route.name, route.arg
    method = request.method
    if method in ("GET", "HEAD"):
        session = await content.upload_status(name, upload_id)
        return _empty(204, _upload_headers(request, name, upload_id, session.offset))
    if method == "DELETE":
        await content.cancel_upload(name, upload_id)
        return _empty(204, {})
    if method == "PATCH":
        start, length = _content_range(request)
        try:
            session = await content.append(name, upload_id, _upload_body(request), start, length)
        except RegistryError as err:
            if err.error is RANGE_INVALID and "Range" in err.headers:
                err.headers["Location"] = _url(request, f"/v2/{name}/blobs/uploads/{upload_id}")
            raise
        return _empty(202, _upload_headers(request, name, upload_id, session.offset))
    if method == "PUT":
        raw_digest = request.query.get("digest")
        if not raw_digest:
            raise RegistryError(DIGEST_INVALID, message="digest query parameter is required")
        digest = parse_digest(raw_digest)
        start, _length = _content_range(request)
        chunks = _upload_body(request) if _has_body(request) else None
        if start is not None and chunks is not None:
            session = await content.upload_status(name, upload_id)
            if start != session.offset:
                raise RegistryError(RANGE_INVALID, {"offset": session.offset})
        await content.finish_upload(name, upload_id, digest, chunks)
        return _blob_created(request, name, digest)
    raise method_not_allowed(request, "GET, HEAD, PATCH, PUT, DELETE")


# --- manifests -----------------------------------------------------------------


async def _read_limited(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise RegistryError(MANIFEST_TOO_LARGE, {"limit": limit})
    data = bytearray()
    async for chunk in _body_chunks(request):
        data += chunk
        if len(data) > limit:
            raise RegistryError(MANIFEST_TOO_LARGE, {"limit": limit})
    return bytes(data)


async def manifest(request: web.Request, route: Route) -> web.StreamResponse:
    content = _content(request)
    reference = parse_reference(route.arg)
    method = request.method
    if method == "PUT":
        body = await _read_limited(request, content.manifest_max_size)
        outcome = await content.put_manifest(
            route.name, reference, body, request.headers.get("Content-Type")
        )
        headers = {
            "Location": _url(request, f"/v2/{route.name}/manifests/{outcome.digest}"),
            "Docker-Content-Digest": outcome.digest,
        }
        if outcome.subject:
            headers["OCI-Subject"] = outcome.subject
        return _empty(201, headers)
    if method == "DELETE":
        await content.delete_manifest(route.name, reference)
        return _empty(202, {})
    if method not in ("GET", "HEAD"):
        raise method_not_allowed(request, "GET, HEAD, PUT, DELETE")
    stored = await content.get_manifest(route.name, reference)
    record = stored.record
    if not accepts(request.headers.getall("Accept", []), record.media_type):
        raise RegistryError(
            MANIFEST_UNKNOWN,
            {"reference": route.arg, "mediaType": record.media_type},
            message="manifest exists, but not in a media type the Accept header allows",
        )
    headers = {
        "Content-Type": record.media_type,
        "Docker-Content-Digest": record.digest,
        "ETag": f'"{record.digest}"',
    }
    if method == "HEAD":
        response = web.Response(status=200, headers=headers)
        response.headers["Content-Length"] = str(len(stored.content))
        return response
    return web.Response(status=200, body=stored.content, headers=headers)


async def referrers(request: web.Request, route: Route) -> web.StreamResponse:
    if request.method not in ("GET", "HEAD"):
        raise method_not_allowed(request, "GET, HEAD")
    digest = parse_digest(route.arg)
    artifact_type = request.query.get("artifactType") or None
    body = await _content(request).referrers(route.name, digest, artifact_type)
    headers = {"Content-Type": "application/vnd.oci.image.index.v1+json"}
    if artifact_type:
        headers["OCI-Filters-Applied"] = "artifactType"
    return web.Response(status=200, body=body, headers=headers)


def method_not_allowed(request: web.Request, allowed: str) -> RegistryError:
    return RegistryError(
        UNSUPPORTED,
        {"method": request.method},
        message=f"method {request.method} not allowed here",
        headers={"Allow": allowed},
    )


HANDLERS: dict[Endpoint, Handler] = {
    Endpoint.BASE: base,
    Endpoint.CATALOG: catalog,
    Endpoint.TAGS: tags_list,
    Endpoint.BLOB: blob,
    Endpoint.UPLOAD_START: upload_start,
    Endpoint.UPLOAD: upload,
    Endpoint.MANIFEST: manifest,
    Endpoint.REFERRERS: referrers,
}

READ_METHODS = frozenset({"GET", "HEAD"})
ALLOWED_METHODS: dict[Endpoint, frozenset[str]] = {
    Endpoint.BASE: READ_METHODS,
    Endpoint.CATALOG: READ_METHODS,
    Endpoint.TAGS: READ_METHODS,
    Endpoint.BLOB: READ_METHODS | {"DELETE"},
    Endpoint.UPLOAD_START: frozenset({"POST"}),
    Endpoint.UPLOAD: READ_METHODS | {"PATCH", "PUT", "DELETE"},
    Endpoint.MANIFEST: READ_METHODS | {"PUT", "DELETE"},
    Endpoint.REFERRERS: READ_METHODS,
}
