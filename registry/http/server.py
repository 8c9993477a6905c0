"""Run the registry: one process per worker sharing the port through SO_REUSEPORT,
under a small supervisor that restarts crashed workers and forwards shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import ssl
import sys
import time
from collections import Counter
from http import HTTPStatus
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from wharf.registry.config import LimitsConfig, Settings
from wharf.registry.http.app import create_app
from wharf.registry.http.keys import METRICS, STOPPING
from wharf.registry.logs import ACCESS_LOG, CLIENT_FAULTS, AccessLogger
from wharf.registry.wiring import bootstrap_auth, make_database, make_driver

log = logging.getLogger("wharf.server")

READ_BUFSIZE = 1024 * 1024
RETRY_AFTER_SECONDS = 5


def _raw_response(status: int, reason: str, extra: str = "") -> bytes:
    """A complete, connection-closing response for when no request object exists."""
    return (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Length: 0\r\n{extra}\r\n"
    ).encode()


TOO_MANY_CONNECTIONS = _raw_response(
    503, "Service Unavailable", f"Retry-After: {RETRY_AFTER_SECONDS}\r\n"
)
REQUEST_TIMEOUT = _raw_response(408, "Request Timeout")


def _describe(exc: BaseException | None) -> str:
    """What was wrong with a request, on one short line."""
    if isinstance(exc, HttpProcessingError):
        text = exc.message if isinstance(exc.message, str) else str(exc)
    else:
        text = str(exc) if exc is not None else "bad request"
    return " ".join(text.split())[:200] or type(exc).__name__


class GuardedServer(web.Server):
    """aiohttp's low-level server, making `GuardedRequestHandler` protocols and counting
    open connections per client address (in this worker process)."""

    def __init__(self, handler: Any, *, limits: LimitsConfig, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.limits = limits
        self.per_client: Counter[str] = Counter()

    def __call__(self) -> RequestHandler:
        return GuardedRequestHandler(self, loop=self._loop, **self._kwargs)

    def admit(self, client: str) -> bool:
        cap = self.limits.max_connections_per_client
        if cap and self.per_client[client] >= cap:
            return False
        self.per_client[client] += 1
        return True

    def release(self, client: str) -> None:
        self.per_client[client] -= 1
        if self.per_client[client] <= 0:
            del self.per_client[client]


class GuardedRequestHandler(RequestHandler):
    """aiohttp's HTTP/1 protocol plus what a registry on the internet needs: a deadline
    for the request line and headers, an idle timeout for request bodies, a cap on
    connections per client address, and one short rate-limited line (no traceback) per
    malformed request.

    Body idle time only counts while the connection is reading: when the transport is
    paused (flow control because the handler is busy storing what arrived, or the direct
    body reader took the socket over, see transport/directread.py, which applies the same
    idle timeout itself) the client is not the one stalling."""

    def __init__(self, manager: GuardedServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._limits = manager.limits
        self._guard = manager
        self._client = "-"
        self._admitted = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._body: StreamReader | None = None
        self._body_deadline = 0.0
        self._body_timer: asyncio.TimerHandle | None = None

    # --- connection lifetime -------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if isinstance(peer, tuple) and peer else "-"
        if not self._guard.admit(self._client):
            self._force_close = True
            self._manager = None  # never registered with the server: nothing to undo
            CLIENT_FAULTS.report(
                "too_many_connections",
                "connection refused: too many connections from this client",
                remote=self._client,
                limit=self._limits.max_connections_per_client,
            )
            stream = cast(asyncio.Transport, transport)
            stream.write(TOO_MANY_CONNECTIONS)
            stream.close()
            return
        self._admitted = True
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._admitted:
            self._admitted = False
            self._guard.release(self._client)
        self._cancel_timers()
        super().connection_lost(exc)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    # --- reading ---------------------------------------------------------------
    def _in_body(self) -> bool:
        return self._body is not None and not self._body.is_eof()

    def data_received(self, data: bytes) -> None:
        if data and self._head_timer is None and not self._in_body():
            self._arm_head_timer()  # the first bytes of the next request
        if self._head_timer is not None:
            self._head_bytes += len(data)
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:  # a request line and headers arrived whole
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            self._body = self._messages[-1][1] if self._messages else None
            if self._in_body():
                self._body_deadline = self._loop.time() + self._limits.body_idle_timeout
                if self._body_timer is None:
                    self._body_timer = self._loop.call_at(self._body_deadline, self._check_body)
        elif data and self._in_body():
            self._body_deadline = self._loop.time() + self._limits.body_idle_timeout

    def _arm_head_timer(self) -> None:
        self._head_bytes = 0
        self._head_timer = self._loop.call_later(self._limits.header_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport is None or self._force_close:
            return
        busy = self._request_in_progress or bool(self._messages)  # an answer may be under way
        if self._head_bytes:
            CLIENT_FAULTS.report(
                "header_timeout",
                f"request headers incomplete after {self._limits.header_timeout:g} s; "
                "connection closed",
                remote=self._client,
                bytes_received=self._head_bytes,
            )
            if not busy:
                self.transport.write(REQUEST_TIMEOUT)
        else:
            CLIENT_FAULTS.report(
                "header_timeout",
                f"no request within {self._limits.header_timeout:g} s of connecting; "
                "connection closed",
                remote=self._client,
            )
        self.force_close()

    def _check_body(self) -> None:
        self._body_timer = None
        if self.transport is None or self._force_close or not self._in_body():
            return
        now = self._loop.time()
        if not self.transport.is_reading():  # paused by us, not stalled by the client
            self._body_deadline = now + self._limits.body_idle_timeout
        if now < self._body_deadline:
            self._body_timer = self._loop.call_at(self._body_deadline, self._check_body)
            return
        request = self._current_request
        CLIENT_FAULTS.report(
            "body_timeout",
            f"request body idle for {self._limits.body_idle_timeout:g} s; connection closed",
            remote=self._client,
            method=request.method if request is not None else None,
            path=request.path[:300] if request is not None else None,
        )
        if request is None or request.writer.output_size == 0:
            self.transport.write(REQUEST_TIMEOUT)
        self.force_close()

    # --- malformed requests ----------------------------------------------------
    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError) or not 400 <= status < 500:
            return super().handle_error(request, status, exc, message)
        # the request could not be parsed: the client's fault, worth one short line
        CLIENT_FAULTS.report(
            "bad_request",
            f"malformed request: {_describe(exc)}",
            remote=self._client,
            status=status,
        )
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; closing the connection")
        response = web.Response(status=status, text=f"{status} {HTTPStatus(status).phrase}\n")
        response.force_close()
        return response


class GuardedAppRunner(web.AppRunner):
    """An AppRunner whose server speaks through `GuardedRequestHandler`."""

    def __init__(self, app: web.Application, *, limits: LimitsConfig, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._limits = limits

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # runs the app's startup, builds the kwargs
        return GuardedServer(
            plain.request_handler,
            limits=self._limits,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **plain._kwargs,
        )


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(settings.tls.certificate), str(settings.tls.key))
    return context


async def prepare(settings: Settings) -> None:
    """Create the data layout and bring the schema up to date, once, before workers fork
    (the database's threads are gone again when this returns)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(settings.data_dir / "run", ignore_errors=True)  # a previous run's workers
    database = make_database(settings)
    driver = make_driver(settings)
    await database.open()  # runs every package's migrations
    await driver.start()
    await driver.close()
    await bootstrap_auth(settings, database)  # first start: admin, `library`, signing key
    await database.close()


async def _serve_worker(settings: Settings, reuse_port: bool) -> None:
    app = create_app(settings)
    limits = settings.limits
    CLIENT_FAULTS.limit = limits.client_fault_log_limit
    runner = GuardedAppRunner(
        app,
        limits=limits,
        access_log_class=AccessLogger,
        access_log=logging.getLogger("wharf.access") if settings.log.access_log else None,
        handle_signals=False,
        shutdown_timeout=settings.shutdown_timeout,
        # aiohttp pauses the socket whenever a body buffer passes 2 x read_bufsize; at the
        # default 64 KiB a 1 GiB push pauses and resumes the socket thousands of times.
        read_bufsize=READ_BUFSIZE,
        keepalive_timeout=limits.keepalive_timeout,
    )
    await runner.setup()
    site = web.TCPSite(
        runner,
        settings.host,
        settings.port,
        ssl_context=_ssl_context(settings),
        reuse_port=reuse_port,
        backlog=1024,
    )
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    flusher = asyncio.create_task(ACCESS_LOG.run())
    await stop.wait()
    CLIENT_FAULTS.flush()
    log.info("worker stopping", extra={"pid": os.getpid()})
    await _drain(runner, app, settings.shutdown_timeout)
    await runner.cleanup()
    flusher.cancel()
    await asyncio.gather(flusher, return_exceptions=True)


async def _drain(runner: web.AppRunner, app: web.Application, grace: float) -> None:
    """Stop accepting, then let in-flight requests finish before the runner closes the
    connections (aiohttp's own shutdown stops reading request bodies at once, which would
    cut off every upload in progress)."""
    app[STOPPING] = True  # responses from now on close their connection
    for site in list(runner.sites):
        await site.stop()
    metrics = app[METRICS]
    deadline = time.monotonic() + grace
    # a plain counter polled briefly: an Event would cost every request a check
    while metrics.in_flight > 0 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


def run_worker(settings: Settings, reuse_port: bool) -> None:
    import uvloop

    uvloop.run(_serve_worker(settings, reuse_port))


def serve(settings: Settings) -> int:
    asyncio.run(prepare(settings))
    workers = settings.worker_count
    scheme = "https" if settings.tls else "http"
    log.info(
        "wharf listening",
        extra={
            "url": f"{scheme}://{settings.listen}",
            "workers": workers,
            "data_dir": str(settings.data_dir),
            "storage": settings.storage.driver,
        },
    )
    print(
        f"Wharf serving {scheme}://{settings.listen} with {workers} worker(s); "
        f"data in {settings.data_dir}",
        file=sys.stderr,
        flush=True,
    )
    if workers == 1:
        run_worker(settings, reuse_port=False)
        return 0
    return _supervise(settings, workers)


def _supervise(settings: Settings, workers: int) -> int:
    children: dict[int, float] = {}
    stopping = False

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:
            try:
                run_worker(settings, reuse_port=True)
            except BaseException:
                log.exception("worker failed")
                os._exit(1)
            os._exit(0)
        children[pid] = time.monotonic()

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for _ in range(workers):
        spawn()
    status = 0
    while children:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        started = children.pop(pid, None)
        if started is None:
            continue
        if not stopping:
            log.error("worker exited; restarting", extra={"pid": pid, "status": code})
            if time.monotonic() - started < 1.0:
                time.sleep(1.0)  # don't spin when workers die at start-up
            spawn()
        elif code != 0:
            status = 1
    return status
