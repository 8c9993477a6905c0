"""The HA benchmark: push and pull through HAProxy against 1 and 3 replicas on PostgreSQL.

``python -m bench.ha`` (see bench/README.md, "HA"). For each replica count it starts the
topology of ``testbed.topology`` — PostgreSQL, Redis, shared storage (an NFS-safe directory,
or S3 on SeaweedFS), N `wharf serve` replicas of one worker each and HAProxy — with the
replicas' database connections running through ``testbed.pgwire``'s round-trip counter, and
measures through the load balancer:

- push: ``--images`` images (a config and two layers of ``--layer-size``) by ``--workers``
  concurrent clients (HEAD, POST, PUT per blob, PUT of the manifest); then pull them all
  (manifest by tag, every blob, digests verified): images/s, MB/s, requests;
- CPU seconds per request of each component (replicas, PostgreSQL, Redis, HAProxy, the
  counter, the client itself), from /proc (utime + stime of each process tree);
- database round trips per image pushed and pulled under that load, and per operation
  done one at a time (blob HEAD, manifest GET by tag, one image push, one image pull),
  less what the idle topology sends on its own over the same time (health checks).

On a machine with few cores, more replicas can't go faster; the CPU per request and the
round trips per operation say what would: see the "Scaling" lines of the report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import resource
import shlex
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench import report
from bench.client import MANIFEST_ACCEPT, Registry, with_query
from bench.scenarios import (
    Image,
    make_image,
    pull_image,
    push_image,
    put_manifest,
    run_workers,
    sha256_digest,
    upload_blob,
)
from bench.servers import tree_cpu
from testbed.pgwire import Counts, RoundTripCounter
from testbed.topology import ADMIN, Address, DatabaseFront, Options, Topology, run_topology

KiB = 1024
MB = 1_000_000


def parse_size(text: str) -> int:
    t = text.strip().lower().removesuffix("b").removesuffix("i")
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    if t and t[-1] in mult:
        return int(float(t[:-1]) * mult[t[-1]])
    return int(t)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.ha",
        description="Push/pull through HAProxy against N Wharf replicas on PostgreSQL.",
    )
    p.add_argument("--replicas", default="1,3", help="replica counts, comma-separated")
    p.add_argument("--images", type=int, default=300, help="images pushed, then pulled")
    p.add_argument("--layer-size", default="256KiB", help="size of each of the two layers")
    p.add_argument("--workers", type=int, default=16, help="concurrent clients")
    p.add_argument("--ops", type=int, default=30, help="repeats of each one-at-a-time op")
    p.add_argument("--storage", choices=["filesystem", "s3"], default="filesystem")
    p.add_argument("--auth", action="store_true", help="access control on (Bearer tokens)")
    p.add_argument("--replica-workers", type=int, default=1, help="worker processes each")
    p.add_argument("--json", dest="json_path", help="write the results as JSON here")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: check that it runs")
    return p


@dataclass
class Usage:
    """CPU seconds of each component, round trips and time: a point to subtract from."""

    cpu: dict[str, float]
    counts: Counts
    at: float

    def __sub__(self, other: Usage) -> Usage:
        cpu = {k: self.cpu[k] - other.cpu.get(k, 0.0) for k in self.cpu}
        return Usage(cpu, self.counts - other.counts, self.at - other.at)


@dataclass
class Bench:
    topology: Topology
    counter: RoundTripCounter
    registry: Registry
    background_per_s: float = 0.0  # round trips the idle topology makes per second
    idle_cpu_per_s: dict[str, float] = field(default_factory=dict)  # CPU s/s, idle

    def usage(self) -> Usage:
        topo = self.topology
        pids: dict[str, list[int]] = {
            "replicas": [r.process.pid for r in topo.replicas if r.process is not None],
            "postgresql": [],
            "redis": [topo.redis.process.pid] if topo.redis.process is not None else [],
            "haproxy": [topo.lb.process.pid] if topo.lb.process is not None else [],
            "counter": [self.counter.pid] if self.counter.pid is not None else [],
        }
        if topo.postgres is not None and (pid := topo.postgres.postmaster_pid()):
            pids["postgresql"] = [pid]
        if topo.s3 is not None and topo.s3.pid:
            pids["seaweedfs"] = [topo.s3.pid]
        cpu = {name: sum(tree_cpu(pid) for pid in group) for name, group in pids.items()}
        own = resource.getrusage(resource.RUSAGE_SELF)
        cpu["client"] = own.ru_utime + own.ru_stime
        return Usage(cpu, self.counter.snapshot(), time.monotonic())

    def round_trips(self, used: Usage) -> float:
        """Round trips in ``used``, less the idle background over its duration."""
        return max(0.0, used.counts.round_trips - self.background_per_s * used.at)

    def request_cpu(self, used: Usage) -> dict[str, float]:
        """CPU seconds in ``used`` by component, less what each spends idle (timers, health
        checks, Redis pings) over its duration: what the requests cost."""
        return {
            name: max(0.0, seconds - self.idle_cpu_per_s.get(name, 0.0) * used.at)
            for name, seconds in used.cpu.items()
        }

    async def measure_background(self, seconds: float = 3.0) -> None:
        """What the idle topology does on its own: round trips and CPU per second."""
        before = self.usage()
        await asyncio.sleep(seconds)
        used = self.usage() - before
        self.background_per_s = used.counts.round_trips / used.at
        self.idle_cpu_per_s = {name: cpu / used.at for name, cpu in used.cpu.items()}


@dataclass
class Phase:
    name: str
    seconds: float
    images: int
    requests: int
    bytes: int
    cpu: dict[str, float]
    round_trips: float
    messages: dict[str, int] = field(default_factory=dict)  # to PostgreSQL, by type
    connections: int = 0  # opened to PostgreSQL meanwhile

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds

    @property
    def mb_per_s(self) -> float:
        return self.bytes / MB / self.seconds

    def cpu_ms_per_request(self, component: str) -> float:
        return 1000 * self.cpu.get(component, 0.0) / max(1, self.requests)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "images_per_s": round(self.images_per_s, 2),
            "mb_per_s": round(self.mb_per_s, 2),
            "cpu_ms_per_request": {k: round(self.cpu_ms_per_request(k), 3) for k in self.cpu},
            "round_trips_per_image": round(self.round_trips / max(1, self.images), 2),
            "round_trips_per_request": round(self.round_trips / max(1, self.requests), 3),
        }


@dataclass
class Result:
    replicas: int
    phases: list[Phase] = field(default_factory=list)
    per_operation: dict[str, float] = field(default_factory=dict)  # round trips per op
    background_per_s: float = 0.0
    idle_cpu_per_s: dict[str, float] = field(default_factory=dict)


def image_bytes(img: Image) -> int:
    return sum(len(b) for b in img.blobs.values()) + len(img.manifest)


async def timed_phase(
    bench: Bench,
    name: str,
    images: list[Image],
    workers: int,
    one: Callable[[Image], Awaitable[int]],
) -> Phase:
    requests = 0

    async def work(i: int) -> None:
        nonlocal requests
        sent = await one(images[i])
        requests += sent

    fetches = bench.registry.token_fetches
    before = bench.usage()
    await run_workers(workers, len(images), work)
    used = bench.usage() - before
    requests += bench.registry.token_fetches - fetches
    total = sum(image_bytes(img) for img in images)
    return Phase(
        name,
        used.at,
        len(images),
        requests,
        total,
        bench.request_cpu(used),
        bench.round_trips(used),
        used.counts.by_type,
        used.counts.connections,
    )


async def per_operation(
    bench: Bench, repo: str, args: argparse.Namespace, salt: str
) -> dict[str, float]:
    """Round trips of each operation done one at a time, ``args.ops`` times, with HAProxy's
    health checks (a round trip each) paused."""
    bench.topology.lb.health_checks(False)
    try:
        await bench.measure_background(1.0)
        return await _per_operation(bench, repo, args, salt)
    finally:
        bench.topology.lb.health_checks(True)


async def _per_operation(
    bench: Bench, repo: str, args: argparse.Namespace, salt: str
) -> dict[str, float]:
    reg = bench.registry
    layer = parse_size(args.layer_size)
    images = [make_image(f"{salt}/ops", i, layer) for i in range(args.ops)]
    out: dict[str, float] = {}

    async def each(what: str, step: Callable[[int], Awaitable[object]]) -> None:
        before = bench.usage()
        for i in range(args.ops):
            await step(i)
        out[what] = round(bench.round_trips(bench.usage() - before) / args.ops, 2)

    await each(
        "image push (config + 2 layers + manifest)", lambda i: push_image(reg, repo, images[i])
    )
    manifest = f"/v2/{repo}/manifests/{images[0].tag}"
    accept = {"Accept": MANIFEST_ACCEPT}
    await each(
        "manifest GET by tag, first after the push",
        lambda i: reg.request("GET", f"/v2/{repo}/manifests/{images[i].tag}", headers=accept),
    )
    for _ in bench.topology.replicas:  # every replica has looked it up once
        await reg.request("GET", manifest, headers=accept)
    await each(
        "manifest GET by tag, repeated", lambda i: reg.request("GET", manifest, headers=accept)
    )
    blob = next(iter(images[0].blobs))
    await each(
        "blob HEAD", lambda i: reg.request("HEAD", f"/v2/{repo}/blobs/{blob}", expect=(200,))
    )
    await each("blob GET", lambda i: reg.request("GET", f"/v2/{repo}/blobs/{blob}"))
    await each("image pull (manifest + 3 blobs)", lambda i: pull_image(reg, repo, images[i]))
    # the parts of a push
    fresh = [os.urandom(4 * KiB) for _ in range(2 * args.ops)]
    await each(
        "blob upload: POST, then PUT ?digest=",
        lambda i: upload_blob(reg, repo, sha256_digest(fresh[i]), fresh[i]),
    )
    await each(
        "blob upload: POST ?digest= (one request)",
        lambda i: reg.request(
            "POST",
            with_query(f"/v2/{repo}/blobs/uploads/", digest=sha256_digest(fresh[args.ops + i])),
            body=fresh[args.ops + i],
            headers={"Content-Type": "application/octet-stream"},
            expect=(201,),
        ),
    )
    retagged = [
        Image(f"again-{i}", img.blobs, img.manifest, img.digest) for i, img in enumerate(images)
    ]
    await each(
        "manifest PUT, new tag (blobs present)",
        lambda i: put_manifest(reg, repo, retagged[i].tag, retagged[i].manifest),
    )
    return out


def counting_front(holder: list[RoundTripCounter]) -> DatabaseFront:
    """The topology's way to PostgreSQL through a round-trip counter (kept in ``holder``)."""

    @contextlib.contextmanager
    def front(target: Address) -> Iterator[Address]:
        with RoundTripCounter(target) as counter:
            holder.append(counter)
            yield counter.host, counter.port

    return front


