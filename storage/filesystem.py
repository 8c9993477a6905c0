"""Blob store on a local (or NFS-mounted) directory tree.

Staging lives in ``<root>/uploads/<id>/data``; a commit publishes a blob with an
atomic rename into ``<root>/blobs/…`` after fsync of the file, so a reader sees the
whole blob or none of it. Every blocking call runs in a worker thread.

NFS-safe mode (``nfs_safe=True``, for a tree shared by several hosts/replicas):

* no locks at all (no flock/fcntl: NFS lock managers are unreliable) and nothing
  depends on mtime precision or on directory mtimes; the core serialises writers of an
  upload with its own lease, and content addressing makes concurrent commits of the
  same digest harmless;
* file data is fsynced, and then the directory, before a blob is announced (commit,
  put_bytes), so another client that opens it afterwards (close-to-open) sees it whole;
* a blob is published with ``link(2)`` — atomic and *no-replace* on NFS — then the
  staging name is unlinked, so an existing blob another replica may be streaming is
  never swapped under it (which would give that reader ESTALE); filesystems without
  hard links fall back to ``rename(2)`` in the same tree;
* temp names are unique per host, process, driver instance and call
  (``.tmp.<name>.<host>.<pid>.<instance>.<random>``) and created with O_EXCL; they never
  show in `list`, and `list_stale_temp` finds the ones a crash left behind;
* races with a concurrent cleanup (a directory removed between mkdir and rename, a
  ``.nfsXXXX`` silly-rename file keeping a directory non-empty, ESTALE on open) are
  retried or tolerated.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TypeVar

from wharf.storage.base import (
    Driver,
    InvalidKey,
    KeyInfo,
    KeyNotFound,
    StorageError,
    StorageFull,
    UploadWriter,
    check_key,
    check_upload_id,
)

T = TypeVar("T")
log = logging.getLogger("wharf.storage")
READ_CHUNK = 1 << 20
SYNC_FILE_RANGE_WRITE = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_sync_file_range = getattr(_libc, "sync_file_range", None)
if _sync_file_range is not None:
    _sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range to disk now, without waiting for it, so
    the fsync at commit finds most of a big upload already written (Linux only)."""
    if _sync_file_range is not None and length > 0:
        _sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE)


IOV_BATCH = 512  # below IOV_MAX (1024)
TEMP_PREFIX = ".tmp."
NFS_SILLY_PREFIX = ".nfs"
_RETRIES = 5


def _hidden(name: str) -> bool:
    """Temp files and NFS silly-rename files are not keys."""
    return name.startswith(TEMP_PREFIX) or name.startswith(NFS_SILLY_PREFIX)


def _open_retry(path: Path | str, flags: int) -> int:
    """open(2), retrying ESTALE (an NFS file handle replaced under a cached lookup)."""
    for attempt in range(_RETRIES):
        try:
            return os.open(path, flags)
        except OSError as exc:
            if exc.errno != errno.ESTALE or attempt == _RETRIES - 1:
                raise
    raise AssertionError("unreachable")


# "No space left on device" and "Disk quota exceeded": whatever wrote, the store is full.
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def _full(root: Path, exc: OSError) -> StorageFull:
    where = f" writing {exc.filename}" if exc.filename else ""
    return StorageFull(f"filesystem storage at {root} is full: {exc.strerror}{where}")


