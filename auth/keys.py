"""Signing keys: generation, key ids (libtrust and RFC 7638), a verification key ring
that also accepts configured public keys, certificates and ``x5c`` chains."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from wharf.auth.models import SigningKey

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

SUPPORTED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"})


class KeyError_(Exception):
    """A key or chain that cannot be used."""


def _spki_der(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def libtrust_kid(key: PublicKey) -> str:
    """distribution 2.x / Harbor / GitLab: base32 of the first 240 bits of SHA-256 over the
    DER SubjectPublicKeyInfo, in 12 groups of 4 joined by ':'."""
    digest = hashlib.sha256(_spki_der(key)).digest()[:30]
    b32 = base64.b32encode(digest).decode().rstrip("=")
    return ":".join(b32[i : i + 4] for i in range(0, 48, 4))


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def public_jwk(key: PublicKey) -> dict[str, str]:
    if isinstance(key, rsa.RSAPublicKey):
        rsa_numbers = key.public_numbers()
        return {"kty": "RSA", "e": _b64url_uint(rsa_numbers.e), "n": _b64url_uint(rsa_numbers.n)}
    curve = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[key.curve.name]
    size = (key.curve.key_size + 7) // 8
    numbers = key.public_numbers()

    def coord(v: int) -> str:
        return base64.urlsafe_b64encode(v.to_bytes(size, "big")).decode().rstrip("=")

    return {"kty": "EC", "crv": curve, "x": coord(numbers.x), "y": coord(numbers.y)}


def jwk_thumbprint(key: PublicKey) -> str:
    """RFC 7638 (distribution 3.x): SHA-256 of the canonical JWK, base64url."""
    canonical = json.dumps(public_jwk(key), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def generate_signing_key(algorithm: str = "RS256") -> SigningKey:
    private: PrivateKey
    if algorithm.startswith("RS"):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "ES384":
        private = ec.generate_private_key(ec.SECP384R1())
    else:
        raise KeyError_(f"unsupported signing algorithm {algorithm}")
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = private.public_key()
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return SigningKey(libtrust_kid(public), algorithm, private_pem, public_pem, time.time())


def load_private_key(pem: str) -> PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise KeyError_("only RSA and EC keys are supported")
    return key


def _public(key: object) -> PublicKey:
    if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        raise KeyError_("only RSA and EC keys are supported")
    return key


def load_public_keys(pem: bytes) -> tuple[list[PublicKey], list[x509.Certificate]]:
    """Every public key and certificate in a PEM bundle."""
    keys: list[PublicKey] = []
    certs: list[x509.Certificate] = []
    if b"CERTIFICATE" in pem:
        certs = x509.load_pem_x509_certificates(pem)
        keys.extend(_public(c.public_key()) for c in certs)
    for block in pem.split(b"-----END PUBLIC KEY-----")[:-1]:
        start = block.find(b"-----BEGIN PUBLIC KEY-----")
        if start >= 0:
            text = block[start:] + b"-----END PUBLIC KEY-----\n"
            keys.append(_public(serialization.load_pem_public_key(text)))
    return keys, certs


@dataclass
class KeyRing:
    """Keys that verify tokens, found by ``kid`` in both formats, plus trusted
    certificates that ``x5c`` chains must lead to."""

    by_kid: dict[str, PublicKey]
    roots: list[x509.Certificate]

    @classmethod
    def empty(cls) -> KeyRing:
        return cls({}, [])

    def add(self, key: PublicKey) -> None:
        self.by_kid[libtrust_kid(key)] = key
        self.by_kid[jwk_thumbprint(key)] = key

    def add_pem_file(self, path: Path) -> None:
        keys, certs = load_public_keys(path.read_bytes())
        if not keys:
            raise KeyError_(f"{path}: no public key or certificate found")
        for key in keys:
            self.add(key)
        self.roots.extend(certs)

    def key_for_chain(self, x5c: list[str], at: float | None = None) -> PublicKey:
        """The leaf key of an ``x5c`` chain (base64 DER, leaf first) that leads, signature
        by signature, to one of the trusted certificates."""
        if not self.roots:
            raise KeyError_("no trusted certificates for x5c chains")
        try:
            chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in x5c]
        except (ValueError, TypeError) as exc:
            raise KeyError_("malformed x5c") from exc
        if not chain:
            raise KeyError_("empty x5c")
        moment = at or time.time()
        for cert in chain:
            if not (
                cert.not_valid_before_utc.timestamp()
                <= moment
                <= cert.not_valid_after_utc.timestamp()
            ):
                raise KeyError_("certificate in x5c outside its validity period")
        for child, parent in itertools.pairwise(chain):
            _verify_issued_by(child, parent)
        last = chain[-1]
        trusted = any(last == root for root in self.roots)
        if not trusted:
            for root in self.roots:
                try:
                    _verify_issued_by(last, root)
                except KeyError_:
                    continue
                trusted = True
                break
        if not trusted:
            raise KeyError_("x5c chain does not lead to a trusted certificate")
        return _public(chain[0].public_key())


def _verify_issued_by(child: x509.Certificate, parent: x509.Certificate) -> None:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, Exception) as exc:  # InvalidSignature is an Exception
        raise KeyError_("x5c signature chain broken") from exc


__all__ = [
    "SUPPORTED_ALGORITHMS",
    "KeyRing",
    "PrivateKey",
    "PublicKey",
    "generate_signing_key",
    "jwk_thumbprint",
    "libtrust_kid",
    "load_private_key",
    "load_public_keys",
    "public_jwk",
]
