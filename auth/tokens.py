"""The Docker registry token: issue (JWT RS256/ES256 with ``kid``) and verify (our keys,
configured public keys/certificates, ``x5c`` chains; 60 s leeway)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt

from wharf.auth.keys import (
    SUPPORTED_ALGORITHMS,
    KeyError_,
    KeyRing,
    PrivateKey,
    PublicKey,
    generate_signing_key,
    load_private_key,
)
from wharf.auth.models import SigningKey
from wharf.auth.scopes import Scope
from wharf.auth.store import AuthStore

REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "nbf", "iat"]
REFRESH_CLAIM = "wharf_refresh"


class InvalidToken(Exception):
    """Any reason a token is refused. The message is for logs, never echoes the token."""


@dataclass(frozen=True, slots=True)
class Claims:
    subject: str
    issuer: str
    access: dict[tuple[str, str], frozenset[str]]
    jti: str
    expires: float
    ours: bool  # issued by this registry's token service

    def actions(self, type_: str, name: str) -> frozenset[str]:
        return self.access.get((type_, name), frozenset())


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    issued_at: str  # RFC 3339


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


VERIFIED_CACHE_SIZE = 10_000


class TokenService:
    def __init__(
        self,
        store: AuthStore,
        *,
        issuer: str,
        service: str,
        lifetime: int = 300,
        refresh_lifetime: int = 30 * 24 * 3600,
        algorithm: str = "RS256",
        trusted_keys: Iterable[Path] = (),
        accepted_issuers: Iterable[str] = (),
        leeway: int = 60,
    ) -> None:
        self.store = store
        self.issuer = issuer
        self.service = service
        self.lifetime = max(60, lifetime)
        self.refresh_lifetime = refresh_lifetime
        self.algorithm = algorithm
        self.trusted_keys = list(trusted_keys)
        self.issuers = [issuer, *accepted_issuers]
        self.leeway = leeway
        self.ring = KeyRing.empty()
        # Verified tokens by their exact text: a client sends the same token with every
        # request of a pull, and a signature check plus JSON decoding cost more than the
        # request. Expiry is still checked on every use.
        self._verified: dict[tuple[str, bool], Claims] = {}
        self._signing: tuple[SigningKey, PrivateKey] | None = None
        self._reloaded = 0.0

    # --- keys ------------------------------------------------------------------
    async def ensure_signing_key(self) -> SigningKey:
        """The newest active key of our algorithm; generated and stored when none exists
        (the database shares it with every worker and replica)."""
        keys = [k for k in await self.store.signing_keys() if k.active]
        mine = [k for k in keys if k.algorithm == self.algorithm]
        if not mine:
            await self.store.add_signing_key(generate_signing_key(self.algorithm))
            mine = [
                k
                for k in await self.store.signing_keys()
                if k.active and k.algorithm == self.algorithm
            ]
        return mine[0]

    async def load(self) -> None:
        key = await self.ensure_signing_key()
        self._signing = (key, load_private_key(key.private_pem))
        await self._reload_ring()

    async def _reload_ring(self) -> None:
        ring = KeyRing.empty()
        for stored in await self.store.signing_keys():
            ring.add(load_private_key(stored.private_pem).public_key())
        for path in self.trusted_keys:
            ring.add_pem_file(path)
        self.ring = ring
        self._reloaded = time.monotonic()

    @property
    def kid(self) -> str:
        assert self._signing is not None, "TokenService.load() first"
        return self._signing[0].kid

    def jwks(self) -> dict[str, Any]:
        from wharf.auth.keys import jwk_thumbprint, libtrust_kid, public_jwk

        seen: dict[str, dict[str, str]] = {}
        for key in self.ring.by_kid.values():
            kid = libtrust_kid(key)
            if kid not in seen:
                seen[kid] = {**public_jwk(key), "kid": kid, "x-jwk-thumbprint": jwk_thumbprint(key)}
        return {"keys": list(seen.values())}

    # --- issue -----------------------------------------------------------------
    def _sign(self, claims: dict[str, Any]) -> str:
        assert self._signing is not None, "TokenService.load() first"
        key, private = self._signing
        return jwt.encode(
            claims, private, algorithm=key.algorithm, headers={"kid": key.kid, "typ": "JWT"}
        )

    def issue(self, subject: str, access: list[Scope], now: float | None = None) -> IssuedToken:
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": issued + self.lifetime,
            "nbf": issued,
            "iat": issued,
            "jti": secrets.token_urlsafe(16),
            "access": [s.as_claim() for s in access],
        }
        return IssuedToken(self._sign(claims), self.lifetime, rfc3339(issued))

    def issue_refresh(self, subject: str) -> str:
        issued = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": issued + self.refresh_lifetime,
            "nbf": issued,
            "iat": issued,
            "jti": secrets.token_urlsafe(16),
            REFRESH_CLAIM: True,
        }
        return self._sign(claims)

    # --- verify ----------------------------------------------------------------
    async def _key_for(self, header: dict[str, Any]) -> PublicKey:
        kid = header.get("kid")
        if isinstance(kid, str):
            key = self.ring.by_kid.get(kid)
            if key is None and time.monotonic() - self._reloaded > 5:
                await self._reload_ring()  # another replica may have rotated the key
                key = self.ring.by_kid.get(kid)
            if key is not None:
                return key
        x5c = header.get("x5c")
        if isinstance(x5c, list) and all(isinstance(c, str) for c in x5c):
            try:
                return self.ring.key_for_chain(x5c)
            except KeyError_ as exc:
                raise InvalidToken(str(exc)) from exc
        raise InvalidToken("unknown signing key")

    async def verify(self, token: str, *, refresh: bool = False) -> Claims:
        cached = self._verified.get((token, refresh))
        if cached is not None:
            if cached.expires + self.leeway >= time.time():
                return cached
            del self._verified[(token, refresh)]
            raise InvalidToken("ExpiredSignatureError")
        claims = await self._verify(token, refresh)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[(token, refresh)] = claims
        return claims

    async def _verify(self, token: str, refresh: bool) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        alg = header.get("alg")
        if alg not in SUPPORTED_ALGORITHMS:
            raise InvalidToken(f"algorithm {str(alg)[:20]!r} not accepted")
        key = await self._key_for(header)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.service,
                issuer=self.issuers,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from exc
        if bool(claims.get(REFRESH_CLAIM)) != refresh:
            raise InvalidToken("wrong kind of token")
        subject = claims["sub"]
        if not isinstance(subject, str):
            raise InvalidToken("bad subject")
        return Claims(
            subject=subject,
            issuer=str(claims["iss"]),
            access=_access(claims.get("access", [])),
            jti=str(claims.get("jti", "")),
            expires=float(claims["exp"]),
            ours=claims["iss"] == self.issuer,
        )


def _access(raw: Any) -> dict[tuple[str, str], frozenset[str]]:
    if not isinstance(raw, list):
        raise InvalidToken("bad access claim")
    access: dict[tuple[str, str], frozenset[str]] = {}
    for entry in raw:
        if not isinstance(entry, dict):
            raise InvalidToken("bad access claim")
        typ, name, actions = entry.get("type"), entry.get("name"), entry.get("actions")
        if not isinstance(typ, str) or not isinstance(name, str) or not isinstance(actions, list):
            raise InvalidToken("bad access claim")
        key = (typ, name)
        access[key] = access.get(key, frozenset()) | frozenset(str(a) for a in actions)
    return access


def unverified_payload(token: str) -> dict[str, Any]:
    """For tests and debugging only."""
    part = token.split(".")[1]
    loaded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return loaded
