"""What event-based replication adds to a push: manifest pushes through the core (the
application's ``ContentService``, every subscriber of its events on: the audit log, pull
statistics, replication's trigger) on SQLite, timed one after the other, with no
enabled event-based policy, with one that selects other repositories, and with one that
selects the pushed one (each push then enqueues an execution and its task before it returns).

    python -m bench.replication_events                  # 300 pushes per case, 5 rounds

The job runner is stopped before the timing, so the enqueued copies wait in the queue
instead of competing for the CPU: what is measured is the push path alone. Cases run
interleaved (A B C A B C ...), each round pushing new manifests; medians are printed."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from wharf.auth.principals import SYSTEM_PRINCIPAL
from wharf.registry.config import load_settings
from wharf.registry.content.service import ContentService
from wharf.registry.events import Actor
from wharf.registry.http.app import create_app
from wharf.registry.http.keys import AUTH, CONTENT, JOBS, REPLICATION
from wharf.registry.oci.names import parse_digest
from wharf.replication.models import Filter, Policy, Registry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ACTOR = Actor("bench", "127.0.0.1")
CASES = ("no event policy", "event policy, other repos", "event policy, this repo")


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _blob(content: ContentService, repo: str, data: bytes) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    await content.uploads.whole(repo, parse_digest(digest), _one(data), ACTOR)
    return {"digest": digest, "size": len(data)}


async def _pushes(content: ContentService, repo: str, count: int) -> float:
    config = await _blob(content, repo, b'{"architecture":"amd64","os":"linux"}')
    layer = await _blob(content, repo, os.urandom(1024))
    bodies = [
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer}],
                "annotations": {"n": f"{n}-{os.urandom(4).hex()}"},
            }
        ).encode()
        for n in range(count)
    ]
    started = time.perf_counter()
    for n, body in enumerate(bodies):
        await content.manifests.put(repo, f"t{n}", body, OCI_MANIFEST, ACTOR)
    return time.perf_counter() - started


async def measure(work: Path, count: int, rounds: int) -> dict[str, list[float]]:
    settings = load_settings(None, {"data_dir": str(work / "data"), "auth": {"enabled": True}}, {})
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    app = runner.app
    try:
        content, replication = app[CONTENT], app[REPLICATION]
        await app[JOBS].close()  # the copies stay queued: the push path alone is timed
        await app[AUTH].projects.create(SYSTEM_PRINCIPAL, "bench", public=False)
        registry = await replication.store.create_registry(
            Registry("peer", "docker-registry", "http://127.0.0.1:9", created=1.0, updated=1.0)
        )
        figures: dict[str, list[float]] = {case: [] for case in CASES}
        policy_id = 0
        for n in range(rounds):
            for case in CASES:
                # the policy is changed rather than deleted (its executions are queued):
                # disabled, no policy is consulted, as when there is none
                policy = Policy(
                    name="events",
                    dest_registry_id=registry.id,
                    trigger_type="event_based",
                    filters=(Filter("name", "other/**" if case == CASES[1] else "bench/**"),),
                    enabled=case != CASES[0],
                )
                if policy_id:
                    await replication.update_policy(ACTOR, policy_id, policy)
                else:
                    policy_id = (await replication.create_policy(ACTOR, policy)).id
                took = await _pushes(content, f"bench/r{n}-{CASES.index(case)}", count)
                figures[case].append(count / took)
        return figures
    finally:
        await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replication_events")
    parser.add_argument("--pushes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wharf-bench-events.", dir=args.workdir))
    try:
        figures = asyncio.run(measure(work, args.pushes, args.rounds))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.pushes} manifest pushes through the core per round, SQLite, {args.rounds} rounds")
    base = statistics.median(figures[CASES[0]])
    for case in CASES:
        median = statistics.median(figures[case])
        rounds = " ".join(f"{v:.0f}" for v in figures[case])
        print(
            f"  {case:28s} median {median:6.0f} pushes/s ({median / base:5.0%})"
            f"  {1000 / median:5.2f} ms/push  ({rounds})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
