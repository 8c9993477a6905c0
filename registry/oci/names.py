"""Grammars of the distribution spec: repository names, tags, digests, references."""

from __future__ import annotations

import re
from dataclasses import dataclass

from wharf.registry.oci.errors import DIGEST_INVALID, NAME_INVALID, TAG_INVALID, RegistryError

NAME_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"^{NAME_COMPONENT}(?:/{NAME_COMPONENT})*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
# algorithm ":" encoded, per the image-spec descriptor grammar
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
MAX_NAME_LENGTH = 255

# Algorithms we can verify, with their hex length.
SUPPORTED_ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def key(self) -> str:
        """Storage key of the blob with this digest."""
        return f"blobs/{self.algorithm}/{self.hex[:2]}/{self.hex}"


def is_valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and NAME_RE.match(name) is not None


def parse_name(name: str) -> str:
    if not is_valid_name(name):
        raise RegistryError(NAME_INVALID, {"name": name[:300]})
    return name


def is_valid_tag(tag: str) -> bool:
    return TAG_RE.match(tag) is not None


def parse_tag(tag: str) -> str:
    if not is_valid_tag(tag):
        raise RegistryError(TAG_INVALID, {"tag": tag[:300]}, message="invalid tag")
    return tag


def parse_digest(value: str) -> Digest:
    """Parse and check a digest; only algorithms we can verify are accepted."""
    if len(value) > 256 or not DIGEST_RE.match(value):
        raise RegistryError(DIGEST_INVALID, {"digest": value[:300]}, message="invalid digest")
    algorithm, _, encoded = value.partition(":")
    expected = SUPPORTED_ALGORITHMS.get(algorithm)
    if expected is None:
        raise RegistryError(
            DIGEST_INVALID, {"digest": value}, message=f"unsupported digest algorithm {algorithm}"
        )
    if len(encoded) != expected or not all(c in "0123456789abcdef" for c in encoded):
        raise RegistryError(DIGEST_INVALID, {"digest": value}, message="invalid digest encoding")
    return Digest(algorithm, encoded)


def is_digest_reference(reference: str) -> bool:
    return ":" in reference


def parse_reference(reference: str) -> str | Digest:
    """A manifest reference is a tag or a digest."""
    if is_digest_reference(reference):
        if DIGEST_RE.match(reference) is None:
            raise RegistryError(TAG_INVALID, {"reference": reference[:300]}, message="invalid tag")
        return parse_digest(reference)
    return parse_tag(reference)
