"""The blob-store driver interface.

Everything the content core does with bytes goes through a `Driver`. Keys are
slash-separated relative paths such as ``blobs/sha256/ab/abcdef…``; drivers must
refuse keys that could escape their root (see `check_key`). Upload staging is
keyed by an opaque upload id chosen by the core; a driver may keep per-upload
state (an S3 multipart id, part list, …) in the JSON-serialisable ``state``
string it returns, which the core persists in the upload-session row so that any
process can continue the upload.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

_KEY_SEGMENT = re.compile(r"^[A-Za-z0-9._:+=@,-]+$")
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


class StorageError(Exception):
    """A driver failure that is not the caller's fault (I/O error, backend down)."""


class StorageFull(StorageError):
    """The backend has no room left for what is being written (a full disk, an exceeded
    quota). Nothing half-written stays published; retrying after space is freed works."""


class KeyNotFound(StorageError):
    """The key (or upload) does not exist."""


class InvalidKey(ValueError):
    """A key or upload id that could escape the store or is otherwise malformed."""


PING_KEY = "readyz/ping"  # never written: its stat only proves the backend answers


def check_key(key: str) -> str:
    """Validate a driver key: relative, no empty, `.` or `..` segments, safe characters."""
    if not key or len(key) > 1024 or key.startswith("/") or key.endswith("/"):
        raise InvalidKey(key)
    for segment in key.split("/"):
        if segment in ("", ".", "..") or not _KEY_SEGMENT.match(segment):
            raise InvalidKey(key)
    return key


def check_upload_id(upload_id: str) -> str:
    if not _UPLOAD_ID.match(upload_id):
        raise InvalidKey(upload_id)
    return upload_id


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key: str
    size: int
    mtime: float  # seconds since the epoch, as the backend reports it


class UploadWriter(ABC):
    """Appends bytes to one upload. Not safe for concurrent use; the core serialises
    writers of one upload with a lock from the coordination layer."""

    @property
    @abstractmethod
    def offset(self) -> int:
        """Bytes in the upload so far, including what this writer appended."""

    @abstractmethod
    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append data. Large buffers (MiBs) are expected; drivers may buffer."""

    async def write_many(self, chunks: list[bytes | bytearray]) -> None:
        """Append several buffers in order (drivers with vectored I/O avoid the join)."""
        await self.write(b"".join(chunks))

    @abstractmethod
    async def close(self) -> str:
        """Flush and make the appended bytes durable; returns the new driver state."""

    @abstractmethod
    async def abort(self) -> None:
        """Give up on what this writer appended since it was opened (best effort)."""


class Driver(ABC):
    """A blob store. All methods are async and never block the event loop."""

    name: str = "abstract"

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Check the backend is usable (bucket exists, directory writable); raise otherwise."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients and pools."""

    async def ping(self) -> None:
        """One round trip to the backend (for readiness checks): raises when it cannot be
        reached. By default a ``stat`` of a key nobody writes (a HEAD on S3)."""
        await self.stat(PING_KEY)

    # --- uploads -------------------------------------------------------------
    @abstractmethod
    async def create_upload(self, upload_id: str) -> str:
        """Create staging for a new upload; returns its initial state."""

    @abstractmethod
    async def open_upload(self, upload_id: str, state: str, offset: int) -> UploadWriter:
        """Open an upload for appending at ``offset`` (the committed size so far).

        Bytes past ``offset`` left by a crashed writer are discarded."""

    async def append_upload(
        self, upload_id: str, state: str, offset: int, chunks: list[bytes | bytearray]
    ) -> str:
        """Append a small body whole (open, write, close); the new state. Nothing of it
        stays when it fails. Drivers may do it in fewer steps than the writer takes."""
        writer = await self.open_upload(upload_id, state, offset)
        try:
            await writer.write_many(chunks)
            return await writer.close()
        except BaseException:
            await writer.abort()
            raise

    @abstractmethod
    async def commit_upload(self, upload_id: str, state: str, size: int, key: str) -> None:
        """Atomically publish the upload's first ``size`` bytes at ``key`` and remove the
        staging. If ``key`` already exists, it is left as it is (content addressed)."""

    @abstractmethod
    async def delete_upload(self, upload_id: str, state: str) -> None:
        """Remove an upload's staging; missing staging is not an error."""

    @abstractmethod
    def read_upload(self, upload_id: str, state: str, length: int) -> AsyncIterator[bytes]:
        """Stream the first ``length`` bytes staged for an upload (to re-hash it)."""

    @abstractmethod
    def list_uploads(self) -> AsyncIterator[KeyInfo]:
        """Staging areas present in the store (key = upload id), for purging by GC."""

    # --- objects -------------------------------------------------------------
    @abstractmethod
    async def stat(self, key: str) -> KeyInfo | None:
        """Size and mtime of a key, or None when it doesn't exist."""

    @abstractmethod
    async def get_bytes(self, key: str) -> bytes:
        """Whole content of a (small) key; KeyNotFound when missing."""

    @abstractmethod
    async def put_bytes(self, key: str, data: bytes) -> None:
        """Write a small object atomically (readers see all of it or nothing)."""

    @abstractmethod
    def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream ``length`` bytes (to the end when None) from ``offset``."""

    def local_path(self, key: str) -> Path | None:
        """A local file holding the key, for sendfile; None when not on local disk."""
        return None

    async def redirect_url(self, key: str, method: str = "GET") -> str | None:
        """A URL the client may be redirected to instead of streaming; None to stream."""
        return None

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Delete a key; True if it existed."""

    @abstractmethod
    def list(self, prefix: str) -> AsyncIterator[KeyInfo]:
        """Every key under ``prefix`` (a directory-like prefix ending without '/'), in
        no particular order, paginating internally. Drivers' own temp files are not
        listed."""

    async def list_stale_temp(self, older_than: float) -> AsyncIterator[KeyInfo]:
        """Temp files a crash left behind, not modified for ``older_than`` seconds, as
        keys `delete` accepts (for GC). Upload staging is `list_uploads`' business;
        drivers without temp files of their own list nothing."""
        empty: tuple[KeyInfo, ...] = ()
        for info in empty:
            yield info
