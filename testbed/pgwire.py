"""Database round trips counted on the wire: a TCP proxy between PostgreSQL clients (the
replicas of `wharf serve`) and the server, in a process of its own, that reads the
frontend side of the protocol and counts each message after which a client waits for the
server — ``Sync`` (the end of an extended-protocol exchange: Parse/Bind/Execute…),
``Query`` (a simple query: BEGIN, COMMIT, a statement without parameters), ``Flush``
(asyncpg's prepare) and ``FunctionCall``. Pipelined messages before one Sync count once,
as they cost one round trip. Nothing is changed in the traffic.

    with RoundTripCounter(("127.0.0.1", pg.port)) as counter:
        url = pg.dsn("wharf").replace(f":{pg.port}/", f":{counter.port}/")
        before = counter.snapshot()
        ...                                   # clients talk through the counter
        (counter.snapshot() - before).round_trips

It counts what crosses the connection, whoever sent it: subtract what idle clients send on
their own (health checks, leader jobs) over the same time. A connection that switches to
TLS can't be read; it is counted in ``Counts.unreadable`` and its messages are not.
``tests/test_pgwire.py`` checks the figures against asyncpg's own statement count.
"""

from __future__ import annotations

import asyncio
import contextlib
import mmap
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from testbed.ports import free_port

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_CONNECTIONS = 0  # slots of the shared array that aren't message types (0 and 1 are none)
_UNREADABLE = 1
ROUND_TRIP_MESSAGES = b"SQHF"  # Sync, Query, Flush, FunctionCall
SLOTS = 256


@dataclass(frozen=True)
class Counts:
    """Messages by type byte (``by_type["S"]`` Syncs…), connections opened, round trips."""

    by_type: dict[str, int] = field(default_factory=dict)
    connections: int = 0
    unreadable: int = 0

    @property
    def round_trips(self) -> int:
        return sum(self.by_type.get(chr(kind), 0) for kind in ROUND_TRIP_MESSAGES)

    def __sub__(self, other: Counts) -> Counts:
        kinds = set(self.by_type) | set(other.by_type)
        by_type = {k: self.by_type.get(k, 0) - other.by_type.get(k, 0) for k in kinds}
        return Counts(
            {k: v for k, v in by_type.items() if v},
            self.connections - other.connections,
            self.unreadable - other.unreadable,
        )


class FrontendParser:
    """Splits the client-to-server byte stream into messages (headers only: the bodies are
    skipped) and counts each by type into ``counts``."""

    def __init__(self, counts: Any) -> None:
        self.counts = counts
        self.startup = True  # untyped messages first: SSLRequest, StartupMessage
        self.header = bytearray()
        self.skip = 0
        self.awaiting_tls_answer = False
        self.unreadable = False

    def feed(self, data: bytes) -> None:
        if self.unreadable:
            return
        i, n = 0, len(data)
        while i < n:
            if self.skip:
                take = min(self.skip, n - i)
                i += take
                self.skip -= take
                continue
            size = 8 if self.startup else 5
            piece = data[i : i + size - len(self.header)]
            self.header += piece
            i += len(piece)
            if len(self.header) < size:
                return
            if self.startup:
                length, code = struct.unpack("!ii", self.header)
                self.skip = length - 8
                if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                    self.awaiting_tls_answer = True
                elif code >> 16 == 3:  # StartupMessage, protocol 3.x: typed from now on
                    self.startup = False
                # else a CancelRequest: the connection ends after it
            else:
                length = struct.unpack("!i", self.header[1:5])[0]
                self.skip = length - 4
                self.counts[self.header[0]] += 1
            self.header.clear()

    def server_answered(self, first_byte: int) -> None:
        """The server's one-byte answer to an SSLRequest/GSSENCRequest: ``S``/``G`` means
        the rest is encrypted."""
        self.awaiting_tls_answer = False
        if first_byte in b"SG":
            self.unreadable = True
            self.counts[_UNREADABLE] += 1


