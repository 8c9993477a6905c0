"""Password and secret hashing: scrypt for passwords people choose, SHA-256 for the
high-entropy random secrets we generate (robots), constant-time comparisons."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_DKLEN = 32


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=_DKLEN, maxmem=64 * 1024 * 1024
    )
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def hash_secret(secret: str) -> str:
    """For generated secrets only (≥ 190 bits of entropy): a plain salted SHA-256."""
    salt = secrets.token_bytes(16)
    digest = hashlib.sha256(salt + secret.encode()).digest()
    return f"sha256${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a hash from this module."""
    try:
        scheme, *parts = stored.split("$")
        if scheme == "scrypt":
            n, r, p, salt, expected = parts
            actual = hashlib.scrypt(
                password.encode(),
                salt=base64.b64decode(salt),
                n=int(n),
                r=int(r),
                p=int(p),
                dklen=_DKLEN,
                maxmem=64 * 1024 * 1024,
            )
        elif scheme == "sha256":
            salt, expected = parts
            actual = hashlib.sha256(base64.b64decode(salt) + password.encode()).digest()
        else:
            return False
        return hmac.compare_digest(actual, base64.b64decode(expected))
    except (ValueError, TypeError):
        return False


_ALPHABET = string.ascii_letters + string.digits


def generate_secret(length: int = 32) -> str:
    """A random secret of letters and digits (32 chars ≈ 190 bits)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def password_acceptable(password: str) -> str | None:
    """Harbor's rule: 8 to 128 characters with an uppercase, a lowercase letter and a digit.
    Returns the problem, or None."""
    if not 8 <= len(password) <= 128:
        return "the password must be 8 to 128 characters long"
    if not (
        any(c.isupper() for c in password)
        and any(c.islower() for c in password)
        and any(c.isdigit() for c in password)
    ):
        return "the password needs an uppercase letter, a lowercase letter and a digit"
    return None