async def _run(root: Path, fn: Callable[..., T], *args: object) -> T:
    """Run blocking I/O in a worker thread; a full disk or quota becomes `StorageFull`."""
    try:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
    except OSError as exc:
        if exc.errno in FULL_ERRNOS:
            raise _full(root, exc) from exc
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _FileUploadWriter(UploadWriter):
    def __init__(self, root: Path, fd: int, offset: int) -> None:
        self._root = root
        self._fd = fd
        self._offset = offset
        self._start = offset

    @property
    def offset(self) -> int:
        return self._offset

    def _write_all(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        start_writeback(self._fd, self._offset, len(data))

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        await _run(self._root, self._write_all, data)
        self._offset += len(data)

    def _writev_all(self, chunks: list[bytes | bytearray]) -> None:
        views = [memoryview(c) for c in chunks if c]
        i = 0
        while i < len(views):
            written = os.writev(self._fd, views[i : i + IOV_BATCH])
            while written:  # step past what went out; a partial write splits one view
                if written >= len(views[i]):
                    written -= len(views[i])
                    i += 1
                else:
                    views[i] = views[i][written:]
                    written = 0
        start_writeback(self._fd, self._offset, sum(len(c) for c in chunks))

    async def write_many(self, chunks: list[bytes | bytearray]) -> None:
        await _run(self._root, self._writev_all, chunks)
        self._offset += sum(len(c) for c in chunks)

    def _close(self) -> None:
        # No fsync per chunk: a process crash keeps the page cache, and a machine crash
        # that loses a chunk shows up as a short file on the next open (the client then
        # restarts the upload). The commit fsyncs before anything becomes visible.
        os.close(self._fd)

    async def close(self) -> str:
        await _run(self._root, self._close)
        return ""

    async def abort(self) -> None:
        def _abort() -> None:
            try:
                os.ftruncate(self._fd, self._start)
            finally:
                os.close(self._fd)

        await _run(self._root, _abort)


class FilesystemDriver(Driver):
    """A directory tree. With ``nfs_safe`` it avoids what NFS gets wrong: temp names are
    unique per host and process, and both the file and its directory are fsynced before
    a rename publishes anything."""

    name = "filesystem"

    def __init__(self, root: str | Path, *, nfs_safe: bool = False) -> None:
        self.root = Path(root).resolve()
        self.nfs_safe = nfs_safe
        host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
        self._tag = f"{host}.{os.getpid()}.{secrets.token_hex(3)}"

    async def start(self) -> None:
        def _start() -> None:
            for sub in ("blobs", "uploads", "tmp"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            probe = self.root / "tmp" / f".probe.{self._tag}.{secrets.token_hex(4)}"
            try:
                probe.write_bytes(b"ok")
            except OSError as exc:
                probe.unlink(missing_ok=True)
                if exc.errno not in FULL_ERRNOS:
                    raise
                # writable but full: start anyway, so that pulls keep working
                log.warning("storage is full", extra={"storage": str(self.root)})
                return
            probe.unlink()

        try:
            await _run(self.root, _start)
        except OSError as exc:
            raise StorageError(f"filesystem storage at {self.root} is not writable: {exc}") from exc

    async def ping(self) -> None:
        """The storage directory is there and a directory (a lost NFS mount is not)."""

        def _ping() -> None:
            for sub in ("blobs", "uploads", "tmp"):
                if not (self.root / sub).is_dir():
                    raise StorageError(f"filesystem storage at {self.root}: {sub}/ is missing")

        await _run(self.root, _ping)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _upload_dir(self, upload_id: str) -> Path:
        return self.root / "uploads" / check_upload_id(upload_id)

    def _tmp_name(self, directory: Path, stem: str) -> Path:
        return directory / f"{TEMP_PREFIX}{stem}.{self._tag}.{secrets.token_hex(6)}"

    def _make_parent(self, target: Path) -> None:
        """mkdir -p of the target's directory; in NFS-safe mode fsync each directory whose
        entries changed, so the new path is durable before it is announced."""
        missing = []
        parent = target.parent
        while not parent.exists() and parent != self.root:
            missing.append(parent)
            parent = parent.parent
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.nfs_safe:
            for directory in reversed(missing):
                _fsync_dir(directory.parent)

    def _publish(self, source: Path, target: Path) -> None:
        """Move a fully written, fsynced file to ``target``; keep an existing target."""
        for attempt in range(_RETRIES):
            self._make_parent(target)
            try:
                if self.nfs_safe:
                    try:
                        os.link(source, target)
                    except FileExistsError:
                        pass  # content addressed: the blob is already there
                    except OSError as exc:
                        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EMLINK):
                            raise
                        if not target.exists():
                            os.rename(source, target)
                    source.unlink(missing_ok=True)
                elif target.exists():
                    source.unlink()
                else:
                    os.rename(source, target)
            except FileNotFoundError:
                # the directory was removed by a concurrent cleanup: recreate, retry
                if not source.exists() or attempt == _RETRIES - 1:
                    raise
                continue
            if self.nfs_safe:
                _fsync_dir(target.parent)
            return

    # --- uploads -------------------------------------------------------------
    async def create_upload(self, upload_id: str) -> str:
        directory = self._upload_dir(upload_id)

        def _create() -> None:
            directory.mkdir(parents=True, exist_ok=False)
            (directory / "data").touch()
            if self.nfs_safe:
                _fsync_dir(directory)

        await _run(self.root, _create)
        return ""

    @staticmethod
    def _open_at(upload_id: str, path: Path, offset: int) -> int:
        """Blocking: the upload's file open for writing at ``offset``."""
        try:
            fd = _open_retry(path, os.O_WRONLY)
        except FileNotFoundError as exc:
            raise KeyNotFound(upload_id) from exc
        size = os.fstat(fd).st_size
        if size < offset:
            os.close(fd)
            raise StorageError(f"upload {upload_id} lost data: {size} < {offset}")
        if size > offset:  # a writer died after writing, before its offset was saved
            os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
        return fd

    async def open_upload(self, upload_id: str, state: str, offset: int) -> UploadWriter:
        path = self._upload_dir(upload_id) / "data"
        fd = await _run(self.root, self._open_at, upload_id, path, offset)
        return _FileUploadWriter(self.root, fd, offset)

    async def append_upload(
        self, upload_id: str, state: str, offset: int, chunks: list[bytes | bytearray]
    ) -> str:
        path = self._upload_dir(upload_id) / "data"

        def _append() -> None:  # one trip to a worker thread, not three
            fd = self._open_at(upload_id, path, offset)
            writer = _FileUploadWriter(self.root, fd, offset)
            try:
                writer._writev_all(chunks)
            except BaseException:
                os.ftruncate(fd, offset)
                raise
            finally:
                os.close(fd)

        await _run(self.root, _append)
        return ""

    async def commit_upload(self, upload_id: str, state: str, size: int, key: str) -> None:
        source = self._upload_dir(upload_id) / "data"
        target = self._path(key)

        def _commit() -> None:
            try:
                fd = _open_retry(source, os.O_RDWR)
            except FileNotFoundError as exc:
                raise KeyNotFound(upload_id) from exc
            try:
                actual = os.fstat(fd).st_size
                if actual < size:
                    raise StorageError(f"upload {upload_id} holds {actual} bytes, not {size}")
                if actual != size:
                    os.ftruncate(fd, size)
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                self._publish(source, target)
            except FileNotFoundError as exc:
                raise KeyNotFound(upload_id) from exc
            self._remove_tree(source.parent)

        await _run(self.root, _commit)

    @staticmethod
    def _remove_tree(directory: Path) -> None:
        try:
            for entry in directory.iterdir():
                entry.unlink(missing_ok=True)
            directory.rmdir()
        except FileNotFoundError:
            pass
        except OSError as exc:
            # ENOTEMPTY: an NFS silly-rename file (.nfsXXXX, a file still open elsewhere
            # on this client) or a racing writer; list_uploads reports it for a later purge
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EBUSY):
                raise

    async def delete_upload(self, upload_id: str, state: str) -> None:
        await _run(self.root, self._remove_tree, self._upload_dir(upload_id))

    def read_upload(self, upload_id: str, state: str, length: int) -> AsyncIterator[bytes]:
        return self._read_path(self._upload_dir(upload_id) / "data", 0, length)

    async def list_uploads(self) -> AsyncIterator[KeyInfo]:
        def _scan() -> list[KeyInfo]:
            found = []
            try:
                entries = list(os.scandir(self.root / "uploads"))
            except FileNotFoundError:
                return []
            for entry in entries:
                try:
                    st = os.stat(os.path.join(entry.path, "data"))
                    found.append(KeyInfo(entry.name, st.st_size, st.st_mtime))
                except FileNotFoundError:
                    try:
                        found.append(KeyInfo(entry.name, 0, entry.stat().st_mtime))
                    except FileNotFoundError:
                        continue
            return found

        for info in await _run(self.root, _scan):
            yield info

    # --- objects -------------------------------------------------------------
    async def stat(self, key: str) -> KeyInfo | None:
        path = self._path(key)

        def _stat() -> KeyInfo | None:
            try:
                st = path.stat()
            except (FileNotFoundError, NotADirectoryError):
                return None
            return KeyInfo(key, st.st_size, st.st_mtime)

        return await _run(self.root, _stat)

    async def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await _run(self.root, path.read_bytes)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise KeyNotFound(key) from exc

    async def put_bytes(self, key: str, data: bytes) -> None:
        target = self._path(key)

        def _put() -> None:
            for attempt in range(_RETRIES):
                self._make_parent(target)
                tmp = self._tmp_name(target.parent, target.name)
                try:
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                except FileNotFoundError:
                    if attempt == _RETRIES - 1:
                        raise
                    continue  # directory removed by a concurrent cleanup
                try:
                    try:
                        view = memoryview(data)
                        while view:
                            view = view[os.write(fd, view) :]
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                    os.rename(tmp, target)
                except BaseException:
                    tmp.unlink(missing_ok=True)
                    raise
                if self.nfs_safe:
                    _fsync_dir(target.parent)
                return

        await _run(self.root, _put)

    def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return self._read_path(self._path(key), offset, length)

    async def _read_path(self, path: Path, offset: int, length: int | None) -> AsyncIterator[bytes]:
        try:
            fd = await _run(self.root, _open_retry, path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise KeyNotFound(str(path.relative_to(self.root))) from exc
        try:
            remaining = length if length is not None else -1
            position = offset
            while remaining != 0:
                want = READ_CHUNK if remaining < 0 else min(READ_CHUNK, remaining)
                chunk = await _run(self.root, os.pread, fd, want, position)
                if not chunk:
                    break
                position += len(chunk)
                if remaining > 0:
                    remaining -= len(chunk)
                yield chunk
        finally:
            os.close(fd)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    async def delete(self, key: str) -> bool:
        path = self._path(key)

        def _delete() -> bool:
            try:
                path.unlink()
            except (FileNotFoundError, NotADirectoryError):
                return False
            except IsADirectoryError as exc:
                raise InvalidKey(key) from exc
            return True

        return await _run(self.root, _delete)

    async def list(self, prefix: str) -> AsyncIterator[KeyInfo]:
        base = self._path(prefix) if prefix else self.root

        def _walk() -> Iterator[list[KeyInfo]]:
            batch: list[KeyInfo] = []
            for directory, _dirs, files in os.walk(base):
                for name in files:
                    if _hidden(name):
                        continue
                    full = os.path.join(directory, name)
                    try:
                        st = os.stat(full)
                    except FileNotFoundError:
                        continue
                    batch.append(KeyInfo(os.path.relpath(full, self.root), st.st_size, st.st_mtime))
                    if len(batch) >= 1000:
                        yield batch
                        batch = []
            yield batch

        walker = _walk()
        while True:
            batch = await _run(self.root, next, walker, None)
            if batch is None:
                return
            for info in batch:
                yield info

    async def list_stale_temp(self, older_than: float) -> AsyncIterator[KeyInfo]:
        """Temp files (``.tmp.*``, left by a crash between create and rename) last
        modified more than ``older_than`` seconds ago; remove them with `delete`. The
        threshold should be generous (hours): NFS mtimes come from the server clock."""
        cutoff = time.time() - older_than

        def _walk() -> list[KeyInfo]:
            found = []
            for directory, _dirs, files in os.walk(self.root):
                for name in files:
                    if not name.startswith(TEMP_PREFIX):
                        continue
                    full = os.path.join(directory, name)
                    try:
                        st = os.stat(full)
                    except FileNotFoundError:
                        continue
                    if st.st_mtime < cutoff:
                        found.append(
                            KeyInfo(os.path.relpath(full, self.root), st.st_size, st.st_mtime)
                        )
            return found

        for info in await _run(self.root, _walk):
            yield info
