"""Structured (JSON-lines) logging, and the access log."""

from __future__ import annotations

import logging
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


class AccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, seconds: float) -> None:
        self.logger.info(
            "request",
            extra={
                "remote": request.remote,
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "bytes_sent": response.body_length,
                "duration_ms": round(seconds * 1000, 3),
                "user_agent": request.headers.get("User-Agent", ""),
                "ts": time.time(),
            },
        )
