"""Runs in a second process (multiprocessing, spawn): takes SQLite's write lock on a file
and holds it. Only the standard library, so the child starts fast."""

from __future__ import annotations

import sqlite3
import time
from multiprocessing.synchronize import Event


def hold_sqlite_write_lock(path: str, seconds: float, ready: Event) -> None:
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("BEGIN IMMEDIATE")
    ready.set()
    time.sleep(seconds)
    db.execute("COMMIT")
    db.close()
