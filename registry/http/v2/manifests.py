"""/v2/<name>/manifests/<reference>: GET, HEAD, PUT, DELETE."""

from __future__ import annotations

from aiohttp import web

from wharf.registry.http.keys import PROXY
from wharf.registry.http.v2.common import actor, body_chunks, content, empty, url
from wharf.registry.http.v2.routes import Route
from wharf.registry.oci.errors import (
    MANIFEST_TOO_LARGE,
    MANIFEST_UNKNOWN,
    RegistryError,
)
from wharf.registry.oci.manifests import accepts
from wharf.registry.oci.names import Digest, parse_reference


async def _read_limited(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise RegistryError(MANIFEST_TOO_LARGE, {"limit": limit})
    data = bytearray()
    async for chunk in body_chunks(request):
        data += chunk
        if len(data) > limit:
            raise RegistryError(MANIFEST_TOO_LARGE, {"limit": limit})
    return bytes(data)


def _reference(route: Route, *, for_write: bool) -> str | Digest:
    """The tag or digest of the path. A reference that is neither names no manifest:
    reads and deletes answer MANIFEST_UNKNOWN (404), a PUT is refused as invalid (400)."""
    try:
        return parse_reference(route.arg)
    except RegistryError:
        if for_write:
            raise
        raise RegistryError(MANIFEST_UNKNOWN, {"reference": route.arg[:300]}) from None


async def manifest(request: web.Request, route: Route) -> web.StreamResponse:
    manifests = content(request).manifests
    method = request.method
    if method == "PUT":
        reference = _reference(route, for_write=True)
        body = await _read_limited(request, manifests.max_size)
        outcome = await manifests.put(
            route.name, reference, body, request.headers.get("Content-Type"), actor(request)
        )
        headers = {
            "Location": url(request, f"/v2/{route.name}/manifests/{outcome.digest}"),
            "Docker-Content-Digest": outcome.digest,
        }
        if outcome.subject:
            headers["OCI-Subject"] = outcome.subject
        return empty(201, headers)
    reference = _reference(route, for_write=False)
    if method == "DELETE":
        await manifests.delete(route.name, reference, actor(request))
        return empty(202, {})
    proxy = request.config_dict.get(PROXY)
    proxied = None
    if proxy is not None:
        proxied = await proxy.manifest(route.name, reference, actor(request), pull=method == "GET")
    if proxied is not None:
        media_type, digest, body = proxied.media_type, proxied.digest, proxied.content
    else:
        stored = await manifests.get(route.name, reference, actor(request), pull=method == "GET")
        media_type, digest, body = stored.record.media_type, stored.record.digest, stored.content
    if not accepts(request.headers.getall("Accept", []), media_type):
        raise RegistryError(
            MANIFEST_UNKNOWN,
            {"reference": route.arg, "mediaType": media_type},
            message="manifest exists, but not in a media type the Accept header allows",
        )
    headers = {
        "Content-Type": media_type,
        "Docker-Content-Digest": digest,
        "ETag": f'"{digest}"',
    }
    if method == "HEAD":
        response = web.Response(status=200, headers=headers)
        response.headers["Content-Length"] = str(len(body))
        return response
    return web.Response(status=200, body=body, headers=headers)
