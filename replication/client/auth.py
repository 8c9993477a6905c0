"""Authentication against a remote registry: what its challenge asks for, and the
``Authorization`` header that answers it.

A remote says how it wants to be authenticated in the ``WWW-Authenticate`` header of a 401:

- ``Basic realm=...``: every request carries the credential (anonymous access failed);
- ``Bearer realm=...,service=...,scope=...``: Docker token auth. A token for a set of
  scopes (``repository:<name>:pull,push``, ``registry:catalog:*``) comes from the realm —
  which may be another host (Docker Hub: ``auth.docker.io``) — by ``GET`` (Basic with the
  credential, or anonymous) or by the OAuth2 ``POST`` (password grant, then the refresh
  token it returns). Tokens are cached per scope set until shortly before they expire.

The ``Authenticator`` learns the challenge from the first 401 (or the ping) and from
then on sends the right header up front, so each request costs one round trip.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from wharf.replication.client.endpoint import Credential

log = logging.getLogger("wharf.replication.client")

CLIENT_ID = "wharf-replication"
DEFAULT_TOKEN_LIFETIME = 60.0  # the spec's default when expires_in is absent
EXPIRY_MARGIN = 10.0  # renew a token this long before it expires

_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)')


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # "basic" or "bearer" (lower case)
    params: Mapping[str, str]

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.params.get("scope", "").split())

    @property
    def insufficient_scope(self) -> bool:
        return self.params.get("error") == "insufficient_scope"


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """Every challenge in ``WWW-Authenticate`` header values (one header may carry
    several, comma-separated, e.g. ``Basic realm="x", Bearer realm="y"``)."""
    found: list[Challenge] = []
    for value in values:
        rest = value.strip()
        while rest:
            match = re.match(r"([A-Za-z][A-Za-z0-9_-]*)\s*", rest)
            if match is None:
                break
            scheme = match.group(1).lower()
            rest = rest[match.end() :]
            params: dict[str, str] = {}
            while rest:
                param = _PARAM.match(rest)
                if param is None:
                    break
                key, quoted, bare = param.groups()
                params[key.lower()] = (
                    re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
                )
                rest = rest[param.end() :]
            found.append(Challenge(scheme, params))
            rest = rest.lstrip(", ")
    return found


def pick_challenge(challenges: Iterable[Challenge]) -> Challenge | None:
    """Bearer over Basic when a remote offers both; None when it offers neither."""
    by_scheme = {c.scheme: c for c in challenges}
    return by_scheme.get("bearer") or by_scheme.get("basic")


def basic_header(credential: Credential) -> str:
    pair = f"{credential.access_key}:{credential.access_secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


class AuthFailed(Exception):
    """The remote refused the credential (or, anonymous, wants one)."""


@dataclass(frozen=True, slots=True)
class TokenReply:
    status: int
    body: Mapping[str, object] | None  # the JSON object, None when the body was not one


# (method, url, headers, form body or None) -> the token endpoint's answer
TokenFetcher = Callable[[str, str, Mapping[str, str], bytes | None], Awaitable[TokenReply]]


@dataclass(slots=True)
class _Token:
    value: str
    expires: float  # time.monotonic()


class Authenticator:
    """The credential of one endpoint and what the remote's challenge made of it."""

    def __init__(self, credential: Credential | None, fetch: TokenFetcher) -> None:
        self.credential = credential
        self._fetch = fetch
        self.challenge: Challenge | None = None
        self._tokens: dict[frozenset[str], _Token] = {}
        self._locks: dict[frozenset[str], asyncio.Lock] = {}
        self._refresh_token: str | None = None
        self._post_refused = False  # the realm has no OAuth2 POST: use GET
        # how each token was obtained ("get", "password", "refresh_token"), oldest first
        self.grants: list[str] = []

    def learn(self, header_values: Iterable[str]) -> Challenge | None:
        """Take the challenge of a 401; the one chosen (None when there is none)."""
        challenge = pick_challenge(parse_challenges(header_values))
        if challenge is not None:
            self.challenge = challenge
        return challenge

    def forget(self, scopes: Iterable[str]) -> None:
        """Drop the cached token for ``scopes`` (the remote refused it)."""
        self._tokens.pop(frozenset(scopes), None)

    async def header(self, scopes: Iterable[str]) -> str | None:
        """The ``Authorization`` value for a request needing ``scopes``; None before any
        challenge was seen (anonymous until the remote asks)."""
        challenge = self.challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            if self.credential is None:
                raise AuthFailed("the registry wants a username and password; none configured")
            return basic_header(self.credential)
        if challenge.scheme != "bearer":
            raise AuthFailed(f"unsupported authentication scheme {challenge.scheme!r}")
        token = await self.token(frozenset(scopes))
        return f"Bearer {token}"

    async def token(self, scopes: frozenset[str]) -> str:
        cached = self._tokens.get(scopes)
        if cached is not None and cached.expires > time.monotonic():
            return cached.value
        lock = self._locks.setdefault(scopes, asyncio.Lock())
        async with lock:  # concurrent requests for one scope set share one fetch
            cached = self._tokens.get(scopes)
            if cached is not None and cached.expires > time.monotonic():
                return cached.value
            value, lifetime = await self._fetch_token(scopes)
            self._tokens[scopes] = _Token(
                value, time.monotonic() + max(1.0, lifetime - EXPIRY_MARGIN)
            )
            return value

    async def _fetch_token(self, scopes: frozenset[str]) -> tuple[str, float]:
        challenge = self.challenge
        assert challenge is not None and challenge.scheme == "bearer"
        if not challenge.realm:
            raise AuthFailed("the registry's bearer challenge has no realm")
        credential = self.credential
        use_post = credential is not None and (
            self._refresh_token is not None or credential.kind == "oauth"
        )
        if use_post and not self._post_refused:
            reply = await self._post(challenge, scopes)
            if reply is not None:
                return reply
        return await self._get(challenge, scopes)

    async def _get(self, challenge: Challenge, scopes: frozenset[str]) -> tuple[str, float]:
        query: list[tuple[str, str]] = []
        if challenge.service:
            query.append(("service", challenge.service))
        query.extend(("scope", scope) for scope in sorted(scopes))
        if self.credential is not None:
            query.append(("account", self.credential.access_key))
        separator = "&" if "?" in challenge.realm else "?"
        url = challenge.realm + (separator + urlencode(query) if query else "")
        headers = {}
        if self.credential is not None:
            headers["Authorization"] = basic_header(self.credential)
        reply = await self._fetch("GET", url, headers, None)
        token = self._accept(reply, "GET")
        self.grants.append("get")
        return token

    async def _post(self, challenge: Challenge, scopes: frozenset[str]) -> tuple[str, float] | None:
        """The OAuth2 form; None when the realm does not do POST (404, 405)."""
        credential = self.credential
        assert credential is not None
        form: list[tuple[str, str]] = [("client_id", CLIENT_ID)]
        if challenge.service:
            form.append(("service", challenge.service))
        if scopes:
            form.append(("scope", " ".join(sorted(scopes))))
        refresh = self._refresh_token
        if refresh is not None:
            form += [("grant_type", "refresh_token"), ("refresh_token", refresh)]
        else:
            form += [
                ("grant_type", "password"),
                ("username", credential.access_key),
                ("password", credential.access_secret),
                ("access_type", "offline"),
            ]
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        reply = await self._fetch("POST", challenge.realm, headers, urlencode(form).encode())
        if reply.status in (404, 405):
            log.info("token realm has no OAuth2 POST; using GET", extra={"realm": challenge.realm})
            self._post_refused = True
            return None
        if reply.status in (400, 401) and refresh is not None:
            self._refresh_token = None  # expired or revoked: the password grant again
            return await self._post(challenge, scopes)
        token = self._accept(reply, "POST")
        self.grants.append("password" if refresh is None else "refresh_token")
        return token

    def _accept(self, reply: TokenReply, method: str) -> tuple[str, float]:
        if reply.status in (401, 403):
            raise AuthFailed(f"the token service refused the credential ({reply.status})")
        if reply.status != 200 or reply.body is None:
            raise AuthFailed(f"the token service answered {method} with {reply.status}")
        body = reply.body
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthFailed("the token service's answer carries no token")
        refresh = body.get("refresh_token")
        if isinstance(refresh, str) and refresh:
            self._refresh_token = refresh
        expires_in = body.get("expires_in")
        lifetime = (
            float(expires_in)
            if isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
            else DEFAULT_TOKEN_LIFETIME
        )
        return token, lifetime if lifetime > 0 else DEFAULT_TOKEN_LIFETIME
