"""Two Wharf servers benched side by side on push-images, one with something switched on
(policies, a webhook), one without: legs of rounds in both orders, since which server
goes first in a round biases a single leg's ratio by several per cent on this box."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

from bench.servers import Server, tree_cpu

Leg = tuple[Path, str]  # a report, and which of its servers (A or B) had the feature


def plan(order: str, rounds: int) -> list[tuple[str, int]]:
    """(where the feature server goes, rounds) per leg: ``both`` splits the rounds."""
    if order == "both":
        return [("A", rounds - rounds // 2), ("B", rounds // 2)]
    return [("A" if order == "feature-first" else "B", rounds)]


def run_legs(
    featured: Server,
    plain: Server,
    order: str,
    rounds: int,
    work: Path,
    credentials: tuple[str, str],
) -> tuple[list[Leg], float, float] | int:
    """Bench the legs; the reports, and each server's CPU seconds over them (or the
    failing bench's exit code)."""
    servers = (featured, plain)
    before = [tree_cpu(s.pid) for s in servers]
    legs: list[Leg] = []
    for n, (where, count) in enumerate(plan(order, rounds)):
        if count == 0:
            continue
        first, second = servers if where == "A" else servers[::-1]
        print(f"-- leg {n + 1}: A = {first.name}, B = {second.name}", flush=True)
        report = work / f"leg{n + 1}.json"
        code = bench_leg(first, second, count, report, credentials)
        if code != 0:
            return code
        legs.append((report, where))
    cpu_featured, cpu_plain = (tree_cpu(s.pid) - b for s, b in zip(servers, before, strict=True))
    return legs, cpu_featured, cpu_plain


def bench_leg(
    first: Server, second: Server, rounds: int, report: Path, credentials: tuple[str, str]
) -> int:
    """push-images on ``first`` (A) then ``second`` (B) each round."""
    argv = [
        sys.executable,
        "-m",
        "bench",
        "--url",
        first.url,
        "--baseline-url",
        second.url,
        "--scenarios",
        "push-images",
        "--rounds",
        str(rounds),
        "--user",
        credentials[0],
        "--password",
        credentials[1],
        "--no-ceilings",
        "--json",
        str(report),
    ]
    return subprocess.run(argv, check=False).returncode


def verdict(title: str, legs: list[Leg], cpu_with: float, cpu_without: float) -> str:
    """``title`` (what is switched on), then over every leg: the ratio of the throughput
    medians with/without (target >= 0.95), the geometric mean of the per-round ratios,
    and the servers' CPU per image pushed (CPU time is what the feature adds to each
    push, and it moves far less with the machine's load than throughput does)."""
    with_values: list[float] = []
    without_values: list[float] = []
    pairs: list[float] = []
    images = 0
    for report, featured in legs:
        scenario = json.loads(report.read_bytes())["scenarios"]["push-images"]
        rounds = {name: run["rounds"] for name, run in scenario["results"].items()}
        plain = "B" if featured == "A" else "A"
        for a, b in zip(rounds[featured], rounds[plain], strict=True):
            if a["value"] and b["value"]:
                with_values.append(a["value"])
                without_values.append(b["value"])
                pairs.append(a["value"] / b["value"])
            images += (a["extra"] or {}).get("images", 0)
    ratio = statistics.median(with_values) / statistics.median(without_values)
    geomean = math.exp(sum(math.log(x) for x in pairs) / len(pairs))
    lines = [
        "",
        f"{title} on push-images ({len(pairs)} paired rounds, target: with/without >= 0.95)",
        f"  throughput, ratio of medians: {ratio:.3f} ({'MET' if ratio >= 0.95 else 'MISS'})",
        f"  throughput, geometric mean of the per-round ratios: {geomean:.3f}",
    ]
    if images and cpu_with:
        lines.append(
            f"  server CPU per image: {1000 * cpu_with / images:.2f} ms with, "
            f"{1000 * cpu_without / images:.2f} ms without "
            f"(without/with {cpu_without / cpu_with:.3f})"
        )
    return "\n".join(lines)
