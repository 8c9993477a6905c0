"""What the /v2 handlers share: the core and settings of the request, response shapes,
request bodies, pagination."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from wharf.registry.content.service import ContentService
from wharf.registry.events import ANONYMOUS, Actor
from wharf.registry.http.keys import CONTENT, READABLE, SETTINGS, ReadablePredicate
from wharf.registry.http.transport.directread import direct_body, direct_body_possible
from wharf.registry.http.v2.routes import ROUTE, Route
from wharf.registry.oci.errors import PAGINATION_NUMBER_INVALID, UNSUPPORTED, RegistryError

MAX_PAGE = 10_000
# Who the request acts for; the access middleware sets it (absent: access control is off).
ACTOR = web.RequestKey("actor", Actor)


def content(request: web.Request) -> ContentService:
    return request.config_dict[CONTENT]


def route(request: web.Request) -> Route:
    found: Route | None = request.get(ROUTE)
    assert found is not None, "the /v2 entry middleware parses the route first"
    return found


def actor(request: web.Request) -> Actor:
    found: Actor = request.get(ACTOR, ANONYMOUS)
    return found


def readable(request: web.Request) -> ReadablePredicate:
    found: ReadablePredicate = request.get(READABLE, _everything)
    return found


def _everything(_repo: str) -> bool:
    return True


def url(request: web.Request, path: str) -> str:
    base = request.config_dict[SETTINGS].external_url
    return f"{base}{path}" if base else path


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(data), content_type="application/json", headers=headers
    )


def empty(status: int, headers: dict[str, str]) -> web.Response:
    response = web.Response(status=status, headers=headers)
    response.headers["Content-Length"] = "0"
    return response


def upload_body(request: web.Request) -> AsyncIterator[bytes | bytearray]:
    if direct_body_possible(request):
        return direct_body(request)
    return body_chunks(request)


async def body_chunks(request: web.Request) -> AsyncIterator[bytes]:
    stream = request.content
    while True:
        chunk = await stream.readany()
        if not chunk:
            return
        yield chunk


def has_body(request: web.Request) -> bool:
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        return True
    return (request.content_length or 0) > 0


def pagination(request: web.Request) -> tuple[str | None, int | None]:
    raw = request.query.get("n")
    limit: int | None = None
    if raw is not None and raw != "":
        if not raw.isdigit():
            raise RegistryError(PAGINATION_NUMBER_INVALID, {"n": raw[:50]})
        limit = min(int(raw), MAX_PAGE)
    last = request.query.get("last") or None
    return last, limit


def next_link(request: web.Request, items: list[str], limit: int | None) -> dict[str, str]:
    if limit is None or not items or len(items) < limit:
        return {}
    query = f"n={limit}&last={items[-1]}"
    return {"Link": f'<{url(request, request.path)}?{query}>; rel="next"'}


def method_not_allowed(request: web.Request, allowed: str) -> RegistryError:
    return RegistryError(
        UNSUPPORTED,
        {"method": request.method},
        message=f"method {request.method} not allowed here",
        headers={"Allow": allowed},
    )
