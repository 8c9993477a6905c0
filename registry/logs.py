"""Structured (JSON-lines) logging, and the access log."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections import Counter
from typing import Any

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class AccessLogSink:
    """Access-log lines go to stderr in batches: one write per 64 KiB or half-second
    instead of one per request (the hot paths serve thousands of requests a second)."""

    def __init__(self, fd: int = 2, limit: int = 64 * 1024) -> None:
        self.fd = fd
        self.limit = limit
        self.buffer = bytearray()

    def add(self, entry: dict[str, Any]) -> None:
        self.buffer += orjson.dumps(entry, default=str)
        self.buffer += b"\n"
        if len(self.buffer) >= self.limit:
            self.flush()

    def flush(self) -> None:
        data, self.buffer = self.buffer, bytearray()
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:
                continue
            except OSError:
                return  # stderr gone: nowhere left to log to

    async def run(self, interval: float = 0.5) -> None:
        try:
            while True:
                await asyncio.sleep(interval)
                if self.buffer:
                    self.flush()
        finally:
            self.flush()


ACCESS_LOG = AccessLogSink()


class AccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, seconds: float) -> None:
        ACCESS_LOG.add(
            {
                "time": round(time.time(), 6),
                "level": "info",
                "logger": "wharf.access",
                "msg": "request",
                "remote": request.remote,
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "bytes_sent": response.body_length,
                "duration_ms": round(seconds * 1000, 3),
                "user_agent": request.headers.get("User-Agent", ""),
            }
        )


class ClientFaultLog:
    """One short line per client fault (a malformed request, a timeout, a refused
    connection), at most ``limit`` lines per ``window`` seconds in this process; beyond
    that the faults are only counted, and one warning at the end of the window says how
    many were suppressed. A flood of garbage from the internet costs a few lines, not a
    line (or a traceback) per request."""

    def __init__(self, limit: int = 20, window: float = 10.0) -> None:
        self.log = logging.getLogger("wharf.clients")
        self.limit = limit
        self.window = window
        self._window_end = 0.0
        self._logged = 0
        self._suppressed: Counter[str] = Counter()
        self._summary_handle: asyncio.TimerHandle | None = None

    def report(self, fault: str, msg: str, **fields: Any) -> None:
        """Log ``msg`` at info (``fault`` names the kind, for the summary and filters)."""
        now = time.monotonic()
        if now >= self._window_end:
            self.flush()
            self._window_end = now + self.window
            self._logged = 0
        if self._logged < self.limit:
            self._logged += 1
            self.log.info(msg, extra={"fault": fault, **fields})
            return
        self._suppressed[fault] += 1
        if self._summary_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop: the next report after the window flushes the summary
            delay = max(0.0, self._window_end - now)
            self._summary_handle = loop.call_later(delay, self.flush)

    def flush(self) -> None:
        """Emit the summary of what was suppressed, if anything was."""
        if self._summary_handle is not None:
            self._summary_handle.cancel()
            self._summary_handle = None
        if not self._suppressed:
            return
        counts, self._suppressed = dict(self._suppressed), Counter()
        self.log.warning(
            f"suppressed {sum(counts.values())} client fault lines",
            extra={"fault": "suppressed", "suppressed": counts, "window_s": self.window},
        )


CLIENT_FAULTS = ClientFaultLog()
