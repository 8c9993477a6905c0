"""/v2/<name>/blobs/<digest>: GET (ranges, sendfile, redirects), HEAD, DELETE."""

from __future__ import annotations

from aiohttp import web

from wharf.proxy.service import StreamedBlob
from wharf.registry.content.blobs import BlobHandle
from wharf.registry.http.keys import PROXY
from wharf.registry.http.transport.sendfile import send_file
from wharf.registry.http.v2.common import actor, content, empty
from wharf.registry.http.v2.routes import Route
from wharf.registry.oci.errors import BLOB_UNKNOWN, RANGE_NOT_SATISFIABLE, RegistryError
from wharf.registry.oci.names import parse_digest
from wharf.registry.oci.ranges import Unsatisfiable, parse_range


def _headers(handle: BlobHandle | StreamedBlob) -> dict[str, str]:
    return {
        "Docker-Content-Digest": str(handle.digest),
        "Content-Type": "application/octet-stream",
        "Accept-Ranges": "bytes",
        "ETag": f'"{handle.digest}"',
        "Cache-Control": "max-age=31536000",
    }


async def _streamed(request: web.Request, blob: StreamedBlob) -> web.StreamResponse:
    """A blob on its way from a proxy project's upstream, sent as it arrives (whole: a
    Range is ignored until it is cached). A failure midway cuts the connection, so the
    client sees a short body, never a complete wrong one."""
    headers = _headers(blob)
    del headers["Accept-Ranges"]
    response = web.StreamResponse(status=200, headers=headers)
    if blob.size is not None:
        response.content_length = blob.size
    await response.prepare(request)
    try:
        async for chunk in blob.chunks:
            await response.write(chunk)
    except Exception:
        # the headers are out: no error body can follow. Cut the connection (the proxy
        # logged why), so the client sees a short body at once rather than waiting for
        # the rest on a connection kept alive
        response.force_close()
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response


async def blob(request: web.Request, route: Route) -> web.StreamResponse:
    digest = parse_digest(route.arg)
    blobs = content(request).blobs
    if request.method == "DELETE":
        await blobs.unlink(route.name, digest, actor(request))
        return empty(202, {"Docker-Content-Digest": str(digest)})
    proxy = request.config_dict.get(PROXY)
    if proxy is not None and request.method == "HEAD":
        size = await proxy.blob_size(route.name, digest)
        if size is not None:
            head = web.Response(status=200, headers=_headers(BlobHandle(digest, size, None, None)))
            head.headers["Content-Length"] = str(size)
            return head
    found = await proxy.blob(route.name, digest) if proxy is not None else None
    if isinstance(found, StreamedBlob):
        return await _streamed(request, found)
    handle = found or await blobs.get(route.name, digest)
    headers = _headers(handle)
    if request.method == "HEAD":
        head = web.Response(status=200, headers=headers)
        head.headers["Content-Length"] = str(handle.size)
        return head
    if handle.redirect_url is not None:
        return empty(307, {"Location": handle.redirect_url, **headers})
    status, offset, length = 200, 0, handle.size
    range_header = request.headers.get("Range")
    if range_header:
        try:
            byte_range = parse_range(range_header, handle.size)
        except Unsatisfiable:
            raise RegistryError(
                RANGE_NOT_SATISFIABLE,
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
        async for chunk in blobs.read(digest, offset, length):
            await response.write(chunk)
        await response.write_eof()
    return response
