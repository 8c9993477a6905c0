"""/v2/<name>/blobs/<digest>: GET (ranges, sendfile, redirects), HEAD, DELETE."""

from __future__ import annotations

from aiohttp import web

from wharf.registry.content.blobs import BlobHandle
from wharf.registry.http.transport.sendfile import send_file
from wharf.registry.http.v2.common import actor, content, empty
from wharf.registry.http.v2.routes import Route
from wharf.registry.oci.errors import BLOB_UNKNOWN, RANGE_NOT_SATISFIABLE, RegistryError
from wharf.registry.oci.names import parse_digest
from wharf.registry.oci.ranges import Unsatisfiable, parse_range


def _headers(handle: BlobHandle) -> dict[str, str]:
    return {
        "Docker-Content-Digest": str(handle.digest),
        "Content-Type": "application/octet-stream",
        "Accept-Ranges": "bytes",
        "ETag": f'"{handle.digest}"',
        "Cache-Control": "max-age=31536000",
    }


async def blob(request: web.Request, route: Route) -> web.StreamResponse:
    digest = parse_digest(route.arg)
    blobs = content(request).blobs
    if request.method == "DELETE":
        await blobs.unlink(route.name, digest, actor(request))
        return empty(202, {"Docker-Content-Digest": str(digest)})
    handle = await blobs.get(route.name, digest)
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
