"""The policy gate's cost on push-images: two Wharf servers side by side, access control on,
project ``bench`` in each; A has a storage quota that never refuses (1 TB) and 20 immutable
rules scoped to the pushed repositories, B has no policy. Rounds alternate A B A B, and
the ratio A/B is what the gate costs (issue 15's target: within 5 % of none).

    .venv/bin/python -m bench.policies --rounds 8 [--workers 2] [--swap]

``--swap`` puts the policies on the second server instead, to cancel any bias of order."""

from __future__ import annotations

import argparse
import json
import math
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


def verdict(report: Path, swap: bool, cpu_with: float, cpu_without: float) -> str:
    """The gate's cost as issue 15 states it (with policies / without, target >= 0.95),
    from the throughput medians and from the servers' CPU per image pushed: CPU time
    is what the gate adds to each push, and unlike throughput it barely moves with the
    machine's load."""
    scenario = json.loads(report.read_bytes())["scenarios"]["push-images"]
    medians = {name: run["median"] for name, run in scenario["results"].items()}
    rounds = {name: run["rounds"] for name, run in scenario["results"].items()}
    policy, plain = ("B", "A") if swap else ("A", "B")
    ratio = medians[policy] / medians[plain]
    pairs = [
        a["value"] / b["value"]
        for a, b in zip(rounds[policy], rounds[plain], strict=True)
        if a["value"] and b["value"]
    ]
    geomean = math.exp(sum(math.log(x) for x in pairs) / len(pairs)) if pairs else 0.0
    images = sum(r["extra"].get("images", 0) for r in rounds[policy] if r["extra"])
    cpu_ratio = cpu_with / cpu_without if cpu_without else 0.0
    lines = [
        "",
        f"gate cost on push-images ({len(pairs)} paired rounds, target: with/without >= 0.95)",
        f"  throughput, ratio of medians: {ratio:.3f} ({'MET' if ratio >= 0.95 else 'MISS'})",
        f"  throughput, geometric mean of the per-round ratios: {geomean:.3f}",
    ]
    if images:
        per_with = 1000 * cpu_with / images
        per_without = 1000 * cpu_without / images
        lines.append(
            f"  server CPU per image: {per_with:.2f} ms with, {per_without:.2f} ms without "
            f"(without/with {1 / cpu_ratio if cpu_ratio else 0:.3f})"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--swap", action="store_true", help="policies on the second server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wharf-bench-policies-") as tmp:
        work = Path(tmp)
        first = start(work, "first", args.workers)
        try:
            second = start(work, "second", args.workers)
            try:
                with_policies, without = (second, first) if args.swap else (first, second)
                prepare(with_policies, policies=True)
                prepare(without, policies=False)
                print(
                    f"A = {first.url} ({'no policy' if args.swap else 'quota + 20 rules'}), "
                    f"B = {second.url} ({'quota + 20 rules' if args.swap else 'no policy'})",
                    flush=True,
                )
                report = work / "report.json"
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
                    str(args.rounds),
                    "--user",
                    ADMIN[0],
                    "--password",
                    ADMIN[1],
                    "--no-ceilings",
                    "--json",
                    str(report),
                ]
                cpu_before = {s.name: tree_cpu(s.pid) for s in (with_policies, without)}
                code = subprocess.run(argv, check=False).returncode
                cpu = {
                    s.name: tree_cpu(s.pid) - cpu_before[s.name] for s in (with_policies, without)
                }
                if code == 0:
                    print(verdict(report, args.swap, cpu[with_policies.name], cpu[without.name]))
                return code
            finally:
                second.stop()
        finally:
            first.stop()


if __name__ == "__main__":
    raise SystemExit(main())
