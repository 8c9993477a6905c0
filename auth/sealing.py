"""Sealing secrets kept in the database (OIDC CLI secrets and provider tokens, LDAP/OIDC
secrets set through the API) and the browser's session cookies: AES-256-GCM, so a sealed
value can be neither read nor altered without the key.

The key comes from ``auth.secret_key`` (any string; keep it out of the database and give
every replica the same) or, when that is unset, from a random key generated in the
database at first start (shared by the replicas; whoever reads the database can then
unseal too — set ``auth.secret_key`` before first use to avoid that).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wharf.auth.store import AuthStore

PREFIX = "s1:"
GENERATED_KEY = "wharf.sealing_key"  # its row in the configurations table


class Unsealable(ValueError):
    """A sealed value that does not open with this key (altered, or another key's)."""


class Sealer:
    def __init__(self, secret: str, purpose: str = "") -> None:
        material = hashlib.sha256(f"wharf-seal\0{purpose}\0{secret}".encode()).digest()
        self._aead = AESGCM(material)

    def seal(self, plain: str | bytes, context: str = "") -> str:
        """``plain`` sealed; ``context`` (e.g. the user id) must be given again to open it,
        so a sealed value copied to another row does not open there."""
        data = plain.encode() if isinstance(plain, str) else plain
        nonce = os.urandom(12)
        box = self._aead.encrypt(nonce, data, context.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + box).decode().rstrip("=")

    def open_bytes(self, sealed: str, context: str = "") -> bytes:
        if not sealed.startswith(PREFIX):
            raise Unsealable("not a sealed value")
        raw = sealed[len(PREFIX) :]
        try:
            blob = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except ValueError:
            raise Unsealable("not a sealed value") from None
        if len(blob) < 12 + 16:
            raise Unsealable("truncated")
        try:
            return self._aead.decrypt(blob[:12], blob[12:], context.encode())
        except InvalidTag:
            raise Unsealable("does not open with this key") from None

    def open(self, sealed: str, context: str = "") -> str:
        try:
            return self.open_bytes(sealed, context).decode()
        except UnicodeDecodeError:
            raise Unsealable("not text") from None


async def sealing_secret(store: AuthStore, configured: str | None) -> str:
    """The configured key, or the database's (generated on first use)."""
    if configured:
        return configured
    return await store.configuration_default(GENERATED_KEY, secrets.token_urlsafe(32), time.time())
