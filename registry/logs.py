"""Structured (JSON-lines) logging, and the access log."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
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
