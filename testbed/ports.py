"""Free TCP ports on 127.0.0.1, below the ephemeral range (32768+), where outgoing
connections can't take them between the check and the bind."""

from __future__ import annotations

import os
import socket


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(lo: int = 20000, hi: int = 30000) -> int:
    """A currently bindable port in ``[lo, hi)``."""
    for _ in range(200):
        port = lo + int.from_bytes(os.urandom(2), "big") % (hi - lo)
        if port_free(port):
            return port
    raise RuntimeError("no free port")
