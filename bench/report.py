"""Aggregation (medians, ratios, targets) and the final table / JSON."""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.scenarios import TARGETS


@dataclass
class RoundResult:
    round: int
    value: float | None
    seconds: float | None
    peak_rss: int
    server_cpu_s: float
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    peak_pss: int = 0


@dataclass
class Run:
    """All rounds of one scenario on one target."""

    unit: str = ""
    rounds: list[RoundResult] = field(default_factory=list)

    @property
    def values(self) -> list[float]:
        return [r.value for r in self.rounds if r.value is not None]

    @property
    def median(self) -> float | None:
        v = self.values
        return statistics.median(v) if v else None

    @property
    def peak_rss(self) -> int:
        return max((r.peak_rss for r in self.rounds), default=0)

    @property
    def peak_pss(self) -> int:
        return max((r.peak_pss for r in self.rounds), default=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "median": self.median,
            "min": min(self.values, default=None),
            "max": max(self.values, default=None),
            "peak_rss_bytes": self.peak_rss,
            "peak_pss_bytes": self.peak_pss,
            "rounds": [r.__dict__ for r in self.rounds],
        }


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "mem_gib": round(mem / (1 << 30), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def _fmt(v: float | None) -> str:
    if v is None:
        return "FAIL"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB" if n else "-"


def ratio(a: Run, b: Run) -> float | None:
    ma, mb = a.median, b.median
    if ma is None or mb is None or mb == 0:
        return None
    return ma / mb


def target_status(scenario: str, a: Run, b: Run | None) -> tuple[str, str]:
    """(target text, 'ok' / 'MISS' / '') for the candidate ``a`` against baseline ``b``."""
    kind, x = TARGETS.get(scenario, ("", 0.0))
    if kind == "ratio":
        r = ratio(a, b) if b is not None else None
        return f"≥ {x:g}x", ("" if r is None else ("ok" if r >= x else "MISS"))
    if kind == "abs":
        m = a.median
        return f"≥ {x:g} {a.unit}", ("" if m is None else ("ok" if m >= x else "MISS"))
    return "", ""


def _notes(runs: dict[str, Run]) -> str:
    notes: list[str] = []
    for name, run in runs.items():
        errs = sum(int(r.extra.get("errors", 0) or 0) for r in run.rounds)
        fails = [r for r in run.rounds if r.error]
        if errs:
            notes.append(f"{name}: {errs} request errors")
        if fails:
            notes.append(f"{name}: {len(fails)} round(s) failed ({fails[0].error})")
        if any(r.extra.get("ignored_n") for r in run.rounds):
            notes.append(f"{name} ignored n")
        p50 = [r.extra["p50_ms"] for r in run.rounds if "p50_ms" in r.extra]
        p99 = [r.extra["p99_ms"] for r in run.rounds if "p99_ms" in r.extra]
        if p50:
            notes.append(
                f"{name} p50 {statistics.median(p50):.1f} ms, p99 {statistics.median(p99):.1f} ms"
            )
    return "; ".join(notes)


def table(results: dict[str, dict[str, Run]], names: list[str]) -> str:
    rows: list[list[str]] = []
    if len(names) >= 2:
        a, b = names[0], names[1]
        head = [
            "scenario",
            "unit",
            f"{a} (median)",
            f"{b} (median)",
            f"{a}/{b}",
            "target",
            "",
            f"{a} peak RSS (PSS)",
            f"{b} peak RSS (PSS)",
            "notes",
        ]
        for scen, runs in results.items():
            ra, rb = runs[a], runs[b]
            r = ratio(ra, rb)
            tgt, ok = target_status(scen, ra, rb)
            rows.append(
                [
                    scen,
                    ra.unit or rb.unit,
                    _fmt(ra.median),
                    _fmt(rb.median),
                    "-" if r is None else f"{r:.2f}x",
                    tgt,
                    ok,
                    _memory(ra),
                    _memory(rb),
                    _notes(runs),
                ]
            )
    else:
        (a,) = names
        head = ["scenario", "unit", "median", "min", "max", "target", "", "peak RSS (PSS)", "notes"]
        for scen, runs in results.items():
            ra = runs[a]
            tgt, ok = target_status(scen, ra, None)
            rows.append(
                [
                    scen,
                    ra.unit,
                    _fmt(ra.median),
                    _fmt(min(ra.values, default=None)),
                    _fmt(max(ra.values, default=None)),
                    tgt,
                    ok,
                    _memory(ra),
                    _notes(runs),
                ]
            )
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)
    ]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def _memory(run: Run) -> str:
    """Peak RSS summed over the server's processes, with the PSS sum beside it when it
    differs (forked workers share the supervisor's pages)."""
    if run.peak_pss and abs(run.peak_pss - run.peak_rss) >= 1 << 20:
        return f"{_mib(run.peak_rss)} ({_mib(run.peak_pss)})"
    return _mib(run.peak_rss)


def ceilings_table(ceil: dict[str, float]) -> str:
    return "\n".join(f"  {k:<30} {v:>10,.1f}" for k, v in ceil.items())


def to_json(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_DATACLASS)
