"""Prometheus metrics in the text exposition format.

Each worker process counts its own requests. So that a scrape (which lands on one
worker) sees the whole server, every worker publishes a snapshot to a shared directory
once a second, and /metrics sums its own live figures with the other live workers'
snapshots.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

# Upper bounds of the latency histogram, seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.started = time.time()
        self.requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: defaultdict[tuple[str, str], list[int]] = defaultdict(
            lambda: [0] * (len(BUCKETS) + 1)
        )
        self.latency_sum: defaultdict[tuple[str, str], float] = defaultdict(float)
        self.in_flight = 0
        self.workers = 1

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests[(endpoint, method, status)] += 1
        counts = self.latency[(endpoint, method)]
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
        self.latency_sum[(endpoint, method)] += seconds

    def snapshot(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "in_flight": self.in_flight,
            "requests": [[*key, count] for key, count in self.requests.items()],
            "latency": [
                [*key, counts, self.latency_sum[key]] for key, counts in self.latency.items()
            ],
        }

    def add(self, snapshot: dict[str, Any]) -> None:
        """Add another worker's snapshot into these figures."""
        self.started = min(self.started, snapshot["started"])
        self.in_flight += snapshot["in_flight"]
        self.workers += 1
        for endpoint, method, status, count in snapshot["requests"]:
            self.requests[(endpoint, method, status)] += count
        for endpoint, method, counts, total in snapshot["latency"]:
            mine = self.latency[(endpoint, method)]
            for i, count in enumerate(counts[: len(mine)]):
                mine[i] += count
            self.latency_sum[(endpoint, method)] += total

    def render(self, replica: str | None = None) -> str:
        """The text format; every series carries ``replica="…"`` when one is given."""
        lines = [
            "# HELP wharf_http_requests_total HTTP requests by endpoint, method and status.",
            "# TYPE wharf_http_requests_total counter",
        ]
        for (endpoint, method, status), count in sorted(self.requests.items()):
            lines.append(
                f'wharf_http_requests_total{{endpoint="{endpoint}",method="{method}",'
                f'status="{status}"}} {count}'
            )
        lines += [
            "# HELP wharf_http_request_duration_seconds Request latency.",
            "# TYPE wharf_http_request_duration_seconds histogram",
        ]
        for (endpoint, method), counts in sorted(self.latency.items()):
            labels = f'endpoint="{endpoint}",method="{method}"'
            cumulative = 0
            for bound, count in zip(BUCKETS, counts, strict=False):
                cumulative += count
                lines.append(
                    f'wharf_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} '
                    f"{cumulative}"
                )
            cumulative += counts[-1]
            lines.append(
                f'wharf_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {cumulative}'
            )
            lines.append(f"wharf_http_request_duration_seconds_count{{{labels}}} {cumulative}")
            lines.append(
                f"wharf_http_request_duration_seconds_sum{{{labels}}} "
                f"{self.latency_sum[(endpoint, method)]:.6f}"
            )
        lines += [
            "# HELP wharf_http_requests_in_flight Requests being served.",
            "# TYPE wharf_http_requests_in_flight gauge",
            f"wharf_http_requests_in_flight {self.in_flight}",
            "# HELP wharf_process_start_time_seconds Start time of the oldest live worker.",
            "# TYPE wharf_process_start_time_seconds gauge",
            f"wharf_process_start_time_seconds {self.started:.3f}",
            "# HELP wharf_workers Worker processes whose figures are included.",
            "# TYPE wharf_workers gauge",
            f"wharf_workers {self.workers}",
        ]
        if replica is not None:
            lines = [_label(line, replica) for line in lines]
        return "\n".join(lines) + "\n"


class SharedMetrics:
    """The directory where workers publish their snapshots (one file per pid)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.own = directory / f"{os.getpid()}.json"

    def publish(self, metrics: Metrics) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.own.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(metrics.snapshot()))
        tmp.replace(self.own)

    def withdraw(self) -> None:
        self.own.unlink(missing_ok=True)

    def combined(self, metrics: Metrics) -> Metrics:
        """This worker's live figures plus every other live worker's last snapshot."""
        total = Metrics()
        total.workers = 0
        total.add(metrics.snapshot())
        try:
            files = list(self.directory.glob("*.json"))
        except OSError:
            files = []
        for path in files:
            if path == self.own or not path.stem.isdigit() or not _alive(int(path.stem)):
                continue
            with contextlib.suppress(OSError, orjson.JSONDecodeError, KeyError, ValueError):
                total.add(orjson.loads(path.read_bytes()))
        return total


def _label(line: str, replica: str) -> str:
    """Add the replica label to one line of the text format (comments pass through)."""
    if line.startswith("#"):
        return line
    escaped = replica.replace("\\", "\\\\").replace('"', '\\"')
    series, _, value = line.rpartition(" ")
    if series.endswith("}"):
        return f'{series[:-1]},replica="{escaped}"}} {value}'
    return f'{series}{{replica="{escaped}"}} {value}'


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
