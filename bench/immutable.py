"""What the immutable-tag rule costs the policy gate, per check, with N rules in the
project (rules cached, as on a serving process): a new tag (what a push of a new image
asks: no rule is consulted), a tag moved to another digest (every rule matched), and a
manifest delete (the artifact's tags looked up, then matched).

    .venv/bin/python -m bench.immutable [--rules 20] [--checks 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path

from wharf.registry.content.cache import InProcessGenerations
from wharf.registry.events import Actor
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.policy.gate import Change, Deletion, PolicyRefused, TagWrite
from wharf.registry.policy.immutable import ImmutableRules, ImmutableTags
from wharf.registry.policy.models import Rule, Selector
from wharf.registry.wiring import make_policy_store, sqlite_database

ACTOR = Actor("bench")
DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


def rule(n: int) -> Rule:
    return Rule(
        template="immutable_template",
        tag_selectors=(Selector("doublestar", "matches", f"release-{n}.{{0,1,2}}*"),),
        scope_selectors={"repository": (Selector("doublestar", "repoMatches", "**/images-r*"),)},
        action="immutable",
    )


async def timed(gate: ImmutableTags, change: Change, checks: int) -> float:
    started = time.perf_counter()
    for _ in range(checks):
        with contextlib.suppress(PolicyRefused):
            await gate.check(change)
    return (time.perf_counter() - started) / checks * 1e6


async def main(rules: int, checks: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        database = sqlite_database(Path(tmp) / "wharf.db")
        metadata = SQLiteStore(database)
        policies = make_policy_store(database)
        await metadata.open()
        await policies.open()
        try:
            immutable = ImmutableRules(policies, InProcessGenerations())
            for n in range(rules):
                await immutable.create(1, "bench", rule(n))
            gate = ImmutableTags(immutable, metadata)
            repo = "bench/x/images-r1"
            cases: dict[str, Change] = {
                "new tag (a push)": TagWrite(ACTOR, repo, "v1", DIGEST, None),
                "tag moved, no rule holds it": TagWrite(ACTOR, repo, "v1", DIGEST, OTHER),
                "tag moved, the last rule holds it": TagWrite(
                    ACTOR, repo, f"release-{rules - 1}.1", DIGEST, OTHER
                ),
                "manifest delete (unknown)": Deletion(ACTOR, "manifest", repo, DIGEST),
            }
            print(f"{rules} immutable rules, {checks} checks each (µs per check):")
            for name, change in cases.items():
                print(f"  {name:36} {await timed(gate, change, checks):8.2f}")
        finally:
            await policies.close()
            await metadata.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=20)
    parser.add_argument("--checks", type=int, default=20000)
    args = parser.parse_args()
    asyncio.run(main(args.rules, args.checks))
