"""Blob store on a local (or NFS-mounted) directory tree.

Staging lives in ``<root>/uploads/<id>/data``; a commit publishes a blob with an
atomic rename into ``<root>/blobs/…`` after fsync of the file, so a reader sees the
whole blob or none of it. Every blocking call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TypeVar

from .base import (
    Driver,
    InvalidKey,
    KeyInfo,
    KeyNotFound,
    StorageError,
    UploadWriter,
    check_key,
    check_upload_id,
)

T = TypeVar("T")
READ_CHUNK = 1 << 20


async def _run(fn: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _FileUploadWriter(UploadWriter):
    def __init__(self, fd: int, offset: int) -> None:
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

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        await _run(self._write_all, data)
        self._offset += len(data)

    def _close(self) -> None:
        try:
            os.fdatasync(self._fd)
        finally:
            os.close(self._fd)

    async def close(self) -> str:
        await _run(self._close)
        return ""

    async def abort(self) -> None:
        def _abort() -> None:
            try:
                os.ftruncate(self._fd, self._start)
            finally:
                os.close(self._fd)

        await _run(_abort)


class FilesystemDriver(Driver):
    """A directory tree. With ``nfs_safe`` it avoids what NFS gets wrong: temp names are
    unique per host and process, and both the file and its directory are fsynced before
    a rename publishes anything."""

    name = "filesystem"

    def __init__(self, root: str | Path, *, nfs_safe: bool = False) -> None:
        self.root = Path(root).resolve()
        self.nfs_safe = nfs_safe
        self._tag = f"{socket.gethostname()}.{os.getpid()}"

    async def start(self) -> None:
        def _start() -> None:
            for sub in ("blobs", "uploads", "tmp"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            probe = self.root / "tmp" / f".probe.{self._tag}.{secrets.token_hex(4)}"
            probe.write_bytes(b"ok")
            probe.unlink()

        try:
            await _run(_start)
        except OSError as exc:
            raise StorageError(f"filesystem storage at {self.root} is not writable: {exc}") from exc

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _upload_dir(self, upload_id: str) -> Path:
        return self.root / "uploads" / check_upload_id(upload_id)

    def _tmp_name(self, directory: Path, stem: str) -> Path:
        return directory / f".tmp.{stem}.{self._tag}.{secrets.token_hex(6)}"

    # --- uploads -------------------------------------------------------------
    async def create_upload(self, upload_id: str) -> str:
        directory = self._upload_dir(upload_id)

        def _create() -> None:
            directory.mkdir(parents=True, exist_ok=False)
            (directory / "data").touch()
            if self.nfs_safe:
                _fsync_dir(directory)

        await _run(_create)
        return ""

    async def open_upload(self, upload_id: str, state: str, offset: int) -> UploadWriter:
        path = self._upload_dir(upload_id) / "data"

        def _open() -> int:
            try:
                fd = os.open(path, os.O_WRONLY)
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

        fd = await _run(_open)
        return _FileUploadWriter(fd, offset)

    async def commit_upload(self, upload_id: str, state: str, size: int, key: str) -> None:
        source = self._upload_dir(upload_id) / "data"
        target = self._path(key)

        def _commit() -> None:
            try:
                fd = os.open(source, os.O_RDWR)
            except FileNotFoundError as exc:
                raise KeyNotFound(upload_id) from exc
            try:
                if os.fstat(fd).st_size != size:
                    os.ftruncate(fd, size)
                os.fsync(fd)
            finally:
                os.close(fd)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                source.unlink()
            else:
                os.rename(source, target)
                _fsync_dir(target.parent)
            self._remove_tree(source.parent)

        await _run(_commit)

    @staticmethod
    def _remove_tree(directory: Path) -> None:
        try:
            for entry in directory.iterdir():
                entry.unlink(missing_ok=True)
            directory.rmdir()
        except FileNotFoundError:
            pass

    async def delete_upload(self, upload_id: str, state: str) -> None:
        await _run(self._remove_tree, self._upload_dir(upload_id))

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

        for info in await _run(_scan):
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

        return await _run(_stat)

    async def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await _run(path.read_bytes)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise KeyNotFound(key) from exc

    async def put_bytes(self, key: str, data: bytes) -> None:
        target = self._path(key)

        def _put() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._tmp_name(target.parent, target.name)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, target)
            if self.nfs_safe:
                _fsync_dir(target.parent)

        await _run(_put)

    def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return self._read_path(self._path(key), offset, length)

    async def _read_path(self, path: Path, offset: int, length: int | None) -> AsyncIterator[bytes]:
        try:
            fd = await _run(os.open, path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise KeyNotFound(str(path.relative_to(self.root))) from exc
        try:
            remaining = length if length is not None else -1
            position = offset
            while remaining != 0:
                want = READ_CHUNK if remaining < 0 else min(READ_CHUNK, remaining)
                chunk = await _run(os.pread, fd, want, position)
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

        return await _run(_delete)

    async def list(self, prefix: str) -> AsyncIterator[KeyInfo]:
        base = self._path(prefix) if prefix else self.root

        def _walk() -> Iterator[list[KeyInfo]]:
            batch: list[KeyInfo] = []
            for directory, _dirs, files in os.walk(base):
                for name in files:
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
            batch = await _run(next, walker, None)
            if batch is None:
                return
            for info in batch:
                yield info
