"""HTTP to one remote registry: an aiohttp session per endpoint, authentication, retries.

Every request names the token scopes it needs; the ``Authenticator`` supplies the header
(nothing until the remote first challenges, then the right one up front). A 401 teaches
the challenge and the request is sent once more with fresh credentials.

Retries: connection failures, timeouts, truncated bodies and the statuses of
``RetryPolicy.statuses`` (429, 500, 502, 503, 504) are tried again, up to
``attempts`` times in all, after ``Retry-After`` when the remote sends one (seconds or an
HTTP date, capped at ``max_delay``), else after an exponential backoff with jitter. Only
requests whose body can be sent again are retried here (no body, or bytes); a streamed
body is the caller's to restart (``RegistryClient.push_blob`` does).

Redirects of GET and HEAD (blob downloads sent to S3 or a CDN) are followed here, and
the ``Authorization`` header is not sent to another host.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from wharf.replication.client.auth import Authenticator, AuthFailed, TokenReply
from wharf.replication.client.endpoint import Endpoint, ssl_context

log = logging.getLogger("wharf.replication.client")

USER_AGENT = "wharf-replication/0.1"
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5  # tries in all, the first included
    backoff: float = 0.5  # the first pause; doubled each time, with jitter
    max_delay: float = 30.0  # no pause (Retry-After included) is longer
    statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The pause before try ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        base: float = self.backoff * 2.0 ** (attempt - 1)
        return min(base * random.uniform(0.5, 1.0), self.max_delay)


@dataclass(frozen=True, slots=True)
class ClientOptions:
    retry: RetryPolicy = RetryPolicy()
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # a response that sends nothing for this long failed
    ca_bundle: Path | None = None  # PEM file trusted instead of the system's store
    connections: int = 16  # open connections to the remote at most
    read_chunk: int = 1024 * 1024  # bytes per piece of a streamed blob
    user_agent: str = USER_AGENT


class RegistryUnreachable(Exception):
    """The remote did not answer (refused, reset, timed out, TLS failure), after retries."""


class RemoteError(Exception):
    """The remote answered with an error: its status and the OCI error code and message
    of its body (``UNKNOWN`` when the body is not an OCI error)."""

    def __init__(self, method: str, url: str, status: int, code: str, message: str) -> None:
        super().__init__(f"{method} {url}: {status} {code}: {message}")
        self.method = method
        self.url = url
        self.status = status
        self.code = code
        self.message = message


class NotFound(RemoteError):
    """404."""


class Denied(RemoteError):
    """401 or 403 with a credential sent: not allowed."""


def remote_error(method: str, url: str, status: int, body: bytes) -> RemoteError:
    code, message = "UNKNOWN", body[:200].decode(errors="replace")
    try:
        doc = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("errors"), list) and doc["errors"]:
        first = doc["errors"][0]
        if isinstance(first, dict):
            code = str(first.get("code") or code)
            message = str(first.get("message") or "")
    kind: type[RemoteError] = RemoteError
    if status == 404:
        kind = NotFound
    elif status in (401, 403):
        kind = Denied
    return kind(method, url, status, code, message)


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(slots=True)
class Reply:
    """A response read in full."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    url: str

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


Body = bytes | AsyncIterable[bytes] | None


@dataclass(slots=True)
class Stats:
    requests: int = 0
    retries: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