class _Pipe(asyncio.Protocol):
    """One side of a proxied connection; ``peer`` is the other side's transport."""

    def __init__(self, on_data: Callable[[bytes], None] | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Pipe | None = None
        self.on_data = on_data
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's aren't subclasses

    def data_received(self, data: bytes) -> None:
        if self.on_data is not None:
            self.on_data(data)
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.write(data)
        else:
            self.pending.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

    # flow control: a peer that can't take more stops this side's reading
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


async def _proxy(listen: tuple[str, int], target: tuple[str, int], counts: Any) -> None:
    loop = asyncio.get_running_loop()

    def accepted() -> _Pipe:
        parser = FrontendParser(counts)
        client = _Pipe(parser.feed)
        counts[_CONNECTIONS] += 1

        def answered(data: bytes) -> None:
            if parser.awaiting_tls_answer and data:
                parser.server_answered(data[0])

        async def connect() -> None:
            try:
                _, upstream = await loop.create_connection(lambda: _Pipe(answered), *target)
            except OSError:
                if client.transport is not None:
                    client.transport.close()
                return
            assert isinstance(upstream, _Pipe) and upstream.transport is not None
            if client.transport is None or client.transport.is_closing():
                upstream.transport.close()  # the client left meanwhile
                return
            upstream.peer, client.peer = client, upstream
            upstream.transport.get_extra_info("socket").setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
            )
            for data in client.pending:
                upstream.transport.write(data)
            client.pending.clear()

        tasks.add(task := loop.create_task(connect()))
        task.add_done_callback(tasks.discard)
        return client

    tasks: set[asyncio.Task[None]] = set()
    server = await loop.create_server(accepted, *listen, backlog=256)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> None:
    """``python -m testbed.pgwire HOST:PORT TARGET_HOST:TARGET_PORT COUNTS_FILE``: serve
    until killed, counting into the file (SLOTS unsigned 64-bit integers, mapped)."""
    listen_host, listen_port = argv[0].rsplit(":", 1)
    target_host, target_port = argv[1].rsplit(":", 1)
    with open(argv[2], "r+b") as f, mmap.mmap(f.fileno(), SLOTS * 8) as shared:
        counts = memoryview(shared).cast("Q")
        coroutine = _proxy((listen_host, int(listen_port)), (target_host, int(target_port)), counts)
        try:
            import uvloop

            uvloop.run(coroutine)
        except ImportError:
            asyncio.run(coroutine)


class RoundTripCounter:
    """The counting proxy in a child process, listening on ``host:port`` (a free port on
    127.0.0.1 unless given) and forwarding to ``target``."""

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = target
        self.host = host
        self.port = port or free_port()
        self._file = tempfile.NamedTemporaryFile(prefix="wharf-pgwire.")  # noqa: SIM115
        self._file.write(bytes(SLOTS * 8))
        self._file.flush()
        self._shared = mmap.mmap(self._file.fileno(), SLOTS * 8)
        self._process: subprocess.Popen[bytes] | None = None
        self._probes = 0  # connections of our own (the start-up check)

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": root}
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "testbed.pgwire",
                f"{self.host}:{self.port}",
                f"{self.target[0]}:{self.target[1]}",
                self._file.name,
            ],
            env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            if self._process.poll() is not None:
                raise RuntimeError("the round-trip counter exited at start")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=1),
            ):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the round-trip counter did not start")
            time.sleep(0.05)
        # that probe was a connection too: not one of the clients'
        while self.snapshot().connections < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        self._probes = 1

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)

    def close(self) -> None:
        self.stop()
        self._shared.close()
        self._file.close()

    def __enter__(self) -> RoundTripCounter:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def snapshot(self) -> Counts:
        values = memoryview(self._shared).cast("Q").tolist()
        by_type = {chr(kind): values[kind] for kind in range(32, 128) if values[kind]}
        return Counts(by_type, values[_CONNECTIONS] - self._probes, values[_UNREADABLE])


if __name__ == "__main__":
    main(sys.argv[1:])
