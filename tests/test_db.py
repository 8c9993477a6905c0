"""wharf.db: the per-process SQLite database object and the migration runner."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from wharf.auth.models import User
from wharf.auth.sqlite_store import SQLiteAuthStore
from wharf.db.migrate import Migration, Schema
from wharf.db.sqlite import SQLiteDatabase
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.wiring import SCHEMAS, sqlite_database

DATA = Path(__file__).parent / "fixtures"
# every migration this release has, of every package that keeps tables
EVERY_VERSION = {
    (schema.package, migration.version) for schema in SCHEMAS for migration in schema.migrations
}
NOTES = Schema(
    "notes", (Migration(1, ("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)",)),)
)


def versions(path: Path) -> set[tuple[str, int]]:
    with sqlite3.connect(path) as db:
        return {(p, v) for p, v in db.execute("SELECT package, version FROM schema_versions")}


def from_dump(path: Path, dump: str) -> None:
    """A database as the code before the migration split left it, with some rows in it."""
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript((DATA / dump).read_text())
    db.execute("INSERT INTO repositories (name, created) VALUES ('library/old', 1.0)")
    db.close()


# --- the migration runner -----------------------------------------------------------------
def test_database_migrated_before_the_split_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "wharf.db"
    from_dump(path, "schema-before-split-v2.sql")
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO users (username, password_hash, created, updated) "
            "VALUES ('old', 'h', 1, 1)"
        )

    async def main() -> None:
        database = sqlite_database(path)
        await database.open()  # would fail on "table already exists" if re-applied
        assert await database.migrate() == []
        meta, auth = SQLiteStore(database), SQLiteAuthStore(database)
        assert await meta.repo_exists("library/old")
        assert await auth.get_user("old") is not None
        await meta.add_blob("library/new", "sha256:" + "0" * 64, 1)
        await auth.create_user(User("new"))
        await database.close()

    asyncio.run(main())
    assert versions(path) == EVERY_VERSION
    with sqlite3.connect(path) as db:  # left for processes still running the old code
        assert {v for (v,) in db.execute("SELECT version FROM schema_migrations")} == {1, 2}


def test_database_from_before_the_auth_tables_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "wharf.db"
    from_dump(path, "schema-before-split-v1.sql")

    async def main() -> list[tuple[str, int]]:
        database = sqlite_database(path)
        await database.open()
        auth = SQLiteAuthStore(database)
        await auth.create_user(User("someone"))
        assert await SQLiteStore(database).repo_exists("library/old")
        await database.close()
        return await reopen(path)

    async def reopen(path: Path) -> list[tuple[str, int]]:
        database = sqlite_database(path)
        await database.open()
        try:
            return await database.migrate()
        finally:
            await database.close()

    assert asyncio.run(main()) == []  # nothing left to apply the second time
    assert versions(path) == EVERY_VERSION


def test_runner_applies_each_packages_migrations_in_order(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    more = Schema(
        "notes",
        (
            *NOTES.migrations,
            Migration(2, ("ALTER TABLE notes ADD COLUMN data BYTEA",)),  # BYTEA → BLOB
        ),
    )

    async def main() -> None:
        database = SQLiteDatabase(path, schemas=[NOTES])
        await database.open()
        await database.close()
        database = SQLiteDatabase(path, schemas=[more])
        await database.open()
        assert await database.migrate() == []
        await database.write(lambda db: db.execute("INSERT INTO notes VALUES (1, 't', x'00')"))
        await database.close()

    asyncio.run(main())
    assert versions(path) == {("notes", 1), ("notes", 2)}
    with pytest.raises(ValueError):
        Schema("bad", (Migration(2, ()),))


def _open_once(path: str) -> None:
    async def main() -> None:
        database = sqlite_database(path)
        await database.open()
        await database.close()

    asyncio.run(main())


def test_several_processes_migrating_at_once(tmp_path: Path) -> None:
    path = tmp_path / "wharf.db"
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_open_once, args=(str(path),)) for _ in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    assert versions(path) == EVERY_VERSION


# --- the database object ------------------------------------------------------------------
def test_write_is_one_transaction_rolled_back_on_error(tmp_path: Path) -> None:
    async def main() -> None:
        database = SQLiteDatabase(tmp_path / "x.db", schemas=[NOTES])
        await database.open()

        def half_done(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO notes (text) VALUES ('half')")
            raise LookupError("changed my mind")

        with pytest.raises(LookupError):
            await database.write(half_done)
        count = await database.read(lambda db: db.execute("SELECT COUNT(*) FROM notes").fetchone())
        assert count == (0,)
        with pytest.raises(sqlite3.OperationalError):  # readers are read-only
            await database.read(lambda db: db.execute("INSERT INTO notes (text) VALUES ('x')"))
        await database.close()

    asyncio.run(main())


LINKED = Schema(
    "linked",
    (
        Migration(
            1,
            (
                "CREATE TABLE parents (id INTEGER PRIMARY KEY)",
                "CREATE TABLE children (id INTEGER PRIMARY KEY, parent INTEGER "
                "REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)",
                "INSERT INTO parents (id) VALUES (1)",
            ),
        ),
    ),
)


async def queued_together(
    database: SQLiteDatabase, fns: list[Callable[[sqlite3.Connection], object]]
) -> tuple[list[object], list[str]]:
    """Run ``fns`` as writes queued while the writer thread is busy (so they are taken
    together); what each gave back (result or exception) and the statements the writer
    connection ran meanwhile."""
    gate = threading.Event()
    statements: list[str] = []

    def hold(db: sqlite3.Connection) -> None:
        db.set_trace_callback(statements.append)
        gate.wait(10)

    held = asyncio.create_task(database.write_raw(hold))
    await asyncio.sleep(0.05)  # the writer thread is inside ``hold``
    writes = [asyncio.create_task(database.write(fn)) for fn in fns]
    await asyncio.sleep(0)  # every write is queued
    gate.set()
    await held
    results = await asyncio.gather(*writes, return_exceptions=True)
    await database.write_raw(lambda db: db.set_trace_callback(None))
    return list(results), statements


def test_writes_queued_together_commit_together_each_all_or_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        database = SQLiteDatabase(tmp_path / "x.db", schemas=[NOTES])
        await database.open()

        def note(text: str) -> Callable[[sqlite3.Connection], object]:
            return lambda db: db.execute("INSERT INTO notes (text) VALUES (?)", (text,)).lastrowid

        def half_done(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO notes (text) VALUES ('half')")
            raise LookupError("changed my mind")

        def count(db: sqlite3.Connection) -> object:
            return db.execute("SELECT COUNT(*) FROM notes").fetchone()[0]

        results, statements = await queued_together(
            database, [note("a"), half_done, note("b"), count]
        )
        assert results[0] == 1 and results[2] == 2  # in submission order; "half" undone
        assert isinstance(results[1], LookupError)
        assert results[3] == 2  # a later write sees the earlier ones, not the rolled-back one
        assert statements.count("BEGIN IMMEDIATE") == 1  # one transaction for the four
        assert statements.count("COMMIT") == 1
        texts = await database.read(lambda db: db.execute("SELECT text FROM notes").fetchall())
        assert sorted(texts) == [("a",), ("b",)]
        await database.close()

    asyncio.run(main())


def test_group_that_fails_to_commit_runs_each_write_alone(tmp_path: Path) -> None:
    async def main() -> None:
        database = SQLiteDatabase(tmp_path / "x.db", schemas=[LINKED])
        await database.open()

        def child(child_id: int, parent: int) -> Callable[[sqlite3.Connection], object]:
            return lambda db: (
                db.execute(
                    "INSERT INTO children (id, parent) VALUES (?, ?)", (child_id, parent)
                ).rowcount
            )

        # the second one breaks a deferred foreign key: only COMMIT finds it
        results, statements = await queued_together(
            database, [child(1, 1), child(2, 9), child(3, 1)]
        )
        assert results[0] == 1 and results[2] == 1
        assert isinstance(results[1], sqlite3.IntegrityError)
        assert statements.count("BEGIN IMMEDIATE") == 4  # the group, then each alone
        rows = await database.read(lambda db: db.execute("SELECT id FROM children").fetchall())
        assert sorted(rows) == [(1,), (3,)]
        await database.close()

    asyncio.run(main())


def test_close_waits_for_queued_writes(tmp_path: Path) -> None:
    async def main() -> None:
        database = SQLiteDatabase(tmp_path / "x.db", schemas=[NOTES])
        await database.open()

        def note(text: str) -> Callable[[sqlite3.Connection], object]:
            return lambda db: db.execute("INSERT INTO notes (text) VALUES (?)", (text,))

        writes = [asyncio.create_task(database.write(note(str(i)))) for i in range(50)]
        await asyncio.sleep(0)  # every task has queued its write
        await database.close()
        assert not database.is_open
        await asyncio.gather(*writes)
        with pytest.raises(RuntimeError):
            await database.read(lambda db: None)

    asyncio.run(main())
    with sqlite3.connect(tmp_path / "x.db") as db:
        assert db.execute("SELECT COUNT(*) FROM notes").fetchone() == (50,)


def test_open_and_close_are_counted(tmp_path: Path) -> None:
    async def main() -> None:
        database = SQLiteDatabase(tmp_path / "x.db", schemas=[NOTES])
        meta = SQLiteStore(database)
        auth = SQLiteAuthStore(database)
        await asyncio.gather(meta.open(), auth.open())
        await auth.close()
        assert database.is_open  # the metadata store still uses it
        await meta.ping()
        await meta.close()
        assert not database.is_open
        await database.close()  # one close too many does nothing
        with pytest.raises(RuntimeError):
            await meta.ping()

    asyncio.run(main())