async def run_one(n: int, args: argparse.Namespace) -> Result:
    layer = parse_size(args.layer_size)
    holder: list[RoundTripCounter] = []
    options = Options(
        database="postgresql",
        storage=args.storage,
        names=tuple(chr(ord("a") + i) for i in range(n)),
        auth=args.auth,
        workers=args.replica_workers,
        check_interval_ms=1000,
        database_front=counting_front(holder),
    )
    print(f"starting {n} replica(s) ...", flush=True)
    with run_topology(options) as topo:
        user, password = ADMIN if args.auth else (None, None)
        async with Registry(
            topo.lb.url, user=user, password=password, connections=args.workers * 2
        ) as reg:
            bench = Bench(topo, holder[0], reg)
            result = Result(n)
            salt = f"{n}/{time.time_ns()}"
            repo = "library/bench" if args.auth else "bench/ha"
            # warm-up at full concurrency: every pool at its working size, every
            # statement prepared on every connection, caches filled
            warm = [make_image(f"{salt}/warm", i, layer) for i in range(2 * args.workers)]
            await run_workers(args.workers, len(warm), lambda i: push_image(reg, repo, warm[i]))
            await run_workers(args.workers, len(warm), lambda i: pull_image(reg, repo, warm[i]))
            await bench.measure_background()
            result.background_per_s = round(bench.background_per_s, 2)
            result.idle_cpu_per_s = {k: round(v, 4) for k, v in bench.idle_cpu_per_s.items()}
            images = [make_image(salt, i, layer) for i in range(args.images)]
            result.phases.append(
                await timed_phase(
                    bench, "push", images, args.workers, lambda img: push_image(reg, repo, img)
                )
            )
            result.phases.append(
                await timed_phase(
                    bench, "pull", images, args.workers, lambda img: pull_image(reg, repo, img)
                )
            )
            for phase in result.phases:
                print(
                    f"  {n} replica(s) {phase.name}: {phase.images_per_s:.1f} images/s, "
                    f"{phase.mb_per_s:.1f} MB/s, {phase.requests} requests in "
                    f"{phase.seconds:.2f} s, replicas "
                    f"{phase.cpu_ms_per_request('replicas'):.2f} ms CPU/request, "
                    f"{phase.round_trips / phase.images:.1f} round trips/image",
                    flush=True,
                )
            result.per_operation = await per_operation(bench, repo, args, salt)
    return result


