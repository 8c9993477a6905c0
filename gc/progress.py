"""Progress of a run: a one-line bar on a terminal, a log line every few seconds
otherwise. Phases report counts; nothing here knows how big the store is up front."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

log = logging.getLogger("wharf.gc")

LOG_EVERY = 5.0


class Progress:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = not quiet and self.stream.isatty()
        self.quiet = quiet
        self.phase = ""
        self._last = 0.0

    def start(self, phase: str) -> None:
        self.end()
        self.phase = phase
        self._last = 0.0 if self.tty else time.monotonic()  # logs: none for quick phases
        self.update(0)

    def update(self, done: int, unit: str = "items") -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if self.tty:
            if now - self._last >= 0.1:
                self._last = now
                spin = "|/-\\"[int(now * 8) % 4]
                self.stream.write(f"\r{spin} {self.phase:<18} {done:>12,} {unit}\x1b[K")
                self.stream.flush()
        elif now - self._last >= LOG_EVERY:
            self._last = now
            log.info("gc progress", extra={"phase": self.phase, "done": done, "unit": unit})

    def end(self) -> None:
        if self.tty and self.phase:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        self.phase = ""
