"""/readyz for load balancers, and failing fast when the database is gone: a request
answers 503 with the API's own error body within seconds instead of hanging, and the
registry recovers on its own when the database is back."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from wharf.db.errors import DatabaseUnavailable
from wharf.db.postgres import PostgresDatabase
from wharf.db.sqlite import SQLiteDatabase
from wharf.registry.config import load_settings
from wharf.registry.wiring import SCHEMAS, make_database

from .helpers import Client
from .inproc import ADMIN, serve_in_process
from .services import needs_redis, restart_redis, run_postgres, start_redis
from .services import stop_redis as kill_redis

T = TypeVar("T")


def test_readyz_names_each_check_and_healthz_stays_alive(tmp_path: Path) -> None:
    with serve_in_process(tmp_path / "data") as app:
        r = requests.get(f"{app.url}/readyz", timeout=10)
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ok", "checks": {"database": "ok", "storage": "ok"}}
        # the blob store lost (an NFS mount gone): not ready, saying why; still alive
        shutil.rmtree(app.data_dir / "storage" / "blobs")
        r = requests.get(f"{app.url}/readyz", timeout=10)
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "unavailable"
        assert body["checks"] == {"database": "ok", "storage": "failed"}
        assert "blobs/ is missing" in body["failed"]["storage"]
        assert requests.get(f"{app.url}/healthz", timeout=10).status_code == 200


class _FlakyDatabase(SQLiteDatabase):
    """A SQLite database that can be switched off, as a PostgreSQL server going away
    looks to the stores (every statement raises DatabaseUnavailable)."""

    down = False

    async def read(self, fn: Any, *, snapshot: bool = False) -> Any:
        self._check()
        return await super().read(fn, snapshot=snapshot)

    async def write(self, fn: Any) -> Any:
        self._check()
        return await super().write(fn)

    async def write_raw(self, fn: Any) -> Any:
        self._check()
        return await super().write_raw(fn)

    def _check(self) -> None:
        if _FlakyDatabase.down:
            raise DatabaseUnavailable("database postgresql://db/wharf unavailable: refused")


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def make(settings: Any) -> SQLiteDatabase:
        path = make_database(settings)
        assert isinstance(path, SQLiteDatabase)
        return _FlakyDatabase(path.path, schemas=SCHEMAS)

    monkeypatch.setattr("wharf.registry.http.app.make_database", make)
    _FlakyDatabase.down = False
    yield
    _FlakyDatabase.down = False


@pytest.mark.usefixtures("flaky")
def test_database_down_is_503_with_each_api_error_body(tmp_path: Path) -> None:
    with serve_in_process(tmp_path / "data", auth=True, admin_password=ADMIN[1]) as app:
        client = Client(app.url)
        client.http.auth = ADMIN
        assert client.request("GET", "/v2/library/x/tags/list").status_code == 404
        _FlakyDatabase.down = True
        r = client.request("GET", "/v2/library/x/tags/list")
        assert r.status_code == 503
        assert r.json()["errors"][0]["code"] == "UNAVAILABLE"
        assert r.headers["Retry-After"] == "1"
        assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        r = client.request("GET", "/api/v2.0/projects")
        assert (r.status_code, r.json()["errors"][0]["code"]) == (503, "UNAVAILABLE")
        r = client.request("GET", "/service/token", params={"service": app.settings.auth.service})
        assert (r.status_code, r.json()["errors"][0]["code"]) == (503, "UNAVAILABLE")
        r = client.request("GET", "/readyz")
        assert r.status_code == 503
        assert r.json()["checks"] == {"database": "failed", "storage": "ok"}
        _FlakyDatabase.down = False  # back: no restart needed
        assert client.request("GET", "/v2/library/x/tags/list").status_code == 404
        assert client.request("GET", "/readyz").status_code == 200
        # unavailability is the database's, logged as a warning: no error of ours
        assert not app.errors, app.error_log()


def test_timeouts_are_settings_passed_to_the_pool() -> None:
    settings = load_settings(
        environ={
            "WHARF_DATABASE__URL": "postgresql://wharf@db/wharf",
            "WHARF_DATABASE__ACQUIRE_TIMEOUT": "2",
            "WHARF_DATABASE__COMMAND_TIMEOUT": "3.5",
        }
    )
    database = make_database(settings)
    assert isinstance(database, PostgresDatabase)
    assert (database.acquire_timeout, database.command_timeout) == (2.0, 3.5)


@contextlib.contextmanager
def _blackhole() -> Iterator[int]:
    """A port whose connections are accepted by the kernel and never answered (a server
    or network path that hangs)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


