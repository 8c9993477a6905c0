"""The policy gate's cost on push-images: two Wharf servers side by side, access control on,
project ``bench`` in each; one has a storage quota that never refuses (1 TB) and 20
immutable rules scoped to the pushed repositories, the other no policy. Each round pushes
to both in turn, and the ratio with/without is what the gate costs (issue 15's target:
within 5 % of none).

    .venv/bin/python -m bench.policies --rounds 12 [--workers 2] [--order both]

Half the rounds bench the server with policies first, half second (``--order`` picks one
way only): going first or second in a round biases a ratio by several per cent here."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import requests

from bench.ab import run_legs, verdict
from bench.servers import Server, wharf_server

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--order",
        choices=("both", "feature-first", "feature-second"),
        default="both",
        help="which server each round benches first; both: half the rounds each way",
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
                ran = run_legs(with_policies, without, args.order, args.rounds, work, ADMIN)
                if isinstance(ran, int):
                    return ran
                print(verdict("gate cost", *ran))
                return 0
            finally:
                without.stop()
        finally:
            with_policies.stop()


if __name__ == "__main__":
    raise SystemExit(main())
