"""One runner for every package's schema migrations.

Each package (``wharf.registry.metadata``, ``wharf.auth``, ...) owns a ``Schema``: its
migrations, numbered from 1 within the package. The runner applies the ones not yet
recorded in ``schema_versions`` (package, version), in the order the schemas are given,
all in one BEGIN IMMEDIATE transaction so that several processes opening the same file
at once apply each migration exactly once. A database carrying a migration newer than the
code knows is refused (``SchemaTooNew``): an older Wharf never runs on a newer schema.
``wharf.db.postgres`` runs the same schemas on PostgreSQL, under an advisory lock.

Databases from before the split recorded a single sequence in ``schema_migrations``
(1: registry tables, 2: auth tables); ``Schema.legacy`` maps those numbers to the
package's own, so such a file is recognised instead of migrated again. The old table is
left in place: it is what a not yet upgraded process would look at.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    statements: tuple[str, ...]  # SQL both SQLite and PostgreSQL accept
    # where the dialects can't share a statement (SQLite rebuilds a table to relax a
    # column, PostgreSQL alters it in place): run these on PostgreSQL instead
    postgres: tuple[str, ...] | None = None

    def for_postgres(self) -> tuple[str, ...]:
        return self.statements if self.postgres is None else self.postgres


@dataclass(frozen=True, slots=True)
class Schema:
    """The migrations of one package. Never edit a released migration: add a new one."""

    package: str
    migrations: tuple[Migration, ...]
    # version in the pre-split ``schema_migrations`` table → version of this package
    legacy: Mapping[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        versions = [m.version for m in self.migrations]
        if versions != list(range(1, len(versions) + 1)):
            raise ValueError(f"{self.package}: migrations must be numbered 1, 2, 3, ...")


class SchemaTooNew(RuntimeError):
    """The database holds migrations of a known package that this code doesn't have: a
    newer Wharf migrated it. Nothing was changed."""

    def __init__(self, newer: Sequence[tuple[str, int]]) -> None:
        listed = ", ".join(f"{package} {version}" for package, version in newer)
        super().__init__(
            f"the database schema is newer than this Wharf knows (it has migration {listed}); "
            "run a Wharf at least as new as the one that migrated it"
        )
        self.newer = list(newer)


def newer_than_known(
    schemas: Sequence[Schema], recorded: Iterable[tuple[str, int]]
) -> list[tuple[str, int]]:
    """The recorded (package, version) pairs beyond the last migration ``schemas`` know
    (packages not in ``schemas`` are someone else's business)."""
    known = {schema.package: len(schema.migrations) for schema in schemas}
    return sorted((p, v) for p, v in recorded if p in known and v > known[p])


def _identity(statement: str) -> str:
    return statement


def migrate(
    db: sqlite3.Connection,
    schemas: Sequence[Schema],
    translate: Callable[[str], str] = _identity,
    *,
    allow_newer: bool = False,
) -> list[tuple[str, int]]:
    """Bring ``db`` (an autocommit connection) up to date; the (package, version) pairs
    applied now. ``translate`` adapts a statement to the dialect (e.g. BYTEA → BLOB).
    A schema newer than ``schemas`` raises ``SchemaTooNew`` unless ``allow_newer``."""
    applied: list[tuple[str, int]] = []
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions (package TEXT NOT NULL, "
            "version INTEGER NOT NULL, applied DOUBLE PRECISION NOT NULL, "
            "PRIMARY KEY (package, version))"
        )
        _adopt_legacy(db, schemas)
        newer = newer_than_known(
            schemas, db.execute("SELECT package, version FROM schema_versions")
        )
        if newer:
            raise SchemaTooNew(newer)
        for schema in schemas:
            done = {
                v
                for (v,) in db.execute(
                    "SELECT version FROM schema_versions WHERE package = ?", (schema.package,)
                )
            }
            for migration in schema.migrations:
                if migration.version in done:
                    continue
                for statement in migration.statements:
                    db.execute(translate(statement))
                _record(db, schema.package, migration.version)
                applied.append((schema.package, migration.version))
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return applied


def _adopt_legacy(db: sqlite3.Connection, schemas: Sequence[Schema]) -> None:
    """Record, per package, what the pre-split ``schema_migrations`` table says is done."""
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if found is None:
        return
    old = {v for (v,) in db.execute("SELECT version FROM schema_migrations")}
    for schema in schemas:
        for old_version, version in schema.legacy.items():
            if old_version in old:
                _record(db, schema.package, version)


def _record(db: sqlite3.Connection, package: str, version: int) -> None:
    db.execute(
        "INSERT INTO schema_versions (package, version, applied) VALUES (?, ?, ?) "
        "ON CONFLICT (package, version) DO NOTHING",
        (package, version, time.time()),
    )
