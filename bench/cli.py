"""Command line: start the registries (or take ``--url``), run the scenarios A B A B, report."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench import authcheck, ceilings, report, scenarios, servers
from bench.client import Registry, RegistryError, is_loopback_url
from bench.report import RoundResult, Run
from bench.scenarios import SCENARIOS, BigBlob, Ctx, Params


def parse_size(text: str) -> int:
    t = text.strip().lower().removesuffix("b").removesuffix("i")
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    if t and t[-1] in mult:
        return int(float(t[:-1]) * mult[t[-1]])
    return int(t)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark Wharf against the reference registry over the raw registry API.",
    )
    p.add_argument("--url", help="bench only this registry (no servers are started)")
    p.add_argument(
        "--baseline-url", help="with --url: a second registry to compare against (A B A B)"
    )
    p.add_argument(
        "--candidate",
        choices=["wharf", "reference"],
        default="wharf",
        help="server A when starting servers (use 'reference' while Wharf cannot serve yet)",
    )
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated list")
    p.add_argument("--size", default="1GiB", help="large blob size, e.g. 1GiB, 64MiB")
    p.add_argument("--chunk", default="16MiB", help="PATCH chunk size for push-chunked")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--json", dest="json_path", help="write results as JSON to this file")
    p.add_argument("--workdir", help="parent directory for temporary files and server data")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--no-ceilings", action="store_true", help="skip the machine ceilings")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, 1 round: check it runs")
    p.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="permit a registry URL / token realm that is not on 127.0.0.0/8 or ::1",
    )
    return p


@dataclass
class Target:
    name: str
    url: str
    pid: int | None
    argv: list[str] | None = None


async def run_one(
    target: Target,
    scenario: str,
    rnd: int,
    params: Params,
    blob: BigBlob | None,
    state: dict[str, Any],
    args: argparse.Namespace,
) -> RoundResult:
    conns = max(64, params.manifest_conns, params.mixed_workers, params.image_workers)
    with servers.RssSampler(target.pid) as sampler:
        try:
            async with Registry(
                target.url,
                user=args.user,
                password=args.password,
                connections=conns,
                allow_remote=args.allow_non_loopback,
            ) as reg:
                ctx = Ctx(reg, target.name, params, rnd, blob, state)
                res = await asyncio.wait_for(SCENARIOS[scenario](ctx), params.timeout)
            value: float | None = res.value
            seconds: float | None = res.seconds
            extra, unit, error = res.extra, res.unit, None
        except (
            RegistryError,
            OSError,
            TimeoutError,
            ValueError,
            KeyError,
            aiohttp.ClientError,
        ) as exc:
            value = seconds = None
            extra, unit = {}, ""
            error = f"{type(exc).__name__}: {exc}"[:300]
            if os.environ.get("BENCH_DEBUG"):
                traceback.print_exc()
    rr = RoundResult(
        rnd,
        value,
        seconds,
        sampler.peak,
        round(sampler.cpu_used, 2),
        extra,
        error,
        peak_pss=sampler.peak_pss,
    )
    rr.extra.setdefault("unit", unit)
    return rr


def start_servers(args: argparse.Namespace, workdir: Path) -> list[tuple[Target, servers.Server]]:
    started: list[tuple[Target, servers.Server]] = []
    specs = [
        (
            "wharf" if args.candidate == "wharf" else "reference-A",
            servers.wharf_server if args.candidate == "wharf" else servers.reference_server,
        ),
        ("reference", servers.reference_server),
    ]
    try:
        for name, factory in specs:
            d = workdir / name
            d.mkdir()
            srv = factory(d)
            srv.name = name
            srv.start()
            print(f"started {name} (pid {srv.pid}) at {srv.url}: {shlex.join(srv.argv)}")
            started.append((Target(name, srv.url, srv.pid, srv.argv), srv))
    except servers.ServerStartError:
        for _, srv in started:
            srv.stop()
        raise
    return started


async def amain(args: argparse.Namespace) -> int:
    params = Params.smoke() if args.smoke else Params()
    if not args.smoke:
        params.size = parse_size(args.size)
        params.chunk = parse_size(args.chunk)
    rounds = 1 if args.smoke else args.rounds
    if rounds < 1:
        print("--rounds must be ≥ 1", file=sys.stderr)
        return 2
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    for u in (args.url, args.baseline_url):
        if u and not args.allow_non_loopback and not is_loopback_url(u):
            print(f"refusing non-loopback URL {u}", file=sys.stderr)
            return 2

    # Ctrl-C / SIGTERM cancel the run, so the finally below still stops the servers.
    main_task = asyncio.current_task()
    if main_task is not None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, main_task.cancel)

    if args.smoke:
        try:
            print(await authcheck.check_bearer(), flush=True)
        except AssertionError as exc:
            print(f"error: bearer auth self-check failed: {exc!r}", file=sys.stderr)
            return 1

    workdir = Path(tempfile.mkdtemp(prefix="wharf-bench-", dir=args.workdir))
    procs: list[servers.Server] = []
    targets: list[Target] = []
    blob: BigBlob | None = None
    started_at = dt.datetime.now(dt.UTC)
    try:
        if args.url:
            targets.append(Target("registry" if not args.baseline_url else "A", args.url, None))
            if args.baseline_url:
                targets.append(Target("B", args.baseline_url, None))
        else:
            try:
                for tgt, srv in start_servers(args, workdir):
                    targets.append(tgt)
                    procs.append(srv)
            except servers.ServerStartError as exc:
                print(f"error: {exc}", file=sys.stderr)
                if args.candidate == "wharf":
                    print(
                        "hint: while Wharf cannot serve yet, run with --candidate reference "
                        "to bench the reference registry against itself",
                        file=sys.stderr,
                    )
                return 3

        ceil: dict[str, float] = {}
        if not args.no_ceilings:
            total = 8 << 20 if args.smoke else 1 << 30
            print(f"measuring machine ceilings over {total:,} bytes ...", flush=True)
            ceil = await ceilings.measure_all(
                workdir, total, servers.free_port(), 500 if args.smoke else params.manifest_gets
            )
            print(report.ceilings_table(ceil), flush=True)

        if any(s in scenarios.NEEDS_BIG_BLOB for s in chosen):
            blob = BigBlob(workdir / "big.blob", params.size)
            secs = blob.write()
            print(f"wrote {params.size:,} byte blob file in {secs:.1f} s", flush=True)

        results: dict[str, dict[str, Run]] = {s: {t.name: Run() for t in targets} for s in chosen}
        states: dict[str, dict[str, Any]] = {t.name: {} for t in targets}
        for scen in chosen:
            for rnd in range(1, rounds + 1):
                for t in targets:
                    rr = await run_one(t, scen, rnd, params, blob, states[t.name], args)
                    run = results[scen][t.name]
                    run.unit = run.unit or str(rr.extra.get("unit", ""))
                    run.rounds.append(rr)
                    shown = (
                        f"{rr.value:,.1f} {run.unit} in {rr.seconds:.2f} s"
                        if rr.value is not None and rr.seconds is not None
                        else f"FAILED: {rr.error}"
                    )
                    rss = (
                        f", peak RSS {rr.peak_rss / (1 << 20):.0f} MiB"
                        f" (PSS {rr.peak_pss / (1 << 20):.0f} MiB)"
                        if t.pid
                        else ""
                    )
                    print(f"[{scen} r{rnd}] {t.name}: {shown}{rss}", flush=True)
                    for srv in procs:
                        if srv.proc is not None and srv.proc.poll() is not None:
                            print(f"error: {srv.name} died:\n{srv.log_tail()}", file=sys.stderr)
                            return 4

        names = [t.name for t in targets]
        print()
        print(f"Results ({rounds} round(s), medians; MB = 10^6 bytes):")
        print(report.table(results, names))
        if ceil:
            print("\nMachine ceilings (same run):")
            print(report.ceilings_table(ceil))

        doc = {
            "date": started_at.isoformat(timespec="seconds"),
            "duration_s": round((dt.datetime.now(dt.UTC) - started_at).total_seconds(), 1),
            "command": shlex.join([sys.executable, "-m", "bench", *sys.argv[1:]]),
            "machine": report.machine_info(),
            "targets": [asdict(t) for t in targets],
            "params": asdict(params),
            "rounds": rounds,
            "ceilings": ceil,
            "scenarios": {
                s: {
                    "target": scenarios.TARGETS.get(s),
                    "ratio": report.ratio(runs[names[0]], runs[names[1]])
                    if len(names) > 1
                    else None,
                    "results": {n: r.to_json() for n, r in runs.items()},
                }
                for s, runs in results.items()
            },
        }
        json_path = (
            Path(args.json_path)
            if args.json_path
            else (
                Path(tempfile.gettempdir()) / f"wharf-bench-{time.strftime('%Y%m%dT%H%M%S')}.json"
            )
        )
        json_path.write_bytes(report.to_json(doc))
        print(f"\nJSON written to {json_path}")
        failed = any(
            r.error for runs in results.values() for run in runs.values() for r in run.rounds
        )
        return 1 if failed else 0
    finally:
        for srv in procs:
            srv.stop()
        if blob is not None:
            blob.close()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import uvloop
    except ImportError:
        uvloop = None  # type: ignore[assignment]
    try:
        if uvloop is not None:
            return uvloop.run(amain(args))
        return asyncio.run(amain(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted", file=sys.stderr)
        return 130
