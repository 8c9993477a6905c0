"""The aiohttp application: wiring of config, stores, middleware and routes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler

from wharf.registry.config import Settings
from wharf.registry.content.service import ContentService
from wharf.registry.http.keys import (
    CONTENT,
    DATABASE,
    DRIVER,
    METRICS,
    SETTINGS,
    SHARED_METRICS,
    STOPPING,
    STORE,
)
from wharf.registry.http.metrics import Metrics, SharedMetrics
from wharf.registry.http.transport.directread import CLOSE_AFTER
from wharf.registry.http.v2 import handlers as api
from wharf.registry.http.v2.routes import NotARoute, parse_route
from wharf.registry.metadata.base import MetadataStore
from wharf.registry.oci.errors import (
    BLOB_UPLOAD_INVALID,
    UNAVAILABLE,
    UNKNOWN,
    RegistryError,
    error_body,
    error_response,
)
from wharf.registry.wiring import make_database, make_driver, make_store
from wharf.storage.base import Driver, StorageError

log = logging.getLogger("wharf.app")

ROUTE_KEY = "wharf.route"
METRICS_PUBLISH_SECONDS = 1.0


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes an OCI error body; only our own bugs are 500s."""
    metrics = request.app[METRICS]
    started = time.perf_counter()
    metrics.in_flight += 1
    status = 500
    try:
        response: web.StreamResponse = await handler(request)
        status = response.status
    except RegistryError as err:
        status = err.status
        response = error_response(err)
    except web.HTTPException as exc:
        status = exc.status
        if exc.status >= 400 and exc.content_type != "application/json":
            code = "UNSUPPORTED" if exc.status == 405 else "UNKNOWN"
            exc.body = error_body(code, exc.reason)
            exc.content_type = "application/json"
        raise
    except ConnectionResetError:
        # the client went away mid-request: nobody will read an answer, and it is no error
        # of ours (a 500 here would page someone for a flaky client)
        log.info("client disconnected", extra={"path": request.path, "method": request.method})
        status = 400
        response = error_response(
            RegistryError(BLOB_UPLOAD_INVALID, message="client closed the connection")
        )
    except StorageError:
        log.exception("storage failure", extra={"path": request.path, "method": request.method})
        response = error_response(RegistryError(UNAVAILABLE, message="storage backend failed"))
        status = response.status
    except Exception:
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        response = error_response(RegistryError(UNKNOWN))
    finally:
        metrics.in_flight -= 1
        route = request.get(ROUTE_KEY)
        endpoint = route.endpoint.value if route is not None else "other"
        metrics.observe(endpoint, request.method, status, time.perf_counter() - started)
    response.headers[api.API_VERSION[0]] = api.API_VERSION[1]
    if request.app[STOPPING] or request.get(CLOSE_AFTER):
        response.force_close()
    return response


async def dispatch(request: web.Request) -> web.StreamResponse:
    try:
        route = parse_route(request.raw_path)
    except NotARoute:
        return await not_found(request)
    request[ROUTE_KEY] = route
    if request.method not in api.ALLOWED_METHODS[route.endpoint]:
        raise api.method_not_allowed(
            request, ", ".join(sorted(api.ALLOWED_METHODS[route.endpoint]))
        )
    response: web.StreamResponse = await api.HANDLERS[route.endpoint](request, route)
    return response


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[STORE].ping()
    except Exception as exc:
        return web.json_response({"status": "unavailable", "error": str(exc)}, status=503)
    return web.json_response({"status": "ok"})


async def metrics_endpoint(request: web.Request) -> web.Response:
    combined = request.app[SHARED_METRICS].combined(request.app[METRICS])
    return web.Response(text=combined.render(), content_type="text/plain")


async def _publish_metrics(app: web.Application) -> None:
    while True:
        await asyncio.sleep(METRICS_PUBLISH_SECONDS)
        app[SHARED_METRICS].publish(app[METRICS])


async def not_found(request: web.Request) -> web.Response:
    return web.Response(
        status=404,
        body=error_body("NOT_FOUND", "no such endpoint", {"path": request.path[:300]}),
        content_type="application/json",
    )


def create_app(
    settings: Settings, store: MetadataStore | None = None, driver: Driver | None = None
) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=1024**2 * 8)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[SHARED_METRICS] = SharedMetrics(settings.data_dir / "run" / "metrics")
    app[STOPPING] = False

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        database = make_database(settings)
        await database.open()
        the_store = store or make_store(settings, database)
        the_driver = driver or make_driver(settings)
        await the_store.open()
        await the_driver.start()
        app[DATABASE] = database
        app[STORE] = the_store
        app[DRIVER] = the_driver
        app[CONTENT] = ContentService(
            the_store,
            the_driver,
            manifest_max_size=settings.manifest_max_size,
            delete_enabled=settings.delete_enabled,
        )
        shared = app[SHARED_METRICS]
        shared.publish(app[METRICS])
        publisher = asyncio.create_task(_publish_metrics(app))
        yield
        publisher.cancel()
        await asyncio.gather(publisher, return_exceptions=True)
        shared.withdraw()
        await the_driver.close()
        await the_store.close()
        await database.close()

    app.cleanup_ctx.append(lifecycle)
    if settings.auth.enabled:
        from wharf.registry.http.access import install as install_auth

        install_auth(app, settings)
    app.router.add_route("*", "/v2", dispatch)
    app.router.add_route("*", "/v2/{tail:.*}", dispatch)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_endpoint)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app
