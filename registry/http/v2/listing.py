"""/v2/ (the version check), /v2/_catalog, /v2/<name>/tags/list and
/v2/<name>/referrers/<digest>."""

from __future__ import annotations

from aiohttp import web

from wharf.registry.http.v2.common import content, json_response, next_link, pagination, readable
from wharf.registry.http.v2.routes import Route
from wharf.registry.oci.names import parse_digest


async def base(request: web.Request, route: Route) -> web.StreamResponse:
    return json_response({})


async def catalog(request: web.Request, route: Route) -> web.StreamResponse:
    last, limit = pagination(request)
    # one extra row tells whether another page exists
    repos = await content(request).listing.catalog(
        last, None if limit is None else limit + 1, readable(request)
    )
    more = limit is not None and len(repos) > limit
    page = repos[:limit] if limit is not None else repos
    return json_response(
        {"repositories": page}, headers=next_link(request, page, limit) if more else {}
    )


async def tags(request: web.Request, route: Route) -> web.StreamResponse:
    last, limit = pagination(request)
    found = await content(request).listing.tags(
        route.name, last, None if limit is None else limit + 1
    )
    more = limit is not None and len(found) > limit
    page = found[:limit] if limit is not None else found
    headers = next_link(request, page, limit) if more else {}
    return json_response({"name": route.name, "tags": page}, headers=headers)


async def referrers(request: web.Request, route: Route) -> web.StreamResponse:
    digest = parse_digest(route.arg)
    artifact_type = request.query.get("artifactType") or None
    body = await content(request).listing.referrers(route.name, digest, artifact_type)
    headers = {"Content-Type": "application/vnd.oci.image.index.v1+json"}
    if artifact_type:
        headers["OCI-Filters-Applied"] = "artifactType"
    return web.Response(status=200, body=body, headers=headers)
