"""Prometheus metrics in the text exposition format, kept in-process (per worker)."""

from __future__ import annotations

import time
from collections import defaultdict

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
        self.bytes_received = 0
        self.bytes_sent = 0
        self.in_flight = 0

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

    def render(self) -> str:
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
            "# HELP wharf_process_start_time_seconds Start time of this worker.",
            "# TYPE wharf_process_start_time_seconds gauge",
            f"wharf_process_start_time_seconds {self.started:.3f}",
        ]
        return "\n".join(lines) + "\n"
