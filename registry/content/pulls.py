"""Pull times and counts (Harbor's ``pull_time``, ``pull_count``) without a database write
per pull: a subscriber of the core's pull events adds each manifest GET to an in-memory
tally (a dictionary update on the hot path), and ``flush`` — every ``PULL_FLUSH_SECONDS``,
from the application — writes the tally in one transaction. What a process has not
flushed yet is lost when it is killed (at most that many seconds of pull statistics);
a graceful stop flushes."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from wharf.db.errors import DatabaseUnavailable
from wharf.registry.events import Event, ManifestPulled
from wharf.registry.metadata.base import MetadataStore, Pulls

log = logging.getLogger("wharf.pulls")

PULL_FLUSH_SECONDS = 2.0
# distinct (repository, manifest, tag) entries held while the database is unavailable
PULLS_HOLD_MAX = 100_000


@dataclass(slots=True)
class _Tally:
    count: int
    last: float


class PullRecorder:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self.pending: dict[tuple[str, str, str | None], _Tally] = {}

    async def __call__(self, event: Event) -> None:
        if isinstance(event, ManifestPulled):
            self.add(event.repo, event.digest, event.reference, time.time())

    def add(self, repo: str, digest: str, reference: str, when: float) -> None:
        # a digest reference always holds a ':', a tag never does
        key = (repo, digest, None if ":" in reference else reference)
        tally = self.pending.get(key)
        if tally is None:
            if len(self.pending) < PULLS_HOLD_MAX:
                self.pending[key] = _Tally(1, when)
        else:
            tally.count += 1
            if when > tally.last:
                tally.last = when

    async def flush(self) -> None:
        taken, self.pending = self.pending, {}
        if not taken:
            return
        pulls = [Pulls(r, d, t, tally.count, tally.last) for (r, d, t), tally in taken.items()]
        try:
            await self.store.record_pulls(pulls)
        except DatabaseUnavailable:
            for key, tally in taken.items():  # again at the next flush
                self._merge(key, tally)
            log.warning("pull statistics held: database unavailable", extra={"held": len(taken)})
        except Exception:  # statistics must never fail anything else
            log.exception("cannot record pull statistics", extra={"lost": len(taken)})

    def _merge(self, key: tuple[str, str, str | None], tally: _Tally) -> None:
        found = self.pending.get(key)
        if found is None:
            if len(self.pending) < PULLS_HOLD_MAX:
                self.pending[key] = tally
            return
        found.count += tally.count
        found.last = max(found.last, tally.last)
