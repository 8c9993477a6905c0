"""The OCI error catalog: every client-visible error comes from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web


@dataclass(frozen=True, slots=True)
class ErrorCode:
    code: str
    message: str
    status: int


# The distribution-spec catalog, plus the reference registry's extras (UNSUPPORTED, …).
BLOB_UNKNOWN = ErrorCode("BLOB_UNKNOWN", "blob unknown to registry", 404)
BLOB_UPLOAD_INVALID = ErrorCode("BLOB_UPLOAD_INVALID", "blob upload invalid", 400)
BLOB_UPLOAD_UNKNOWN = ErrorCode("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", 404)
DIGEST_INVALID = ErrorCode("DIGEST_INVALID", "provided digest did not match uploaded content", 400)
MANIFEST_BLOB_UNKNOWN = ErrorCode(
    "MANIFEST_BLOB_UNKNOWN", "manifest references a manifest or blob unknown to registry", 400
)
MANIFEST_INVALID = ErrorCode("MANIFEST_INVALID", "manifest invalid", 400)
MANIFEST_UNKNOWN = ErrorCode("MANIFEST_UNKNOWN", "manifest unknown to registry", 404)
NAME_INVALID = ErrorCode("NAME_INVALID", "invalid repository name", 400)
NAME_UNKNOWN = ErrorCode("NAME_UNKNOWN", "repository name not known to registry", 404)
SIZE_INVALID = ErrorCode("SIZE_INVALID", "provided length did not match content length", 400)
TAG_INVALID = ErrorCode("TAG_INVALID", "manifest tag did not match URI", 400)
UNAUTHORIZED = ErrorCode("UNAUTHORIZED", "authentication required", 401)
DENIED = ErrorCode("DENIED", "requested access to the resource is denied", 403)
UNSUPPORTED = ErrorCode("UNSUPPORTED", "the operation is unsupported", 405)
TOOMANYREQUESTS = ErrorCode("TOOMANYREQUESTS", "too many requests", 429)
RANGE_INVALID = ErrorCode("RANGE_INVALID", "requested range not satisfiable", 416)
PAGINATION_NUMBER_INVALID = ErrorCode(
    "PAGINATION_NUMBER_INVALID", "invalid number of results requested", 400
)
MANIFEST_TOO_LARGE = ErrorCode("SIZE_INVALID", "manifest exceeds the size limit", 413)
UNKNOWN = ErrorCode("UNKNOWN", "unknown error", 500)
UNAVAILABLE = ErrorCode("UNAVAILABLE", "service unavailable", 503)

CATALOG: tuple[ErrorCode, ...] = (
    BLOB_UNKNOWN,
    BLOB_UPLOAD_INVALID,
    BLOB_UPLOAD_UNKNOWN,
    DIGEST_INVALID,
    MANIFEST_BLOB_UNKNOWN,
    MANIFEST_INVALID,
    MANIFEST_UNKNOWN,
    NAME_INVALID,
    NAME_UNKNOWN,
    SIZE_INVALID,
    TAG_INVALID,
    UNAUTHORIZED,
    DENIED,
    UNSUPPORTED,
    TOOMANYREQUESTS,
    RANGE_INVALID,
    PAGINATION_NUMBER_INVALID,
    MANIFEST_TOO_LARGE,
    UNKNOWN,
    UNAVAILABLE,
)


class RegistryError(Exception):
    """Raised anywhere below the HTTP layer; the error middleware renders it."""

    def __init__(
        self,
        error: ErrorCode,
        detail: Any = None,
        *,
        message: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or error.message)
        self.error = error
        self.detail = detail
        self.message = message or error.message
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return self.error.status

    def body(self) -> bytes:
        return error_body(self.error.code, self.message, self.detail)


def error_body(code: str, message: str, detail: Any = None) -> bytes:
    return orjson.dumps({"errors": [{"code": code, "message": message, "detail": detail}]})


def error_response(err: RegistryError) -> web.Response:
    headers = {"Content-Type": "application/json", **err.headers}
    return web.Response(status=err.status, body=err.body(), headers=headers)
