"""Threads that each own one database connection and run functions on it for asyncio.

Lighter than ``loop.run_in_executor``: no ``concurrent.futures.Future`` per call (its
condition variable and chained callbacks), and a thread that wakes up takes every job
waiting in the queue (up to ``BATCH``) and hands all their results back to the event loop
in one ``call_soon_threadsafe``. Under load, many calls then share one wake-up each way.
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

# (the function, its future, the future's loop); None tells one thread to stop
_Job = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]
# (future, succeeded, result or exception)
_Outcome = tuple["asyncio.Future[Any]", bool, Any]


class ConnectionThreads:
    def __init__(self, name: str, count: int, connect: Callable[[], sqlite3.Connection]) -> None:
        self._name = name
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

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue ``fn(conn)``; call from the event loop. A job whose future is cancelled
        before a thread picks it up is skipped; once running it runs to its end."""
        if self._stopping or not self._threads:
            raise RuntimeError(f"{self._name}: not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, future, loop))
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

    @staticmethod
    def _run(db: sqlite3.Connection, batch: list[_Job]) -> None:
        outcomes: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for fn, future, loop in batch:
            if future.cancelled():
                continue
            try:
                outcome: _Outcome = (future, True, fn(db))
            except BaseException as exc:
                outcome = (future, False, exc)
            outcomes.setdefault(loop, []).append(outcome)
        for loop, results in outcomes.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_deliver, results)


def _deliver(results: list[_Outcome]) -> None:
    for future, ok, value in results:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
