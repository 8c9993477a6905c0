"""Assertion helpers: every failure message says what was sent and what came back."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable
from typing import Any

import requests

from .framework import CheckFailed
from .oci import SPEC_ERROR_CODES


def describe(resp: requests.Response) -> str:
    req = resp.request
    path = urllib.parse.urlsplit(req.url).path if req.url else "?"
    body = resp.content[:200].decode("utf-8", "replace").strip() if resp.content else ""
    text = f"{req.method} {path} -> {resp.status_code}"
    return f"{text} {body!r}" if body else text


def expect(cond: bool, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


def expect_status(resp: requests.Response, *codes: int) -> None:
    if resp.status_code not in codes:
        want = " or ".join(str(c) for c in codes)
        raise CheckFailed(f"expected {want}: {describe(resp)}")


def header(resp: requests.Response, name: str) -> str:
    value = resp.headers.get(name)
    if value is None:
        raise CheckFailed(f"missing {name} header: {describe(resp)}")
    return value


def expect_header(resp: requests.Response, name: str, value: str) -> None:
    got = header(resp, name)
    if got.strip() != value:
        raise CheckFailed(f"{name} is {got!r}, expected {value!r}: {describe(resp)}")


def content_type(resp: requests.Response) -> str:
    return header(resp, "Content-Type").split(";")[0].strip()


def json_body(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        raise CheckFailed(f"body is not JSON: {describe(resp)}") from None


def error_codes(resp: requests.Response, allowed: Iterable[str] = ()) -> list[str]:
    """Validate ``{"errors":[{"code","message","detail"}]}`` and return the codes.

    Every code must be in the spec's catalog (or in ``allowed``)."""
    try:
        doc = json.loads(resp.content)
    except ValueError:
        raise CheckFailed(f"error body is not JSON: {describe(resp)}") from None
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list) or not errors:
        raise CheckFailed(f'error body has no "errors" list: {describe(resp)}')
    codes: list[str] = []
    catalog = SPEC_ERROR_CODES | set(allowed)
    for e in errors:
        if not isinstance(e, dict) or not isinstance(e.get("code"), str):
            raise CheckFailed(f"error entry without a string code: {describe(resp)}")
        if "message" in e and not isinstance(e["message"], str):
            raise CheckFailed(f"error message is not a string: {describe(resp)}")
        if e["code"] not in catalog:
            raise CheckFailed(
                f"error code {e['code']!r} is not in the spec catalog: {describe(resp)}"
            )
        codes.append(e["code"])
    return codes


def expect_error(
    resp: requests.Response, statuses: int | tuple[int, ...], *codes: str
) -> list[str]:
    """Status is one of ``statuses`` and the body carries one of ``codes``."""
    want = (statuses,) if isinstance(statuses, int) else statuses
    expect_status(resp, *want)
    got = error_codes(resp, allowed=codes)
    if codes and not set(got) & set(codes):
        raise CheckFailed(f"expected error code {' or '.join(codes)}, got {got}: {describe(resp)}")
    return got


def not_server_error(resp: requests.Response) -> None:
    if resp.status_code >= 500:
        raise CheckFailed(f"server error on bad input: {describe(resp)}")


def parse_range(value: str) -> tuple[int, int]:
    """Parse an upload ``Range`` header (``0-<end>``, tolerating a ``bytes=`` prefix)."""
    v = value.strip()
    if v.startswith("bytes="):
        v = v[len("bytes=") :]
    try:
        start, end = v.split("-", 1)
        return int(start), int(end)
    except ValueError:
        raise CheckFailed(f"malformed Range header {value!r}") from None
