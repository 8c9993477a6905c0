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

from aiohttp import web

from wharf.registry.config import Settings
from wharf.registry.http.app import create_app
from wharf.registry.http.keys import METRICS, STOPPING
from wharf.registry.logs import ACCESS_LOG, AccessLogger
from wharf.registry.wiring import make_database, make_driver

log = logging.getLogger("wharf.server")

READ_BUFSIZE = 1024 * 1024


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
    from wharf.registry.http.access import bootstrap as bootstrap_auth

    await bootstrap_auth(settings, database)  # first start: admin, `library`, signing key
    await database.close()


async def _serve_worker(settings: Settings, reuse_port: bool) -> None:
    app = create_app(settings)
    runner = web.AppRunner(
        app,
        access_log_class=AccessLogger,
        access_log=logging.getLogger("wharf.access") if settings.log.access_log else None,
        handle_signals=False,
        shutdown_timeout=settings.shutdown_timeout,
        # aiohttp pauses the socket whenever a body buffer passes 2 x read_bufsize; at the
        # default 64 KiB a 1 GiB push pauses and resumes the socket thousands of times.
        read_bufsize=READ_BUFSIZE,
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
