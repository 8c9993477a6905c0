"""Resumable SHA-256/SHA-512 whose state can be saved between requests.

`hashlib` objects can't be serialised, so a chunked upload would have to re-read
everything at the end. OpenSSL's SHA256_CTX/SHA512_CTX are plain structs, so we
drive libcrypto's low-level functions through ctypes and save the struct's bytes
in the upload-session row; any process can resume from them. ctypes drops the
GIL during the call, so hashing in a worker thread runs beside the event loop.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import ClassVar

_lib_name = ctypes.util.find_library("crypto") or "libcrypto.so.3"
_crypto = ctypes.CDLL(_lib_name)

_ALGORITHMS: dict[str, tuple[str, int, int]] = {
    # name: (OpenSSL prefix, sizeof(CTX), digest size)
    "sha256": ("SHA256", 112, 32),
    "sha512": ("SHA512", 216, 64),
}

for _prefix, _, _ in _ALGORITHMS.values():
    for _fn in ("Init", "Update", "Final"):
        getattr(_crypto, f"{_prefix}_{_fn}").restype = ctypes.c_int
    getattr(_crypto, f"{_prefix}_Update").argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_size_t,
    ]


class ResumableHash:
    """A hash whose state round-trips through `state()` / `from_state()`."""

    algorithms: ClassVar[tuple[str, ...]] = tuple(_ALGORITHMS)

    def __init__(self, algorithm: str = "sha256", state: bytes | None = None) -> None:
        if algorithm not in _ALGORITHMS:
            raise ValueError(f"unsupported hash algorithm {algorithm}")
        prefix, self._ctx_size, self._digest_size = _ALGORITHMS[algorithm]
        self.algorithm = algorithm
        self._ctx = ctypes.create_string_buffer(256)
        self._update = getattr(_crypto, f"{prefix}_Update")
        self._final = getattr(_crypto, f"{prefix}_Final")
        if state is None:
            if getattr(_crypto, f"{prefix}_Init")(self._ctx) != 1:
                raise RuntimeError("hash init failed")
        else:
            if len(state) != self._ctx_size:
                raise ValueError("hash state has the wrong size")
            ctypes.memmove(self._ctx, state, self._ctx_size)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        if not view.nbytes:
            return
        if view.readonly:
            pointer = ctypes.c_char_p(bytes(view) if not isinstance(data, bytes) else data)
            ok = self._update(self._ctx, pointer, view.nbytes)
        else:
            buf = (ctypes.c_char * view.nbytes).from_buffer(view)
            ok = self._update(self._ctx, buf, view.nbytes)
        if ok != 1:
            raise RuntimeError("hash update failed")

    def state(self) -> bytes:
        return self._ctx.raw[: self._ctx_size]

    def hexdigest(self) -> str:
        """The digest of everything so far; the running state is left untouched."""
        ctx = ctypes.create_string_buffer(self._ctx.raw, 256)
        out = ctypes.create_string_buffer(self._digest_size)
        if self._final(out, ctx) != 1:
            raise RuntimeError("hash final failed")
        return out.raw.hex()
