"""The sign-in seam: an ``Authenticator`` checks a username and password against one
authority — the local database here, the LDAP directory (``ldap_auth``), an OIDC user's
CLI secret (``oidc``) — and ``Modes`` picks the ones in force for ``auth.mode``."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

from wharf.auth.models import DB_AUTH, User
from wharf.auth.passwords import verify_password
from wharf.auth.store import AuthStore


class Authenticator(ABC):
    mode: str = DB_AUTH  # the sign-in mode it serves (recorded with every login)

    @abstractmethod
    async def authenticate(self, username: str, password: str) -> User | None:
        """The user when the credentials are right (enabled or not), else None. Raises
        ``errors.Unavailable`` when its authority can't be asked."""

    async def refresh(self, user: User) -> bool:
        """Re-check, for a request carrying a token, that the authority still vouches
        for ``user`` (and update what it says about them); False when it no longer
        does. Local users need no such check."""
        return True


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

    def accepts(self, user: User) -> bool:
        """Whether this user signs in with a local password here."""
        return user.auth_source == DB_AUTH

    async def authenticate(self, username: str, password: str) -> User | None:
        user = await self.store.get_user(username)
        if user is None or not user.password_hash or not self.accepts(user):
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


class LocalAdminAuthenticator(DatabaseAuthenticator):
    """In the LDAP and OIDC modes: local system admins (the ``admin`` of the first start)
    still sign in with their local password, so a broken directory or provider never
    locks the operator out."""

    def accepts(self, user: User) -> bool:
        return user.auth_source == DB_AUTH and user.sysadmin

    async def authenticate(self, username: str, password: str) -> User | None:
        # no dummy scrypt for the other names: they are the directory's or provider's to
        # check, and one wasted scrypt per external login would cost more than telling
        # (by timing) which names are local system admins
        user = await self.store.get_user(username)
        if user is None or not user.password_hash or not self.accepts(user):
            return None
        return await super().authenticate(username, password)


class Modes:
    """The authenticators of the sign-in mode in force (``auth.mode``, which an admin may
    change through the API): the database alone; or local system admins first, then the
    directory or the OIDC CLI secrets."""

    def __init__(
        self,
        mode: Callable[[], Awaitable[str]],
        database: DatabaseAuthenticator,
        local_admins: LocalAdminAuthenticator,
        external: dict[str, Authenticator],
    ) -> None:
        self.mode = mode
        self.database = database
        self.local_admins = local_admins
        self.external = external

    async def chain(self) -> list[Authenticator]:
        mode = await self.mode()
        authority = self.external.get(mode)
        if authority is None:
            return [self.database]
        return [self.local_admins, authority]

    async def refresh(self, user: User) -> bool:
        authority = self.external.get(user.auth_source)
        return True if authority is None else await authority.refresh(user)
