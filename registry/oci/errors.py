"""The OCI error catalog: every client-visible error comes from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class ErrorCode:
    code: str
    message: str
    status: int


# The distribution-spec catalog. Every code a client sees in a 4xx body is one of the
# spec's table (SPEC_CODES); several entries reuse a spec code with another status or
# message where the spec names none for the case (a bad range is BLOB_UPLOAD_INVALID 416).
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
TAG_INVALID = ErrorCode("MANIFEST_INVALID", "invalid tag", 400)
UNAUTHORIZED = ErrorCode("UNAUTHORIZED", "authentication required", 401)
DENIED = ErrorCode("DENIED", "requested access to the resource is denied", 403)
UNSUPPORTED = ErrorCode("UNSUPPORTED", "the operation is unsupported", 405)
TOOMANYREQUESTS = ErrorCode("TOOMANYREQUESTS", "too many requests", 429)
RANGE_INVALID = ErrorCode("BLOB_UPLOAD_INVALID", "content range invalid or out of order", 416)
RANGE_NOT_SATISFIABLE = ErrorCode("SIZE_INVALID", "requested range not satisfiable", 416)
PAGINATION_NUMBER_INVALID = ErrorCode("UNSUPPORTED", "invalid number of results requested", 400)
ENDPOINT_UNKNOWN = ErrorCode("NAME_UNKNOWN", "no such endpoint or repository", 404)
STORAGE_FULL = ErrorCode("DENIED", "storage is full: the registry cannot store more data", 507)
MANIFEST_TOO_LARGE = ErrorCode("SIZE_INVALID", "manifest exceeds the size limit", 413)
# Server faults, not the client's: the only codes outside the spec's table.
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
    RANGE_NOT_SATISFIABLE,
    PAGINATION_NUMBER_INVALID,
    ENDPOINT_UNKNOWN,
    STORAGE_FULL,
    MANIFEST_TOO_LARGE,
    UNKNOWN,
    UNAVAILABLE,
)


SPEC_CODES: frozenset[str] = frozenset(
    {
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
        "TOOMANYREQUESTS",
    }
)


class RegistryError(Exception):
    """Raised anywhere below the HTTP layer; the /v2 error middleware renders it."""

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