COMPONENTS = ["replicas", "postgresql", "redis", "haproxy", "seaweedfs", "counter", "client"]


def table(results: list[Result]) -> str:
    head = ["", *(f"{r.replicas} replica(s)" for r in results)]
    rows: list[list[str]] = []
    for name in ("push", "pull"):
        phases = [next(p for p in r.phases if p.name == name) for r in results]
        rows.append([f"{name}: images/s", *(f"{p.images_per_s:,.1f}" for p in phases)])
        rows.append([f"{name}: MB/s", *(f"{p.mb_per_s:,.1f}" for p in phases)])
        rows.append([f"{name}: requests/s", *(f"{p.requests / p.seconds:,.0f}" for p in phases)])
        for component in COMPONENTS:
            if any(component in p.cpu for p in phases):
                rows.append(
                    [
                        f"{name}: CPU ms/request, {component}",
                        *(f"{p.cpu_ms_per_request(component):.3f}" for p in phases),
                    ]
                )
        rows.append(
            [f"{name}: DB round trips/image", *(f"{p.round_trips / p.images:.2f}" for p in phases)]
        )
        rows.append(
            [
                f"{name}: DB round trips/request",
                *(f"{p.round_trips / p.requests:.3f}" for p in phases),
            ]
        )
    for op in results[0].per_operation:
        rows.append(
            [f"one at a time: {op}", *(f"{r.per_operation.get(op, 0):.2f}" for r in results)]
        )
    rows.append(
        ["idle round trips/s (subtracted)", *(f"{r.background_per_s:.2f}" for r in results)]
    )
    for component in ("replicas", "postgresql"):
        rows.append(
            [
                f"idle CPU ms/s, {component} (subtracted)",
                *(f"{1000 * r.idle_cpu_per_s.get(component, 0.0):.1f}" for r in results),
            ]
        )
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def scaling(results: list[Result]) -> str:
    """What the per-request figures predict for a machine with a core per replica."""
    base = results[-1]
    lines = []
    for phase in base.phases:
        replica_s = phase.cpu.get("replicas", 0.0) / phase.images
        pg_s = phase.cpu.get("postgresql", 0.0) / phase.images
        per_core = 1 / replica_s if replica_s else float("inf")
        pg_bound = 1 / pg_s if pg_s else float("inf")
        lines.append(
            f"{phase.name}: one replica core sustains ~{per_core:,.0f} images/s "
            f"({1000 * replica_s:.1f} ms CPU/image); one PostgreSQL core ~{pg_bound:,.0f} "
            f"images/s ({1000 * pg_s:.2f} ms CPU/image, "
            f"{phase.round_trips / phase.images:.1f} round trips/image)"
        )
    return "\n".join(lines)


