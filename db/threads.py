"""Threads that each own one database connection and run functions on it for asyncio.

Lighter than ``loop.run_in_executor``: no ``concurrent.futures.Future`` per call (its
condition variable and chained callbacks), and a thread that wakes up takes every job
waiting in the queue (up to ``BATCH``) and hands all their results back to the event loop
in one ``call_soon_threadsafe``. Under load, many calls then share one wake-up each way.

Jobs submitted with ``group=True`` that are waiting next to each other are handed to the
``group`` function together (the SQLite writer commits them in one transaction); it
returns one outcome per job, each job's own result or error.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
BATCH = 64

Fn = Callable[[sqlite3.Connection], Any]
# (the function, its future, the future's loop, may it be grouped); None tells one thread
# to stop
_Job = tuple[Fn, "asyncio.Future[Any]", asyncio.AbstractEventLoop, bool]
# (future, succeeded, result or exception)
_Outcome = tuple["asyncio.Future[Any]", bool, Any]
# runs several jobs on the connection: (succeeded, result or exception) for each, in order
Group = Callable[[sqlite3.Connection, list[Fn]], list[tuple[bool, Any]]]


class ConnectionThreads:
    def __init__(
        self,
        name: str,
        count: int,
        connect: Callable[[], sqlite3.Connection],
        group: Group | None = None,
    ) -> None:
        self._name = name
        self._group = group
        self._count = count
        self._connect = connect
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._stopping = False

    def start(self) -> None:
        """Blocking: open the connections (errors surface here), then start the threads."""
        connections = [self._connect() for _ in range(self._count)]
        for i, db in enumerate(connections):
            thread = threading.Thread(
                target=self._serve, args=(db,), name=f"{self._name}-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def submit(
        self, fn: Callable[[sqlite3.Connection], T], *, group: bool = False
    ) -> asyncio.Future[T]:
        """Queue ``fn(conn)``; call from the event loop. A job whose future is cancelled
        before a thread picks it up is skipped; once running it runs to its end. With
        ``group`` (and a ``group`` function given), it may run with its neighbours."""
        if self._stopping or not self._threads:
            raise RuntimeError(f"{self._name}: not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, future, loop, group and self._group is not None))
        return future

    def stop(self) -> None:
        """Blocking: let every queued job run, then end the threads."""
        self._stopping = True
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _serve(self, db: sqlite3.Connection) -> None:
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                batch = [job]
                last = False
                while len(batch) < BATCH:
                    try:
                        more = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        last = True
                        break
                    batch.append(more)
                self._run(db, batch)
                if last:
                    return
        finally:
            db.close()

    def _run(self, db: sqlite3.Connection, batch: list[_Job]) -> None:
        outcomes: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        live = [job for job in batch if not job[1].cancelled()]
        i = 0
        while i < len(live):
            fn, future, loop, grouped = live[i]
            if grouped and self._group is not None:
                end = i + 1
                while end < len(live) and live[end][3]:
                    end += 1
                jobs = live[i:end]
                results = self._group(db, [job[0] for job in jobs])
                for job, (ok, value) in zip(jobs, results, strict=True):
                    outcomes.setdefault(job[2], []).append((job[1], ok, _settled(value)))
                i = end
                continue
            i += 1
            if future.cancelled():
                continue
            try:
                outcome: _Outcome = (future, True, _settled(fn(db)))
            except BaseException as exc:
                outcome = (future, False, exc)
            outcomes.setdefault(loop, []).append(outcome)
        for loop, delivered in outcomes.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_deliver, delivered)


def _settled(value: Any) -> Any:
    """A cursor returned by a job (``lambda db: db.execute(...)``, for its rowcount) is
    closed here, in the connection's thread: left open, it would be finalised wherever its
    last reference dies — on the event loop's thread, resetting its statement while this
    thread runs another on the same connection, which SQLite answers with "bad parameter
    or other API misuse" (seen as lost audit batches). Its rowcount and lastrowid stay
    readable once closed."""
    if isinstance(value, sqlite3.Cursor):
        value.close()
    return value


def _deliver(results: list[_Outcome]) -> None:
    for future, ok, value in results:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