def _timed(coro: Any) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        asyncio.run(coro)
    except BaseException as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


def test_a_hanging_database_fails_within_the_acquire_timeout() -> None:
    with _blackhole() as port:

        async def main() -> None:
            database = PostgresDatabase(
                f"postgresql://postgres@127.0.0.1:{port}/x", pool_min=0, acquire_timeout=1.0
            )
            await database.open(migrate=False)
            try:
                await database.read(lambda conn: conn.fetchval("SELECT 1"))
            finally:
                await database.close()

        error, took = _timed(main())
    assert isinstance(error, DatabaseUnavailable), error
    assert "TimeoutError" in str(error)
    assert took < 3, took


@pytest.mark.services
@pytest.mark.slow
def test_postgres_stopped_and_started_fails_fast_and_recovers() -> None:
    with run_postgres() as pg:

        async def main() -> list[tuple[str, float]]:
            database = PostgresDatabase(pg.url, pool_min=1, pool_max=2, acquire_timeout=2.0)
            await database.open(migrate=False)
            timeline: list[tuple[str, float]] = []
            try:
                assert await database.read(lambda c: c.fetchval("SELECT 1")) == 1
                await asyncio.to_thread(pg.stop)
                for _ in range(3):  # the pooled connection is dead, then refused
                    started = time.monotonic()
                    with pytest.raises(DatabaseUnavailable):
                        await database.read(lambda c: c.fetchval("SELECT 1"))
                    with pytest.raises(DatabaseUnavailable):
                        await database.write(lambda c: c.fetchval("SELECT 1"))
                    timeline.append(("down", time.monotonic() - started))
                await asyncio.to_thread(pg.start)
                started = time.monotonic()
                assert await database.read(lambda c: c.fetchval("SELECT 1")) == 1
                timeline.append(("back", time.monotonic() - started))
            finally:
                await database.close()
            return timeline

        timeline = asyncio.run(main())
    assert [what for what, _ in timeline] == ["down"] * 3 + ["back"]
    assert all(took < 3 for _, took in timeline), timeline


@needs_redis
@pytest.mark.services
def test_readyz_follows_redis(tmp_path: Path) -> None:
    redis = start_redis(tmp_path / "redis")
    try:
        environ = {"WHARF_REDIS__URL": f"unix://{redis.socket}"}
        with serve_in_process(tmp_path / "data", environ=environ) as app:
            url = f"{app.url}/readyz"
            ok = requests.get(url, timeout=10)
            assert ok.status_code == 200, ok.text
            assert ok.json()["checks"] == {"database": "ok", "storage": "ok", "redis": "ok"}
            kill_redis(redis)
            down = requests.get(url, timeout=10)
            assert down.status_code == 503
            assert down.json()["checks"]["redis"] == "failed"
            assert set(down.json()["failed"]) == {"redis"}
            restart_redis(redis)
            deadline = time.monotonic() + 10
            while requests.get(url, timeout=10).status_code != 200:
                assert time.monotonic() < deadline, "not ready again after Redis came back"
                time.sleep(0.1)
    finally:
        kill_redis(redis)


def test_audit_events_are_held_while_the_database_is_unavailable() -> None:
    from wharf.auth.audit import AuditLog
    from wharf.auth.models import AuditEvent
    from wharf.auth.options import AuthOptions

    class Store:
        down = True
        written: list[AuditEvent] = []

        async def add_events(self, events: list[AuditEvent]) -> None:
            if self.down:
                raise DatabaseUnavailable("database postgresql://db/wharf unavailable")
            self.written.extend(events)

    store = Store()
    audit = AuditLog(store, AuthOptions())  # type: ignore[arg-type]

    async def main() -> None:
        await audit.record(AuditEvent("admin", "create", "artifact", "library/a:1"))
        await audit.record(AuditEvent("admin", "pull", "artifact", "library/a:1"), batched=True)
        assert store.written == [] and len(audit.pending) == 2
        store.down = False
        await audit.flush()

    asyncio.run(main())
    assert [e.operation for e in store.written] == ["create", "pull"]
    assert audit.pending == []