class Transport:
    def __init__(self, endpoint: Endpoint, options: ClientOptions | None = None) -> None:
        self.endpoint = endpoint
        self.options = options or ClientOptions()
        self.base = endpoint.api_url
        self.auth = Authenticator(endpoint.credential, self._token_request)
        self.stats = Stats()
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(
            ssl=ssl_context(self.endpoint, self.options.ca_bundle),
            limit=self.options.connections,
        )
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=self.options.connect_timeout,
            sock_connect=self.options.connect_timeout,
            sock_read=self.options.read_timeout,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            headers={"User-Agent": self.options.user_agent},
            auto_decompress=False,  # blobs are bytes to copy, never to unpack
        )

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the client is not started (use `async with`)")
        return self._session

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base + path

    # --- requests ------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        scopes: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        ok: Iterable[int] = (200,),
    ) -> Reply:
        """Send, read the whole answer, raise ``RemoteError`` unless its status is ``ok``.
        Retried as a whole (a body cut off mid-read too)."""
        accepted = frozenset(ok)
        url = self.url(path)
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._open(method, url, scopes, headers, body) as response:
                    data = await response.read()
                    self.stats.bytes_received += len(data)
                    reply = Reply(response.status, response.headers, data, str(response.url))
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError) as exc:
                if (
                    isinstance(exc, aiohttp.ClientSSLError)
                    or attempt >= self.options.retry.attempts
                ):
                    raise RegistryUnreachable(f"{method} {url}: {_describe(exc)}") from exc
                await self._pause(attempt, None, method, url, _describe(exc))
                continue
            if reply.status in accepted:
                return reply
            raise remote_error(method, url, reply.status, reply.body)

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        scopes: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        ok: Iterable[int] = (200,),
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send and hand over the response unread (a blob download, or a streamed
        upload); ``RemoteError`` unless its status is ``ok``."""
        url = self.url(path)
        async with self._open(method, url, scopes, headers, body) as response:
            if response.status not in frozenset(ok):
                data = await response.read()
                raise remote_error(method, url, response.status, data)
            yield response

    @asynccontextmanager
    async def _open(
        self,
        method: str,
        url: str,
        scopes: Iterable[str],
        headers: Mapping[str, str] | None,
        body: Body,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The final response of ``method url``: after the retries its status allows,
        one round of authentication, and redirects."""
        scopes = tuple(scopes)
        replayable = body is None or isinstance(body, bytes)
        attempt = 0
        authenticated_again = False
        while True:
            attempt += 1
            sent_auth = await self.auth.header(scopes)
            request_headers = CIMultiDict(headers or {})
            if sent_auth is not None:
                request_headers["Authorization"] = sent_auth
            try:
                response = await self._send(method, url, request_headers, body)
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                final = isinstance(exc, aiohttp.ClientSSLError)  # a certificate won't change
                if final or not replayable or attempt >= self.options.retry.attempts:
                    raise RegistryUnreachable(f"{method} {url}: {_describe(exc)}") from exc
                await self._pause(attempt, None, method, url, _describe(exc))
                continue
            status = response.status
            if status == 401 and replayable and not authenticated_again:
                challenge = self.auth.learn(response.headers.getall("WWW-Authenticate", []))
                response.release()
                if challenge is None:
                    raise Denied(method, url, 401, "UNAUTHORIZED", "no challenge to answer")
                self.auth.forget(scopes)  # a token the remote no longer takes: a new one
                authenticated_again = True
                attempt -= 1  # authenticating is not a failed try
                continue
            retryable = status in self.options.retry.statuses and replayable
            if retryable and attempt < self.options.retry.attempts:
                wait = retry_after(response.headers)
                response.release()
                await self._pause(attempt, wait, method, url, f"status {status}")
                continue
            if method in ("GET", "HEAD") and status in REDIRECTS:
                response = await self._follow(method, url, request_headers, response)
            try:
                yield response
            finally:
                response.release()
            return

    async def _send(
        self, method: str, url: str, headers: CIMultiDict[str], body: Body
    ) -> aiohttp.ClientResponse:
        self.stats.requests += 1
        self.stats.by_method[method] = self.stats.by_method.get(method, 0) + 1
        data: Any = body
        if isinstance(body, bytes):
            self.stats.bytes_sent += len(body)
        elif body is not None:
            data = self._counting(body)
        return await self.session.request(
            method, url, headers=headers, data=data, allow_redirects=False
        )

    async def _counting(self, body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        async for chunk in body:
            self.stats.bytes_sent += len(chunk)
            yield chunk

    async def _follow(
        self,
        method: str,
        url: str,
        headers: CIMultiDict[str],
        response: aiohttp.ClientResponse,
    ) -> aiohttp.ClientResponse:
        origin = urlsplit(url).netloc
        for _ in range(MAX_REDIRECTS):
            if response.status not in REDIRECTS:
                return response
            location = response.headers.get("Location")
            if not location:
                return response
            response.release()
            url = urljoin(url, location)
            if urlsplit(url).netloc != origin:
                headers = CIMultiDict((k, v) for k, v in headers.items() if k != "Authorization")
            response = await self._send(method, url, headers, None)
        return response

    async def _pause(
        self, attempt: int, wait: float | None, method: str, url: str, why: str
    ) -> None:
        delay = self.options.retry.delay(attempt, wait)
        self.stats.retries += 1
        log.info(
            "registry request failed; trying again",
            extra={
                "method": method,
                "url": url,
                "reason": why,
                "attempt": attempt,
                "delay": round(delay, 3),
            },
        )
        await asyncio.sleep(delay)

    async def _token_request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> TokenReply:
        """The token service's answer (the realm may be another host), with retries."""
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self.session.request(
                    method, url, headers=headers, data=body, allow_redirects=True
                ) as response:
                    status = response.status
                    data = await response.read()
                    wait = retry_after(response.headers)
            except (aiohttp.ClientError, TimeoutError) as exc:
                if (
                    isinstance(exc, aiohttp.ClientSSLError)
                    or attempt >= self.options.retry.attempts
                ):
                    raise AuthFailed(f"token service {url}: {_describe(exc)}") from exc
                await self._pause(attempt, None, method, url, _describe(exc))
                continue
            if status in self.options.retry.statuses and attempt < self.options.retry.attempts:
                await self._pause(attempt, wait, method, url, f"status {status}")
                continue
            try:
                doc = orjson.loads(data) if data else None
            except orjson.JSONDecodeError:
                doc = None
            return TokenReply(status, doc if isinstance(doc, dict) else None)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
