"""``wharf migrate``: bring the database schema up to date explicitly.

Migrations are additive (new tables, columns, indexes; never a change an older Wharf
would trip over), so this is safe while replicas of the previous version still serve;
upgrade the replicas afterwards. On PostgreSQL the runner holds an advisory lock: a second
``wharf migrate`` (or a replica starting) meanwhile says it waits, then waits, then finds
nothing left to do. A database migrated by a newer Wharf is refused (exit status 2).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from wharf.db.migrate import SchemaTooNew
from wharf.db.postgres import PostgresDatabase, redact
from wharf.registry.config import Settings, load_settings
from wharf.registry.wiring import make_database


async def migrate(settings: Settings) -> int:
    database = make_database(settings)
    where = redact(settings.database_url)
    if not isinstance(database, PostgresDatabase):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    await database.open(migrate=False)
    try:
        if isinstance(database, PostgresDatabase):

            def waiting() -> None:
                print(
                    "wharf migrate: another migration holds the lock; waiting for it",
                    file=sys.stderr,
                    flush=True,
                )

            applied = await database.migrate(on_wait=waiting)
        else:
            applied = await database.migrate()
    except SchemaTooNew as exc:
        print(f"wharf migrate: {exc}", file=sys.stderr)
        return 2
    finally:
        await database.close()
    if applied:
        done = ", ".join(f"{package} {version}" for package, version in applied)
        print(f"applied migrations to {where}: {done}")
    else:
        print(f"{where}: schema up to date")
    return 0


def _cmd_migrate(args: argparse.Namespace) -> int:
    overrides = {} if args.data is None else {"data_dir": args.data}
    settings = load_settings(args.config or os.environ.get("WHARF_CONFIG"), overrides)
    return asyncio.run(migrate(settings))


def add_migrate_parser(sub: Any) -> None:
    parser = sub.add_parser("migrate", help="apply database migrations (safe while serving)")
    parser.add_argument("--config", help="YAML config file (default: $WHARF_CONFIG)")
    parser.add_argument("--data", help="data directory (default ./data; SQLite lives there)")
    parser.set_defaults(func=_cmd_migrate)
