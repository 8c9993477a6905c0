"""Pluggable password authenticators (the database today; LDAP/OIDC later)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from abc import ABC, abstractmethod

from wharf.auth.models import User
from wharf.auth.passwords import verify_password
from wharf.auth.store import AuthStore


class Authenticator(ABC):
    @abstractmethod
    async def authenticate(self, username: str, password: str) -> User | None:
        """The user when the credentials are right (enabled or not), else None."""


class DatabaseAuthenticator(Authenticator):
    """Users with a local password. Successful scrypt checks are remembered for a minute
    (keyed by an HMAC over name, password and stored hash, so a password change
    invalidates them): clients sending Basic on every /v2 request stay cheap."""

    def __init__(self, store: AuthStore, cache_seconds: float = 60.0) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._key = secrets.token_bytes(32)
        self._ok: dict[bytes, float] = {}

    def _fingerprint(self, user: User, password: str) -> bytes:
        material = f"{user.username}\0{password}\0{user.password_hash}".encode()
        return hmac.new(self._key, material, hashlib.sha256).digest()

    async def authenticate(self, username: str, password: str) -> User | None:
        user = await self.store.get_user(username)
        if user is None or not user.password_hash:
            verify_password(password, _DUMMY)  # same cost whether or not the user exists
            return None
        mark = self._fingerprint(user, password)
        now = time.monotonic()
        until = self._ok.get(mark)
        if until is not None and until > now:
            return user
        if not verify_password(password, user.password_hash):
            return None
        if len(self._ok) > 10_000:
            self._ok = {k: v for k, v in self._ok.items() if v > now}
        self._ok[mark] = now + self.cache_seconds
        return user


_DUMMY = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
