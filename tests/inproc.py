"""The application in this process: `create_app` served by aiohttp's `TestServer` on an
event loop in a background thread, listening on a real localhost socket.

No `wharf serve` process, no workers, no health polling: an app starts in milliseconds, so
every test module can have its own over a fresh data directory (the run/ counters and the
SQLite file are per data directory). The synchronous `requests` helpers and raw sockets
drive it exactly as they drive a process, so the assertions of the process tests carry
over unchanged. Tests whose point is processes (several workers, kills, signals, TLS,
memory of a worker) keep using `helpers.run_wharf`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop
from aiohttp import web
from aiohttp.test_utils import TestServer

from wharf.registry.config import Settings, load_settings
from wharf.registry.http.app import create_app
from wharf.registry.http.server import READ_BUFSIZE

# the system admin of the apps served with access control on by the shared fixtures
ADMIN = ("admin", "App-Admin-Pass-1")


class _ErrorRecorder(logging.Handler):
    """Collects every record at ERROR or above that the app logs while it runs: those of
    its own threads (the event loop's and its executors'), not those of the test thread,
    where other tests provoke errors on purpose."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != threading.main_thread().ident:
            self.records.append(record)


@dataclass
class InProcessServer:
    url: str
    data_dir: Path
    settings: Settings
    errors: list[logging.LogRecord] = field(default_factory=list)
    app: web.Application | None = None  # for tests that look inside (its services)
    # run a coroutine on the app's event loop, from the test's thread; its result
    run: Callable[..., Any] | None = None

    def error_log(self) -> str:
        return "\n".join(
            f"{r.name}: {r.getMessage()} {getattr(r, 'exc_text', '') or ''}" for r in self.errors
        )


@contextmanager
def serve_in_process(
    data_dir: Path,
    *,
    auth: bool = False,
    admin_password: str | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Iterator[InProcessServer]:
    """Serve a fresh app over ``data_dir``; access control is off unless ``auth``.

    ``environ`` stands for the process environment (``WHARF_*`` variables, as given to a
    `wharf serve` process; the real environment is not read); ``overrides`` are top-level
    settings as in the YAML file (``delete_enabled=False``, ``external_url=...``).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    auth_section: dict[str, Any] = {"enabled": auth}
    if admin_password is not None:
        auth_section["admin_password"] = admin_password
    settings = load_settings(
        None, {"data_dir": str(data_dir), "auth": auth_section, **overrides}, environ or {}
    )
    recorder = _ErrorRecorder()
    # the root logger: the registry's own errors and aiohttp's (an unhandled exception in
    # a handler), as the JSON log of a `wharf serve` process would show them
    root_log = logging.getLogger()
    root_log.addHandler(recorder)
    loop = uvloop.new_event_loop()  # the loop `wharf serve` workers run
    thread = threading.Thread(target=loop.run_forever, name="wharf-in-process", daemon=True)
    thread.start()

    def run(coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    async def make_server() -> TestServer:
        # built on the loop that serves it: aiohttp binds some objects to the running loop
        return TestServer(create_app(settings), host="127.0.0.1")

    server: TestServer = run(make_server())
    try:
        # The body buffer size of `wharf serve`. The short shutdown timeout only matters at
        # teardown: a request cut off mid-body leaves its connection in aiohttp's lingering
        # read (up to 10 s), which a graceful close would otherwise wait out. Graceful
        # shutdown itself is tested against processes.
        run(server.start_server(read_bufsize=READ_BUFSIZE, shutdown_timeout=1.0))
        url = str(server.make_url("")).rstrip("/")
        yield InProcessServer(url, data_dir, settings, recorder.records, server.app, run)
    finally:
        try:
            run(server.close())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)
            loop.close()
            root_log.removeHandler(recorder)