async def amain(args: argparse.Namespace) -> int:
    if args.smoke:
        args.images, args.layer_size, args.workers, args.ops = 12, "4KiB", 4, 3
    counts = [int(x) for x in args.replicas.split(",") if x.strip()]
    if not counts or min(counts) < 1 or max(counts) > 26:
        print("--replicas: counts between 1 and 26", file=sys.stderr)
        return 2
    started = dt.datetime.now(dt.UTC)
    results = [await run_one(n, args) for n in counts]
    print()
    print(
        f"HA bench: PostgreSQL + Redis + {args.storage} storage, replicas of "
        f"{args.replica_workers} worker(s) behind HAProxy, auth {'on' if args.auth else 'off'}; "
        f"{args.images} images of 2 x {args.layer_size}, {args.workers} clients"
    )
    print(table(results))
    print("\nScaling (from the last column):")
    print(scaling(results))
    doc = {
        "date": started.isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, "-m", "bench.ha", *sys.argv[1:]]),
        "machine": report.machine_info(),
        "load_average": os.getloadavg(),
        "args": vars(args),
        "results": [
            {
                "replicas": r.replicas,
                "background_round_trips_per_s": r.background_per_s,
                "idle_cpu_s_per_s": r.idle_cpu_per_s,
                "phases": [p.to_json() for p in r.phases],
                "round_trips_per_operation": r.per_operation,
            }
            for r in results
        ],
    }
    if args.json_path:
        data = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
        await asyncio.to_thread(Path(args.json_path).write_bytes, data)
        print(f"\nJSON written to {args.json_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import uvloop  # the client's own CPU is part of the machine's budget: spend little

        return uvloop.run(amain(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
