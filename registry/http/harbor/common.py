"""What every Harbor handler shares: JSON answers in Harbor's shapes, request parsing
(bodies, numbers, paging, the project reference), and the wrapper that authenticates the
caller, runs the handler and renders the auth and content errors it raises."""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from aiohttp import web

from wharf.auth.audit import CLIENT_IP
from wharf.auth.errors import AuthError, BadRequest, Forbidden
from wharf.auth.principals import Principal
from wharf.auth.service import AuthService
from wharf.auth.store import Page
from wharf.registry.content.service import ContentService
from wharf.registry.events import Actor
from wharf.registry.http.credentials import (
    BadCredentials,
    TooManyLogins,
    authenticate,
    client_ip,
)
from wharf.registry.http.keys import AUTH, CONTENT, SETTINGS
from wharf.registry.oci.errors import RegistryError

# Where the sub-application is mounted: Location headers carry full paths.
PREFIX = "/api/v2.0"

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PrincipalHandler = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]


def harbor_time(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(data), content_type="application/json", headers=headers
    )


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return json_response({"errors": [{"code": code, "message": message}]}, status, headers)


def created(location: str) -> web.Response:
    return web.Response(status=201, headers={"Location": location})


def ok() -> web.Response:
    return web.Response(status=200)


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        data = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise BadRequest("the body must be JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def parse_int(value: str, what: str) -> int:
    if not value.isdigit():
        raise BadRequest(f"{what} must be a number")
    return int(value)


def body_bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key)
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be true or false")
    return value


def requested_page(request: web.Request) -> Page:
    try:
        page = max(1, int(request.query.get("page", "1")))
        size = min(100, max(1, int(request.query.get("page_size", "10"))))
    except ValueError:
        raise BadRequest("page and page_size must be numbers") from None
    return Page((page - 1) * size, size)


@dataclass(frozen=True, slots=True)
class QueryValue:
    """One ``key=value`` of Harbor's ``q``: ``exact`` (one value), ``fuzzy`` (``~v``:
    contains), ``range`` (``[min~max]``: two values, "" for an open end), ``any``
    (``{a b}``) or ``all`` (``(a b)``)."""

    kind: str
    values: tuple[str, ...]


def harbor_query(request: web.Request) -> dict[str, QueryValue]:
    """Harbor's ``q=k1=v1,k2=~v2,k3=[min~max],k4={a b}``, parsed as Harbor parses it
    (malformed: 400 with Harbor's messages); which keys mean something is the caller's."""
    text = request.query.get("q", "")
    found: dict[str, QueryValue] = {}
    if not text:
        return found
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key or not value:
            raise BadRequest('the query string must contain "=" and the key/value cannot be empty')
        found[key] = _query_value(value)
    return found


def _query_value(value: str) -> QueryValue:
    invalid = f"invalid query string value: {value}"
    if value[0] == "~":
        if len(value) < 2:
            raise BadRequest(invalid)
        return QueryValue("fuzzy", (value[1:],))
    if value[0] == "[":
        if value[-1] != "]" or value.count("~") != 1:
            raise BadRequest(invalid)
        low, _, high = value[1:-1].partition("~")
        if not low.strip() and not high.strip():
            raise BadRequest(invalid)
        return QueryValue("range", (_unquote(low), _unquote(high)))
    if value[0] in "{(":
        closing = "}" if value[0] == "{" else ")"
        if value[-1] != closing:
            raise BadRequest(invalid)
        items = tuple(_unquote(v) for v in value[1:-1].split(" ") if _unquote(v))
        return QueryValue("any" if value[0] == "{" else "all", items)
    return QueryValue("exact", (value[1:] if value.startswith("\\") else value,))


def _unquote(text: str) -> str:
    return text.strip().strip("\"'")


def harbor_sort(request: web.Request) -> list[tuple[str, bool]]:
    """Harbor's ``sort=field1,-field2``: (field, descending) pairs, in order."""
    return [
        (item.removeprefix("-"), item.startswith("-"))
        for item in request.query.get("sort", "").split(",")
        if item.removeprefix("-")
    ]


def harbor_query_time(text: str) -> float:
    """A time in a query (UTC): ``2020-04-09T02:36:00`` as Harbor parses it, or
    ``2020-04-09 02:36:00`` as its documentation writes it."""
    for layout in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, layout).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    raise BadRequest(f"invalid query string value: {text} (a time: 2020-04-09T02:36:00)")


def paged(request: web.Request, items: list[Any], total: int, page: Page) -> web.Response:
    """Harbor's pagination: X-Total-Count and a Link header with prev/next."""
    number = page.offset // page.limit + 1
    links = []
    query = {k: v for k, v in request.query.items() if k not in ("page", "page_size")}

    def url(n: int) -> str:
        q = urllib.parse.urlencode({**query, "page": n, "page_size": page.limit})
        return f"<{request.path}?{q}>"  # the full path, mount point included

    if number > 1:
        links.append(f'{url(number - 1)}; rel="prev"')
    if page.offset + page.limit < total:
        links.append(f'{url(number + 1)}; rel="next"')
    headers = {"X-Total-Count": str(total)}
    if links:
        headers["Link"] = ", ".join(links)
    return json_response(items, headers=headers)


def page_slice(items: Sequence[T], page: Page) -> list[T]:
    return list(items[page.offset : page.offset + page.limit])


def project_ref(request: web.Request) -> str | int:
    """The ``{project}`` of the path: an id, or a name (always with X-Is-Resource-Name)."""
    ref = request.match_info["project"]
    if request.headers.get("X-Is-Resource-Name", "").lower() == "true" or not ref.isdigit():
        return ref
    return int(ref)


def auth_of(request: web.Request) -> AuthService:
    return request.config_dict[AUTH]


def content_of(request: web.Request) -> ContentService:
    return request.config_dict[CONTENT]


def event_actor(request: web.Request, principal: Principal) -> Actor:
    """The actor the content core records for a change made by ``principal``."""
    return Actor(principal.audit_name, client_ip(request))


def authenticated(fn: PrincipalHandler) -> Handler:
    """Authenticate, run, and turn auth and content errors into Harbor's error body."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        CLIENT_IP.set(client_ip(request))
        try:
            caller = await authenticate(request)
        except TooManyLogins as exc:
            return error_response(
                429,
                "TOO_MANY_REQUEST",  # Harbor's code for 429
                "too many failed logins; try again later",
                {"Retry-After": str(exc.retry_after)},
            )
        except BadCredentials:
            realm = request.config_dict[SETTINGS].auth.service
            return error_response(
                401,
                "UNAUTHORIZED",
                "invalid credentials",
                {"WWW-Authenticate": f'Basic realm="{realm}"'},
            )
        principal = caller.principal
        try:
            return await fn(request, principal)
        except Forbidden as exc:
            if not principal.authenticated:
                return error_response(401, "UNAUTHORIZED", "authentication required")
            return error_response(exc.status, exc.code, exc.message)
        except AuthError as exc:
            return error_response(exc.status, exc.code, exc.message)
        except RegistryError as exc:
            return error_response(exc.status, exc.error.code, exc.message)

    return wrapped
