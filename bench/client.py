"""A minimal raw-HTTP registry client with Basic and Docker Bearer-token auth.

No registry client library is used, so every registry sees the same requests.  On a 401 the
client reads ``WWW-Authenticate``: for ``Basic`` it re-sends with the configured credentials;
for ``Bearer realm=..,service=..,scope=..`` it fetches a token from the realm (with Basic
credentials when given), caches it per scope until it expires, and retries once.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp
import orjson

BodyFactory = Callable[[], AsyncIterator[bytes]]
Body = bytes | BodyFactory | None

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_REPO_PATH = re.compile(r"^/v2/(.+?)/(blobs|manifests|tags)/")

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


class RegistryError(Exception):
    """An unexpected HTTP status or protocol violation."""


class NonLoopbackError(RegistryError):
    """A request would leave the machine while only loopback targets are allowed."""


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split ``Bearer realm="..",service=".."`` into ("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


def scope_for(method: str, path: str) -> str:
    """The token scope a request needs (``repository:NAME:pull`` or ``...:pull,push``)."""
    m = _REPO_PATH.match(path)
    if not m:
        return ""
    action = "pull" if method in ("GET", "HEAD") else "pull,push"
    return f"repository:{m.group(1)}:{action}"


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class Registry:
    """An aiohttp session bound to one registry base URL, with auth handling."""

    def __init__(
        self,
        base_url: str,
        *,
        user: str | None = None,
        password: str | None = None,
        connections: int = 64,
        allow_remote: bool = False,
        read_timeout: float = 300.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        if not allow_remote and not is_loopback_url(self.base_url):
            raise NonLoopbackError(f"refusing non-loopback registry URL {base_url!r}")
        self.allow_remote = allow_remote
        self._basic: str | None = None
        if user is not None:
            cred = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
            self._basic = f"Basic {cred}"
        self._mode: str | None = None  # None | "basic" | "bearer"
        self._tokens: dict[str, tuple[str, float]] = {}
        self._token_locks: dict[str, asyncio.Lock] = {}
        self._connections = connections
        self._read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None
        self.token_fetches = 0

    async def __aenter__(self) -> Registry:
        connector = aiohttp.TCPConnector(
            limit=self._connections, limit_per_host=self._connections, ttl_dns_cache=None
        )
        timeout = aiohttp.ClientTimeout(
            total=None, connect=10, sock_connect=10, sock_read=self._read_timeout
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
            headers={"User-Agent": "wharf-bench/0.1"},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Registry used outside 'async with'")
        return self._session

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            url = path_or_url
        else:
            url = urljoin(self.base_url + "/", path_or_url)
        if not self.allow_remote and not is_loopback_url(url):
            raise NonLoopbackError(f"refusing non-loopback URL {url!r}")
        return url

    # --- auth -------------------------------------------------------------------------------

    def _auth_header(self, scope: str) -> str | None:
        if self._mode == "basic":
            return self._basic
        if self._mode == "bearer":
            tok = self._tokens.get(scope)
            if tok and tok[1] > time.monotonic():
                return f"Bearer {tok[0]}"
        return None

    async def _authenticate(self, challenge: str, scope: str, stale: str | None) -> None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if self._basic is None:
                raise RegistryError("registry wants Basic auth; pass --user/--password")
            if self._mode == "basic":
                raise RegistryError("Basic credentials rejected")
            self._mode = "basic"
            return
        if scheme != "bearer" or "realm" not in params:
            raise RegistryError(f"unsupported auth challenge {challenge!r}")
        self._mode = "bearer"
        lock = self._token_locks.setdefault(scope, asyncio.Lock())
        async with lock:
            cur = self._tokens.get(scope)
            if cur and cur[0] != stale and cur[1] > time.monotonic():
                return  # another task refreshed it meanwhile
            query = {k: params[k] for k in ("service", "scope") if params.get(k)}
            realm = params["realm"]
            token_url = realm + ("&" if "?" in realm else "?") + urlencode(query)
            headers = {"Authorization": self._basic} if self._basic else {}
            async with self.session.get(self.url(token_url), headers=headers) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RegistryError(f"token endpoint said {resp.status}: {body[:200]!r}")
            doc = orjson.loads(body)
            token = doc.get("token") or doc.get("access_token")
            if not token:
                raise RegistryError("token endpoint returned no token")
            ttl = float(doc.get("expires_in") or 60)
            self.token_fetches += 1
            # Refresh a little early so long requests don't start with a dying token.
            self._tokens[scope] = (str(token), time.monotonic() + max(ttl - 10, ttl / 2))

    # --- requests ---------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> Response:
        """Send a request, following auth challenges; the whole response body is read."""
        async with self.stream(method, path, body=body, headers=headers) as resp:
            data = await resp.read()
            if resp.status not in expect:
                raise RegistryError(f"{method} {path}: HTTP {resp.status}: {data[:300]!r}")
            return Response(resp.status, resp.headers, data)

    def stream(
        self,
        method: str,
        path: str,
        *,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
    ) -> _Stream:
        """``async with reg.stream(...) as resp`` — response left unread (for big GETs)."""
        return _Stream(self, method, path, body, headers)

    async def _send(
        self, method: str, path: str, body: Body, headers: Mapping[str, str] | None
    ) -> aiohttp.ClientResponse:
        url = self.url(path)
        scope = scope_for(method, urlsplit(url).path)
        for attempt in range(3):
            hdrs = dict(headers or {})
            auth = self._auth_header(scope)
            if auth:
                hdrs["Authorization"] = auth
            data: Any = body() if callable(body) else body
            resp = await self.session.request(
                method, url, data=data, headers=hdrs, allow_redirects=True
            )
            if resp.status != 401 or attempt == 2:
                return resp
            challenge = resp.headers.get("WWW-Authenticate", "")
            if not challenge:
                return resp
            resp.release()
            stale = auth[7:] if auth and auth.startswith("Bearer ") else None
            await self._authenticate(challenge, scope, stale)
        raise AssertionError("unreachable")


class _Stream:
    def __init__(
        self,
        reg: Registry,
        method: str,
        path: str,
        body: Body,
        headers: Mapping[str, str] | None,
    ) -> None:
        self._args = (reg, method, path, body, headers)
        self._resp: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> aiohttp.ClientResponse:
        reg, method, path, body, headers = self._args
        self._resp = await reg._send(method, path, body, headers)
        return self._resp

    async def __aexit__(self, *exc: object) -> None:
        if self._resp is not None:
            self._resp.release()


def location(reg: Registry, resp: Response | aiohttp.ClientResponse, path: str) -> str:
    """Absolute URL of the upload session from a ``Location`` header."""
    loc = resp.headers.get("Location")
    if not loc:
        raise RegistryError("upload response without Location")
    return urljoin(reg.url(path), loc)


def with_query(url: str, **params: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)
