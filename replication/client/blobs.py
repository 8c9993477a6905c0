"""Where the bytes of a pushed blob come from, read piece by piece, never held whole.

A ``BlobSource`` opens a stream of chunks from any offset: a push that failed midway
starts again from where the remote confirmed it got to, or from the start. ``Verifier``
hashes what flows through and says whether it was the digest promised."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from wharf.registry.oci.names import SUPPORTED_ALGORITHMS

if TYPE_CHECKING:
    from hashlib import _Hash

CHUNK = 1024 * 1024


class DigestMismatch(Exception):
    """The bytes read do not have the digest (or size) they were announced with."""


class UnsupportedDigest(ValueError):
    """A digest whose algorithm cannot be verified here."""


def algorithm_of(digest: str) -> str:
    algorithm, sep, encoded = digest.partition(":")
    if not sep or algorithm not in SUPPORTED_ALGORITHMS:
        raise UnsupportedDigest(f"cannot verify digest {digest[:80]!r}")
    if len(encoded) != SUPPORTED_ALGORITHMS[algorithm]:
        raise UnsupportedDigest(f"malformed digest {digest[:80]!r}")
    return algorithm


def digest_bytes(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


class Verifier:
    """The running digest and size of a stream announced as ``digest`` (and ``size``)."""

    def __init__(self, digest: str, size: int | None = None) -> None:
        self.digest = digest
        self.size = size
        self._hash: _Hash = hashlib.new(algorithm_of(digest))
        self.count = 0
        # the mismatch found, kept: raised inside a request body, it reaches the caller
        # wrapped in the HTTP library's own error
        self.error: DigestMismatch | None = None

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.count += len(chunk)
        if self.size is not None and self.count > self.size:
            self.error = DigestMismatch(f"{self.digest}: more than the {self.size} bytes announced")
            raise self.error

    def copy(self) -> Verifier:
        other = Verifier.__new__(Verifier)
        other.digest, other.size, other.count = self.digest, self.size, self.count
        other._hash = self._hash.copy()
        other.error = self.error
        return other

    def check(self) -> None:
        """Raise ``DigestMismatch`` unless everything read is what was announced."""
        if self.size is not None and self.count != self.size:
            self.error = DigestMismatch(f"{self.digest}: {self.count} bytes, {self.size} announced")
            raise self.error
        got = f"{self.digest.partition(':')[0]}:{self._hash.hexdigest()}"
        if got != self.digest:
            self.error = DigestMismatch(f"expected {self.digest}, the bytes are {got}")
            raise self.error


class BlobSource(Protocol):
    """The bytes of one blob of known size, readable from any offset."""

    @property
    def size(self) -> int: ...

    def open(self, offset: int) -> AbstractAsyncContextManager[AsyncIterator[bytes]]: ...


class BytesSource:
    def __init__(self, data: bytes, chunk: int = CHUNK) -> None:
        self.data = data
        self.chunk = chunk

    @property
    def size(self) -> int:
        return len(self.data)

    @asynccontextmanager
    async def open(self, offset: int) -> AsyncIterator[AsyncIterator[bytes]]:
        yield self._chunks(offset)

    async def _chunks(self, offset: int) -> AsyncIterator[bytes]:
        view = memoryview(self.data)
        for start in range(offset, len(self.data), self.chunk):
            yield bytes(view[start : start + self.chunk])


class FileSource:
    """A local file, read in a thread chunk by chunk (no file I/O on the event loop)."""

    def __init__(self, path: Path, chunk: int = CHUNK) -> None:
        self.path = path
        self.chunk = chunk
        self._size = path.stat().st_size

    @property
    def size(self) -> int:
        return self._size

    @asynccontextmanager
    async def open(self, offset: int) -> AsyncIterator[AsyncIterator[bytes]]:
        handle: BinaryIO = await asyncio.to_thread(self.path.open, "rb")
        try:
            await asyncio.to_thread(handle.seek, offset)
            yield self._chunks(handle)
        finally:
            await asyncio.to_thread(handle.close)

    async def _chunks(self, handle: BinaryIO) -> AsyncIterator[bytes]:
        while True:
            data = await asyncio.to_thread(handle.read, self.chunk)
            if not data:
                return
            yield data
