"""The policy gate's cost on push-images: two Wharf servers side by side, access control on,
project ``bench`` in each; one has a storage quota that never refuses (1 TB) and 20
immutable rules scoped to the pushed repositories, the other no policy. Each round pushes
to both in turn, and the ratio with/without is what the gate costs (issue 15's target:
within 5 % of none).

    .venv/bin/python -m bench.policies --rounds 8 [--workers 2] [--order both]

Half the rounds bench the server with policies first, half second (``--order`` picks one
way only): going first or second in a round biases a ratio by several per cent here."""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

from bench.servers import Server, tree_cpu, wharf_server

ADMIN = ("admin", "Bench-Policies-1")
QUOTA = 10**12  # bytes: far above what the bench pushes, so it never refuses
RULES = 20


def immutable_rule(n: int) -> dict[str, object]:
    """A rule whose scope matches the bench's repositories and whose tags never match a
    pushed one: every moved tag would be checked against it, no push is refused."""
    return {
        "disabled": False,
        "action": "immutable",
        "template": "immutable_template",
        "tag_selectors": [
            {"kind": "doublestar", "decoration": "matches", "pattern": f"release-{n}.{{0,1,2}}*"}
        ],
        "scope_selectors": {
            "repository": [
                {"kind": "doublestar", "decoration": "repoMatches", "pattern": "**/images-r*"}
            ]
        },
    }


def start(work: Path, name: str, workers: int) -> Server:
    server = wharf_server(work / name)
    server.name = name
    server.argv += ["--workers", str(workers)]
    server.env.update({"WHARF_AUTH__ENABLED": "true", "WHARF_ADMIN_PASSWORD": ADMIN[1]})
    server.start()
    return server


def prepare(server: Server, *, policies: bool) -> None:
    api = f"{server.url}/api/v2.0"
    project: dict[str, object] = {"project_name": "bench", "metadata": {"public": "false"}}
    if policies:
        project["storage_limit"] = QUOTA
    requests.post(f"{api}/projects", json=project, auth=ADMIN, timeout=30).raise_for_status()
    if not policies:
        return
    for n in range(RULES):
        requests.post(
            f"{api}/projects/bench/immutabletagrules",
            json=immutable_rule(n),
            auth=ADMIN,
            timeout=30,
        ).raise_for_status()
    quota = requests.get(f"{api}/projects/bench/summary", auth=ADMIN, timeout=30).json()
    assert quota["quota"]["hard"]["storage"] == QUOTA, quota
    rules = requests.get(
        f"{api}/projects/bench/immutabletagrules",
        params={"page_size": 100},
        auth=ADMIN,
        timeout=30,
    )
    assert len(rules.json()) == RULES, rules.text


def verdict(legs: list[tuple[Path, str]], cpu_with: float, cpu_without: float) -> str:
    """The gate's cost as issue 15 states it (with policies / without, target >= 0.95),
    over every leg (a report, and which of its servers, A or B, had the policies): the
    throughput medians, the per-round ratios, and the servers' CPU per image pushed (CPU
    time is what the gate adds to each push, and it moves far less with the machine's
    load than throughput does)."""
    with_values: list[float] = []
    without_values: list[float] = []
    pairs: list[float] = []
    images = 0
    for report, policy in legs:
        scenario = json.loads(report.read_bytes())["scenarios"]["push-images"]
        rounds = {name: run["rounds"] for name, run in scenario["results"].items()}
        plain = "B" if policy == "A" else "A"
        for a, b in zip(rounds[policy], rounds[plain], strict=True):
            if a["value"] and b["value"]:
                with_values.append(a["value"])
                without_values.append(b["value"])
                pairs.append(a["value"] / b["value"])
            images += (a["extra"] or {}).get("images", 0)
    ratio = statistics.median(with_values) / statistics.median(without_values)
    geomean = math.exp(sum(math.log(x) for x in pairs) / len(pairs))
    lines = [
        "",
        f"gate cost on push-images ({len(pairs)} paired rounds, target: with/without >= 0.95)",
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


def bench_leg(first: Server, second: Server, rounds: int, report: Path) -> int:
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
        ADMIN[0],
        "--password",
        ADMIN[1],
        "--no-ceilings",
        "--json",
        str(report),
    ]
    return subprocess.run(argv, check=False).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--order",
        choices=("both", "policies-first", "policies-second"),
        default="both",
        help="which server each round benches first; both: half the rounds each way, "
        "which cancels the bias of going first or second",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wharf-bench-policies-") as tmp:
        work = Path(tmp)
        with_policies = start(work, "policies", args.workers)
        try:
            without = start(work, "plain", args.workers)
            try:
                prepare(with_policies, policies=True)
                prepare(without, policies=False)
                print(
                    f"with policies (quota + {RULES} rules): {with_policies.url}; "
                    f"without: {without.url}",
                    flush=True,
                )
                if args.order == "both":
                    plan = [("A", args.rounds - args.rounds // 2), ("B", args.rounds // 2)]
                else:
                    plan = [("A" if args.order == "policies-first" else "B", args.rounds)]
                servers = (with_policies, without)
                cpu_before = {s.name: tree_cpu(s.pid) for s in servers}
                legs: list[tuple[Path, str]] = []
                for n, (policy, rounds) in enumerate(plan):
                    if rounds == 0:
                        continue
                    first, second = servers if policy == "A" else servers[::-1]
                    print(f"-- leg {n + 1}: A = {first.name}, B = {second.name}", flush=True)
                    report = work / f"leg{n + 1}.json"
                    code = bench_leg(first, second, rounds, report)
                    if code != 0:
                        return code
                    legs.append((report, policy))
                cpu = {s.name: tree_cpu(s.pid) - cpu_before[s.name] for s in servers}
                print(verdict(legs, cpu[with_policies.name], cpu[without.name]))
                return 0
            finally:
                without.stop()
        finally:
            with_policies.stop()


if __name__ == "__main__":
    raise SystemExit(main())
