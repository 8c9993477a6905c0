"""The GC schedule's cron expressions (jobs/cron.py), and the schedule running on the
leader: a schedule stored through the Harbor API starts runs by itself."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from wharf.jobs.cron import FIELDS, Cron, InvalidCron

from .inproc import ADMIN, serve_in_process

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_harbor_presets_and_five_field_expressions() -> None:
    daily = Cron.parse("0 0 0 * * *")
    assert daily.matches(at("2026-03-04T00:00:00"))
    assert not daily.matches(at("2026-03-04T00:00:01"))
    assert not daily.matches(at("2026-03-04T12:00:00"))
    weekly = Cron.parse("0 0 0 * * 0")  # Sundays; 7 is Sunday too
    assert weekly.matches(at("2026-03-01T00:00:00"))  # a Sunday
    assert not weekly.matches(at("2026-03-02T00:00:00"))
    assert Cron.parse("0 0 0 * * 7") == weekly
    five = Cron.parse("30 2 * * 1-5")  # 02:30 on weekdays, second 0
    assert five.matches(at("2026-03-02T02:30:00"))  # Monday
    assert not five.matches(at("2026-03-02T02:30:01"))
    assert not five.matches(at("2026-03-01T02:30:00"))  # Sunday


def test_steps_lists_ranges_and_day_or_weekday() -> None:
    cron = Cron.parse("*/15 5,10-12 * * * *")
    assert cron.seconds == {0, 15, 30, 45}
    assert cron.minutes == {5, 10, 11, 12}
    assert Cron.parse("5/20 * * * * ?").seconds == {5, 25, 45}
    assert Cron.parse("0 0 0 1-10/3 * *").days == {1, 4, 7, 10}
    # both restricted: either one fires (the 13th, or any Friday)
    either = Cron.parse("0 0 0 13 * 5")
    assert either.matches(at("2026-03-13T00:00:00"))
    assert either.matches(at("2026-03-06T00:00:00"))  # a Friday
    assert not either.matches(at("2026-03-07T00:00:00"))


@pytest.mark.parametrize(
    "bad",
    ["", "* * * *", "* * * * * * *", "60 * * * * *", "* * 24 * * *", "* * * 0 * *",
     "* * * * 13 *", "* * * * * 8", "5-1 * * * * *", "*/0 * * * * *", "a * * * * *",
     "1,,2 * * * * *", "-1 * * * * *", "* * * * * MON"],
)  # fmt: skip
def test_bad_expressions_are_refused(bad: str) -> None:
    with pytest.raises(InvalidCron):
        Cron.parse(bad)


def _values(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    single = number.map(str)
    ranged = st.tuples(number, number).map(lambda ab: f"{min(ab)}-{max(ab)}")
    base = st.one_of(st.just("*"), single, ranged)
    step = st.integers(1, high).map(str)
    item = st.one_of(base, st.tuples(base, step).map(lambda bs: f"{bs[0]}/{bs[1]}"))
    return st.lists(item, min_size=1, max_size=3).map(",".join)


def _expected(text: str, low: int, high: int) -> set[int]:
    """The field's values, worked out independently of the parser."""
    out: set[int] = set()
    for item in text.split(","):
        base, _, step = item.partition("/")
        if base == "*":
            lo, hi = low, high
        elif "-" in base:
            lo, hi = (int(x) for x in base.split("-"))
        else:
            lo = int(base)
            hi = high if step else lo
        out.update(v for v in range(lo, hi + 1) if (v - lo) % int(step or 1) == 0)
    return out


@given(st.tuples(*(_values(low, high) for _, low, high in FIELDS)))
def test_any_expression_of_the_grammar_parses_to_its_values(fields: tuple[str, ...]) -> None:
    cron = Cron.parse(" ".join(fields))
    got = [cron.seconds, cron.minutes, cron.hours, cron.days, cron.months]
    for text, values, (_, low, high) in zip(fields, got, FIELDS, strict=False):
        assert values == _expected(text, low, high)
    assert cron.weekdays == {d % 7 for d in _expected(fields[5], 0, 7)}


@given(
    st.tuples(*(_values(low, high) for _, low, high in FIELDS)),
    st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1)),
)
def test_matching_is_each_field_in_its_set(fields: tuple[str, ...], when: dt.datetime) -> None:
    cron = Cron.parse(" ".join(fields))
    when = when.replace(tzinfo=UTC, microsecond=0)
    day_ok = when.day in cron.days
    weekday_ok = when.isoweekday() % 7 in cron.weekdays
    either = day_ok or weekday_ok if "*" not in (fields[3], fields[5]) else day_ok and weekday_ok
    expected = (
        when.second in cron.seconds
        and when.minute in cron.minutes
        and when.hour in cron.hours
        and when.month in cron.months
        and either
    )
    assert cron.matches(when) == expected


def test_fires_between_is_half_open_and_bounded() -> None:
    cron = Cron.parse("0 0 0 * * *")
    midnight = at("2026-03-04T00:00:00").timestamp()
    assert cron.fires_between(midnight - 1, midnight)
    assert not cron.fires_between(midnight, midnight + 10)
    assert not cron.fires_between(midnight - 10, midnight - 1)
    # a long gap looks back an hour at most: yesterday's run is not replayed at noon
    assert not cron.fires_between(midnight - 5, midnight + 12 * 3600)


def test_a_stored_schedule_runs_by_itself_on_the_leader(tmp_path: Path) -> None:
    with serve_in_process(tmp_path / "data", auth=True, admin_password=ADMIN[1]) as app:
        api = f"{app.url}/api/v2.0/system/gc"
        bad = requests.put(
            f"{api}/schedule",
            json={"schedule": {"type": "Custom", "cron": "61 * * * * *"}},
            auth=ADMIN,
            timeout=10,
        )
        assert bad.status_code == 400 and "second" in bad.text
        r = requests.put(
            f"{api}/schedule",
            json={"schedule": {"type": "Custom", "cron": "*/2 * * * * *"}, "parameters": {}},
            auth=ADMIN,
            timeout=10,
        )
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 10
        while True:
            runs = requests.get(api, auth=ADMIN, timeout=10).json()
            if runs:
                break
            assert time.monotonic() < deadline, "the schedule never ran"
            time.sleep(0.2)
        assert runs[0]["schedule"]["type"] == "Schedule"
        assert runs[0]["job_kind"] != "MANUAL"
        r = requests.put(
            f"{api}/schedule", json={"schedule": {"type": "None"}}, auth=ADMIN, timeout=10
        )
        assert r.status_code == 200
        assert not app.errors, app.error_log()
