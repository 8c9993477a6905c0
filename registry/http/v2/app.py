"""The /v2 sub-application: the OCI distribution API with its own error format.

Its entry middleware parses the route once, renders every failure as an OCI error body
and adds the API version header; access control (when on) is the next middleware."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from wharf.auth.errors import Unavailable
from wharf.db.errors import DatabaseUnavailable
from wharf.registry.http.keys import ENDPOINT
from wharf.registry.http.v2 import blobs, listing, manifests, uploads
from wharf.registry.http.v2.common import method_not_allowed
from wharf.registry.http.v2.errors import API_VERSION, error_response
from wharf.registry.http.v2.routes import ROUTE, Endpoint, NotARoute, Route, parse_route
from wharf.registry.logs import CLIENT_FAULTS
from wharf.registry.metadata.base import ProjectUnknown
from wharf.registry.oci.errors import (
    BLOB_UPLOAD_INVALID,
    DENIED,
    ENDPOINT_UNKNOWN,
    SIZE_INVALID,
    STORAGE_FULL,
    UNAVAILABLE,
    UNKNOWN,
    RegistryError,
)
from wharf.storage.base import StorageError, StorageFull

log = logging.getLogger("wharf.v2")

V2Handler = Callable[[web.Request, Route], Awaitable[web.StreamResponse]]

READ = frozenset({"GET", "HEAD"})
HANDLERS: dict[Endpoint, tuple[V2Handler, frozenset[str]]] = {
    Endpoint.BASE: (listing.base, READ),
    Endpoint.CATALOG: (listing.catalog, READ),
    Endpoint.TAGS: (listing.tags, READ),
    Endpoint.REFERRERS: (listing.referrers, READ),
    Endpoint.BLOB: (blobs.blob, READ | {"DELETE"}),
    Endpoint.UPLOAD_START: (uploads.start, frozenset({"POST"})),
    Endpoint.UPLOAD: (uploads.upload, READ | {"PATCH", "PUT", "DELETE"}),
    Endpoint.MANIFEST: (manifests.manifest, READ | {"PUT", "DELETE"}),
}


def _unknown_endpoint(request: web.Request) -> RegistryError:
    return RegistryError(ENDPOINT_UNKNOWN, {"path": request.path[:300]})


@web.middleware
async def entry_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Parse the route; every failure becomes an OCI error body, only our bugs are 500s."""
    response: web.StreamResponse
    try:
        try:
            route = parse_route(request.raw_path)
        except NotARoute:
            request[ENDPOINT] = "other"
        else:
            request[ROUTE] = route
            request[ENDPOINT] = route.endpoint.value
        response = await handler(request)
    except RegistryError as err:
        response = error_response(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(_from_http_exception(request, exc))
    except ConnectionResetError:
        # the client went away mid-request: nobody will read an answer, and it is no error
        # of ours (a 500 here would page someone for a flaky client)
        CLIENT_FAULTS.report(
            "disconnected", "client closed the connection mid-request", path=request.path[:300]
        )
        response = error_response(
            RegistryError(BLOB_UPLOAD_INVALID, message="client closed the connection")
        )
    except ProjectUnknown as exc:
        # the project went away between the access check and the write (a concurrent
        # project delete): the same answer as a push into a missing project
        response = error_response(
            RegistryError(DENIED, {"project": exc.project}, message="project does not exist")
        )
    except DatabaseUnavailable as exc:
        # down, restarting or unreachable: a prompt 503 the client (or the load balancer's
        # retry) can act on, rather than a request hanging on a dead connection
        log.warning("database unavailable", extra={"path": request.path, "error": str(exc)})
        response = error_response(RegistryError(UNAVAILABLE, message="database unavailable"))
        response.headers["Retry-After"] = "1"
    except Unavailable as exc:
        # the LDAP directory or OIDC provider a login needs is down (its module logged why)
        response = error_response(RegistryError(UNAVAILABLE, message=exc.message))
        response.headers["Retry-After"] = "1"
    except StorageFull as exc:
        log.warning("storage is full", extra={"path": request.path, "error": str(exc)})
        response = error_response(RegistryError(STORAGE_FULL))
    except StorageError as exc:
        log.error(
            "storage failure",
            extra={"path": request.path, "method": request.method, "error": repr(exc)},
        )
        response = error_response(RegistryError(UNAVAILABLE, message="storage backend failed"))
    except Exception:
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        response = error_response(RegistryError(UNKNOWN))
    response.headers[API_VERSION[0]] = API_VERSION[1]
    return response


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> RegistryError:
    if exc.status == 405:
        return method_not_allowed(request, exc.headers.get("Allow", ""))
    if exc.status == 404:
        return _unknown_endpoint(request)
    if exc.status == 413:
        return RegistryError(SIZE_INVALID, message=exc.reason)
    return RegistryError(BLOB_UPLOAD_INVALID, message=exc.reason)


async def dispatch(request: web.Request) -> web.StreamResponse:
    route = request.get(ROUTE)
    if route is None:
        raise _unknown_endpoint(request)
    handler, methods = HANDLERS[route.endpoint]
    if request.method not in methods:
        raise method_not_allowed(request, ", ".join(sorted(methods)))
    return await handler(request, route)


def create_v2_app(*, access: Middleware | None = None) -> web.Application:
    """The sub-application to mount at /v2; ``access`` is the access-control middleware."""
    middlewares: list[Middleware] = [entry_middleware]
    if access is not None:
        middlewares.append(access)
    app = web.Application(middlewares=middlewares)
    app.router.add_route("*", "", dispatch)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app
