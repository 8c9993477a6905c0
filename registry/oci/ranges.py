"""HTTP ranges: the `Range` request header of blob GETs and the `Content-Range` of PATCH."""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CONTENT_RANGE_RE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?$")


class Unsatisfiable(ValueError):
    """A syntactically valid range that lies outside the resource."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str, size: int) -> ByteRange | None:
    """Resolve a single `Range: bytes=…` against a resource of ``size`` bytes.

    Returns None when the header should be ignored (not a single bytes range, as RFC 9110
    allows); raises Unsatisfiable when it can't be served."""
    match = _RANGE_RE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix range: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable(header)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid, so ignored
    if start >= size:
        raise Unsatisfiable(header)
    end = int(last) if last else size - 1
    return ByteRange(start, min(end, size - 1))


def parse_content_range(header: str) -> ByteRange | None:
    """Parse a PATCH `Content-Range: <start>-<end>`; None when malformed."""
    match = _CONTENT_RANGE_RE.match(header.strip())
    if match is None:
        return None
    start, end = int(match.group(1)), int(match.group(2))
    if end < start:
        return None
    return ByteRange(start, end)
