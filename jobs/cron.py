"""Cron expressions of schedules (GC, replication, retention), as Harbor writes them: six
fields (second, minute, hour, day of month, month, day of week) or the classic five (no
seconds: second 0). Each field is ``*`` (or ``?``), a number, a range ``a-b``, any of
those with a step ``/n``, or a comma-separated list of them. Day of week 0-7 (0 and 7 are
Sunday). As in cron, when both day of month and day of week are restricted, a day matching
either one fires. Times are UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# (name, lowest, highest) of the six fields
FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
MAX_CATCH_UP = 3600  # seconds of a gap (a pause, a new leader) looked back over


class InvalidCron(ValueError):
    pass


def _number(text: str, name: str, low: int, high: int) -> int:
    if not text.isdigit() or len(text) > 2:
        raise InvalidCron(f"{name}: {text!r} is not a number")
    value = int(text)
    if not low <= value <= high:
        raise InvalidCron(f"{name}: {value} is outside {low}-{high}")
    return value


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, slash, step_text = part.partition("/")
        step = _number(step_text, name, 1, high) if slash else 1
        if body in ("*", "?"):
            first, last = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            first, last = _number(a, name, low, high), _number(b, name, low, high)
            if first > last:
                raise InvalidCron(f"{name}: range {body!r} runs backwards")
        else:
            first = _number(body, name, low, high)
            last = high if slash else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday
    any_day: bool  # day of month is "*"
    any_weekday: bool  # day of week is "*"

    @classmethod
    def parse(cls, expression: str) -> Cron:
        fields = expression.split()
        if len(fields) == 5:
            fields = ["0", *fields]
        if len(fields) != 6:
            raise InvalidCron("a cron expression has 5 or 6 fields")
        sets = [_field(text, *spec) for text, spec in zip(fields, FIELDS, strict=True)]
        return cls(
            seconds=sets[0],
            minutes=sets[1],
            hours=sets[2],
            days=sets[3],
            months=sets[4],
            weekdays=frozenset(d % 7 for d in sets[5]),
            any_day=fields[3] in ("*", "?"),
            any_weekday=fields[5] in ("*", "?"),
        )

    def matches(self, when: dt.datetime) -> bool:
        """Whether the schedule fires at ``when``'s second (``when`` in UTC)."""
        if not (
            when.second in self.seconds
            and when.minute in self.minutes
            and when.hour in self.hours
            and when.month in self.months
        ):
            return False
        day = when.day in self.days
        weekday = (when.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day and weekday
        return day or weekday

    def fires_between(self, since: float, until: float) -> bool:
        """Whether it fires at a whole second in ``(since, until]`` (Unix times), looking
        back at most MAX_CATCH_UP seconds."""
        first = max(int(since) + 1, int(until) - MAX_CATCH_UP)
        return any(
            self.matches(dt.datetime.fromtimestamp(second, dt.UTC))
            for second in range(first, int(until) + 1)
        )

    def _day_fires(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        on_day = day.day in self.days
        on_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return on_day and on_weekday
        return on_day or on_weekday

    def next_after(self, after: float) -> float | None:
        """The first second after ``after`` (a Unix time) at which it fires; None when it
        fires on no day of the next eight years (a 30th of February)."""
        start = dt.datetime.fromtimestamp(int(after) + 1, dt.UTC)
        day = start.date()
        for _ in range(366 * 8 + 2):
            if self._day_fires(day):
                midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
                first = day == start.date()
                for hour in sorted(h for h in self.hours if not first or h >= start.hour):
                    for minute in sorted(self.minutes):
                        for second in sorted(self.seconds):
                            when = midnight + dt.timedelta(
                                hours=hour, minutes=minute, seconds=second
                            )
                            if when >= start:
                                return when.timestamp()
            day += dt.timedelta(days=1)
        return None


class TickWindow:
    """The span of time a leader's schedule tick covers: from the previous tick to now,
    or after a gap (leadership just taken, a pause) ``catch_up`` seconds back at most, so
    a new leader does not replay the firings its predecessor ran."""

    def __init__(self, catch_up: float = 5.0) -> None:
        self.catch_up = catch_up
        self._last: float | None = None

    def advance(self, now: float) -> float:
        """Where this tick's window (ending at ``now``) starts; the next one starts here."""
        since = now - self.catch_up
        if self._last is not None:
            since = max(since, self._last)
        self._last = now
        return since
