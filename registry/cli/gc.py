"""``wharf gc``: one garbage-collection run against the database and storage the same
configuration as ``wharf serve`` points at, while the registry keeps serving."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from typing import Any

from wharf.gc import GCBusy, Options, Report, collect
from wharf.gc.collector import DELETE_CONCURRENCY, MAX_WORKERS
from wharf.gc.progress import Progress
from wharf.registry.audit import AuditSubscriber
from wharf.registry.config import Settings, load_settings
from wharf.registry.events import EventBus
from wharf.registry.logs import setup_logging
from wharf.registry.wiring import (
    make_auth,
    make_coordination,
    make_database,
    make_driver,
    make_store,
)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

EXIT_BUSY = 3  # another run holds the lock
EXIT_FAILED = 1
EXIT_STOPPED = 130


def workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{text!r}: a number from 1 to {MAX_WORKERS}")
    return int(text)


def duration(text: str) -> float:
    """``90s``, ``30m``, ``1h``, ``7d``, ``0`` → seconds."""
    found = _DURATION.match(text.strip())
    if found is None:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration like 90s, 30m, 1h or 7d")
    return float(found.group(1)) * _UNITS[found.group(2)]


async def _gc(settings: Settings, options: Options, as_json: bool) -> int:
    database = make_database(settings)
    await database.open()
    store = make_store(settings, database)
    driver = make_driver(settings)
    await store.open()
    await driver.start()
    # the serving replicas' caches must forget what this run deletes: the same counters
    # (the host's shared file, or Redis) they validate their lookups against
    coordination = make_coordination(settings)
    await coordination.start()
    generations = coordination.generations
    events = EventBus()
    auth = make_auth(settings, database) if settings.auth.enabled else None
    if auth is not None:
        await auth.store.open()
        events.subscribe(AuditSubscriber(auth))
    try:
        report = await collect(
            store,
            driver,
            generations,
            options,
            events=events,
            progress=Progress(),
            handle_signals=True,
        )
    except GCBusy as exc:
        print(f"wharf gc: {exc}", file=sys.stderr)
        return EXIT_BUSY
    finally:
        if auth is not None:
            await auth.flush_audit()
            await auth.store.close()
        await coordination.close()
        await driver.close()
        await store.close()
        await database.close()
    print(report.to_json() if as_json else report.text(), flush=True)
    return exit_status(report)


def exit_status(report: Report) -> int:
    """0 done, 130 stopped (a signal or a stop request: rerun to finish), 1 failed — a
    run that lost the lock to another one included — with the reason on stderr."""
    if report.status == "Success":
        return 0
    if report.status == "Stopped":
        return EXIT_STOPPED
    print(f"wharf gc: {report.message}", file=sys.stderr, flush=True)
    return EXIT_FAILED


def _cmd_gc(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.data is not None:
        overrides["data_dir"] = args.data
    settings = load_settings(args.config or os.environ.get("WHARF_CONFIG"), overrides)
    setup_logging(settings.log.level)
    options = Options(
        grace=args.grace,
        upload_ttl=args.upload_ttl,
        delete_untagged=args.delete_untagged,
        project=args.project,
        dry_run=args.dry_run,
        workers=args.workers,
    )
    return asyncio.run(_gc(settings, options, args.json))


def add_gc_parser(sub: Any) -> None:
    gc = sub.add_parser(
        "gc",
        help="collect garbage (unreferenced blobs, stale uploads) while the registry serves",
    )
    gc.add_argument("--config", help="YAML config file (default: $WHARF_CONFIG)")
    gc.add_argument("--data", help="data directory (default ./data)")
    gc.add_argument(
        "--grace",
        type=duration,
        default=3600.0,
        help="keep what was seen within this window (default 1h)",
    )
    gc.add_argument(
        "--upload-ttl",
        type=duration,
        default=86400.0,
        help="purge upload sessions idle this long (default 24h)",
    )
    gc.add_argument(
        "--delete-untagged",
        action="store_true",
        help="also delete manifests no tag, index or subject reaches",
    )
    gc.add_argument("--project", help="only this project's repositories")
    gc.add_argument(
        "--dry-run",
        action="store_true",
        help="report what would go; writes nothing (no lock, no marks, no run record)",
    )
    gc.add_argument(
        "--workers",
        type=workers,
        default=DELETE_CONCURRENCY,
        help=f"object deletions in flight, 1-{MAX_WORKERS} (default {DELETE_CONCURRENCY})",
    )
    gc.add_argument("--json", action="store_true", help="print the report as JSON")
    gc.set_defaults(func=_cmd_gc)
