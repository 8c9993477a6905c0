"""OpenID Connect: the provider as Wharf talks to it (discovery, JWKS, the authorization
code flow with PKCE, refresh tokens) and ID token verification.

Verification of an ID token: the signature against the provider's JWKS from discovery
(the key named by ``kid``; an unknown ``kid`` refetches the JWKS once, at most every
30 s), an asymmetric algorithm (never ``none`` or HMAC), ``iss`` = the discovered issuer,
``aud`` containing the client id (and ``azp`` = the client id when there are several),
``exp``/``iat`` present and ``exp`` in the future (60 s leeway), and ``nonce`` equal to
the one sent with the authorization request.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import secrets
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

from wharf.auth.settings import ExternalAuthSettings

log = logging.getLogger("wharf.auth.oidc")

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
LEEWAY = 60
DISCOVERY_TTL = 300.0
JWKS_REFETCH = 30.0
PING_TIMEOUT = 10.0  # seconds a test of an endpoint may take, all in all
PING_MAX_BYTES = 1024 * 1024  # a discovery document is a few KiB


class ProviderUnavailable(Exception):
    """The provider could not be asked (down, unreachable, TLS refused, not an OpenID
    provider at that URL); the message says which."""


class TokenRefused(Exception):
    """The provider refused a grant (a code, a refresh token) or an ID token does not
    verify; the message says why (never the token)."""


@dataclass(frozen=True)
class TokenSet:
    id_token: str
    access_token: str
    refresh_token: str
    expires_at: float

    def to_json(self) -> str:
        return json.dumps(
            {
                "id_token": self.id_token,
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_at": self.expires_at,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> TokenSet:
        data = json.loads(text)
        return cls(
            str(data.get("id_token", "")),
            str(data.get("access_token", "")),
            str(data.get("refresh_token", "")),
            float(data.get("expires_at", 0)),
        )


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def discovery_url(endpoint: str) -> str:
    return endpoint.rstrip("/") + "/.well-known/openid-configuration"


def check_discovery(data: dict[str, Any], endpoint: str, url: str) -> None:
    """A discovery document Wharf can sign users in with: the endpoints it uses, and the
    issuer the endpoint itself (as go-oidc, and so Harbor, insist)."""
    for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(data.get(key), str):
            raise ProviderUnavailable(f"OIDC discovery at {url}: no {key}")
    if data["issuer"].rstrip("/") != endpoint.rstrip("/"):
        raise ProviderUnavailable(
            f"OIDC discovery at {url}: issuer {data['issuer']!r} is not {endpoint!r}"
        )


async def ping_endpoint(
    endpoint: str, verify_cert: bool, *, ca_file: str = "", within: float = PING_TIMEOUT
) -> dict[str, Any]:
    """Harbor's "test OIDC endpoint": fetch ``{endpoint}/.well-known/openid-configuration``
    within ``within`` seconds (connecting, redirects and the body included) and check it
    is a discovery document whose issuer is ``endpoint``; the document.
    ProviderUnavailable says why not."""
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ProviderUnavailable(f"OIDC endpoint {endpoint!r} is not an http(s) URL")
    ssl_context: ssl.SSLContext | bool = False
    if verify_cert:
        ssl_context = ssl.create_default_context(cafile=ca_file or None)
    url = discovery_url(endpoint)
    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=within, connect=within),
                connector=aiohttp.TCPConnector(ssl=ssl_context),
            ) as session,
            session.get(url, max_redirects=3) as response,
        ):
            if response.status != 200:
                raise ProviderUnavailable(f"OIDC discovery at {url}: HTTP {response.status}")
            if (response.content_length or 0) > PING_MAX_BYTES:
                raise ProviderUnavailable(f"OIDC discovery at {url}: too large")
            body = await response.content.read(PING_MAX_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError, ssl.SSLError, ValueError) as exc:
        raise ProviderUnavailable(f"OIDC discovery at {url}: {type(exc).__name__}: {exc}") from None
    if len(body) > PING_MAX_BYTES:
        raise ProviderUnavailable(f"OIDC discovery at {url}: too large")
    try:
        data = json.loads(body)
    except ValueError:
        raise ProviderUnavailable(f"OIDC discovery at {url}: not JSON") from None
    if not isinstance(data, dict):
        raise ProviderUnavailable(f"OIDC discovery at {url}: not a JSON object")
    check_discovery(data, endpoint, url)
    return data


class OidcProvider:
    """One process's client of the provider the settings name."""

    def __init__(self, settings: ExternalAuthSettings) -> None:
        self.settings = settings
        self.timeout = aiohttp.ClientTimeout(total=10, connect=5)
        self._session: aiohttp.ClientSession | None = None
        self._discovery: dict[str, Any] | None = None
        self._discovered_at = 0.0
        self._jwks: jwt.PyJWKSet | None = None
        self._jwks_at = 0.0
        self._lock = asyncio.Lock()

    def _ssl(self) -> ssl.SSLContext | bool:
        if not self.settings.oidc_verify_cert:
            return False
        if self.settings.oidc_ca_file:
            return ssl.create_default_context(cafile=self.settings.oidc_ca_file)
        return True

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, connector=aiohttp.TCPConnector(ssl=self._ssl())
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _get_json(self, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        try:
            async with self.session().get(url, **kwargs) as response:
                if response.status != 200:
                    raise ProviderUnavailable(f"OIDC {what} at {url}: HTTP {response.status}")
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderUnavailable(
                f"OIDC {what} at {url}: {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(data, dict):
            raise ProviderUnavailable(f"OIDC {what} at {url}: not a JSON object")
        return data

    async def discovery(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._discovery is not None and now - self._discovered_at < DISCOVERY_TTL:
            return self._discovery
        url = discovery_url(self.settings.oidc_endpoint)
        data = await self._get_json(url, "discovery")
        check_discovery(data, self.settings.oidc_endpoint, url)
        self._discovery, self._discovered_at = data, now
        return data

    async def _keys(self, kid: str | None) -> jwt.PyJWKSet:
        async with self._lock:
            stale = time.monotonic() - self._jwks_at >= JWKS_REFETCH
            known = self._jwks is not None and (
                kid is None or any(k.key_id == kid for k in self._jwks.keys)
            )
            if self._jwks is None or (not known and stale):
                meta = await self.discovery()
                data = await self._get_json(meta["jwks_uri"], "JWKS")
                try:
                    self._jwks = jwt.PyJWKSet.from_dict(data)
                except jwt.PyJWTError as exc:
                    raise ProviderUnavailable(f"OIDC JWKS unusable: {exc}") from None
                self._jwks_at = time.monotonic()
            assert self._jwks is not None
            return self._jwks

    async def verify_id_token(self, raw: str, nonce: str | None) -> dict[str, Any]:
        """The claims of a valid ID token (see the module docstring); TokenRefused else.
        ``nonce`` None: the token comes from a refresh (the spec leaves it out there)."""
        try:
            header = jwt.get_unverified_header(raw)
        except jwt.PyJWTError:
            raise TokenRefused("ID token: not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise TokenRefused(f"ID token: algorithm {algorithm!r} not accepted")
        kid = header.get("kid")
        keys = await self._keys(kid if isinstance(kid, str) else None)
        candidates = [k for k in keys.keys if kid is None or k.key_id == kid]
        if not candidates:
            raise TokenRefused("ID token: signed with a key the provider does not publish")
        meta = await self.discovery()
        problem = "no key"
        for key in candidates:
            try:
                claims: dict[str, Any] = jwt.decode(
                    raw,
                    key.key,
                    algorithms=[algorithm],
                    audience=self.settings.oidc_client_id,
                    issuer=meta["issuer"],
                    leeway=LEEWAY,
                    options={"require": ["iss", "sub", "aud", "exp", "iat"]},
                )
            except jwt.PyJWTError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            break
        else:
            raise TokenRefused(f"ID token refused: {problem}")
        audience = claims.get("aud")
        several = isinstance(audience, list) and len(audience) > 1
        if several and claims.get("azp") != self.settings.oidc_client_id:
            raise TokenRefused("ID token refused: azp is not this client")
        if nonce is not None and not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise TokenRefused("ID token refused: nonce mismatch")
        return claims

    async def authorization_url(
        self, redirect_uri: str, state: str, nonce: str, challenge: str
    ) -> str:
        meta = await self.discovery()
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.oidc_client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(self.settings.oidc_scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                # offline_access is only honoured with consent (refresh tokens)
                **({"prompt": "consent"} if "offline_access" in self.settings.oidc_scopes else {}),
            }
        )
        endpoint: str = meta["authorization_endpoint"]
        return endpoint + ("&" if "?" in endpoint else "?") + query

    async def _token_request(self, form: dict[str, str], what: str) -> TokenSet:
        meta = await self.discovery()
        # client_secret_basic: both parts form-urlencoded first (RFC 6749 2.3.1)
        pair = "{}:{}".format(
            urllib.parse.quote(self.settings.oidc_client_id, safe=""),
            urllib.parse.quote(self.settings.oidc_client_secret, safe=""),
        )
        authorization = "Basic " + base64.b64encode(pair.encode()).decode()
        try:
            async with self.session().post(
                meta["token_endpoint"], data=form, headers={"Authorization": authorization}
            ) as response:
                body = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderUnavailable(f"OIDC {what}: {type(exc).__name__}: {exc}") from None
        if not isinstance(body, dict):
            raise ProviderUnavailable(f"OIDC {what}: HTTP {status}, not JSON")
        if status >= 500:
            raise ProviderUnavailable(f"OIDC {what}: HTTP {status}")
        if status != 200:
            error = str(body.get("error", ""))[:100]
            description = str(body.get("error_description", ""))[:200]
            raise TokenRefused(f"OIDC {what} refused: {error} {description}".strip())
        expires_in = body.get("expires_in")
        return TokenSet(
            id_token=str(body.get("id_token") or ""),
            access_token=str(body.get("access_token") or ""),
            refresh_token=str(body.get("refresh_token") or ""),
            expires_at=time.time() + float(expires_in if isinstance(expires_in, int) else 0),
        )

    async def exchange(self, code: str, verifier: str, redirect_uri: str) -> TokenSet:
        tokens = await self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
            "code exchange",
        )
        if not tokens.id_token:
            raise TokenRefused("OIDC code exchange: the provider sent no ID token")
        return tokens

    async def refresh(self, refresh_token: str) -> TokenSet:
        return await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}, "refresh"
        )

    async def userinfo(self, access_token: str) -> dict[str, Any] | None:
        """The userinfo endpoint's claims, or None when the provider has none or it
        fails (the ID token's claims then stand alone, as in Harbor)."""
        meta = await self.discovery()
        url = meta.get("userinfo_endpoint")
        if not isinstance(url, str) or not access_token:
            return None
        try:
            return await self._get_json(
                url, "userinfo", headers={"Authorization": f"Bearer {access_token}"}
            )
        except ProviderUnavailable as exc:
            log.info("OIDC userinfo not used: %s", exc)
            return None
