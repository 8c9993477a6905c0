"""Rows of the registry tables and the records they hold, shared by the SQLite and the
PostgreSQL metadata stores (the same columns, the same name ranges)."""

from __future__ import annotations

import time
from typing import Any

from wharf.registry.metadata.base import ManifestRecord, UploadSession

MANIFEST_COLUMNS = "m.digest, m.media_type, m.size, m.artifact_type, m.subject, m.annotations"
SESSION_COLUMNS = 'id, repo, "offset", hash_algorithm, hash_state, driver_state, created, updated'
LAST_SEEN_REFRESH = 60.0  # refreshing every hit would make every read a write


def manifest_from_row(row: Any) -> ManifestRecord:
    """A row of ``SELECT {MANIFEST_COLUMNS}`` (further columns are ignored)."""
    return ManifestRecord(row[0], row[1], row[2], row[3], row[4], row[5])


def session_from_row(row: Any) -> UploadSession:
    """A row of ``SELECT {SESSION_COLUMNS}`` (further columns are ignored)."""
    return UploadSession(*row[:8])


def prefix_successor(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: no
    upper bound, for the empty prefix)."""
    if not prefix:
        return None
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def project_range(project: str | None) -> tuple[str, str | None]:
    """Repository names in ``project``: ``low <= name < high`` (high None: no bound)."""
    if project is None:
        return "", None
    prefix = project + "/"
    return prefix, prefix_successor(prefix)


# what the stores append to the log of a run whose collector is gone
GC_LOCK_GONE = "Error: the run lost the GC lock to a newer run (its collector died or stalled)"
GC_STOPPED_GONE = "Stopped: on request; no collector was running it any more"


def gc_log_line(now: float, text: str) -> str:
    """A line of a GC run's log, as the collector writes them."""
    return f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now))} {text}\n"
