from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import Client, Server, run_wharf
from .inproc import ADMIN, InProcessServer, serve_in_process
from .services import Postgres, run_postgres


@pytest.fixture(scope="session")
def wharf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One Wharf server (2 workers, so requests land on different processes) per session,
    for the tests whose point is processes."""
    data: Path = tmp_path_factory.mktemp("wharf") / "data"
    with run_wharf(data, workers=2) as server:
        yield server
    # whatever the tests threw at it, the server never failed on its own account
    assert '"level":"error"' not in server.log(), server.log()[-5000:]


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """The application in this process (access control off) over its own data directory,
    one per session: for tests of HTTP behaviour."""
    with serve_in_process(tmp_path_factory.mktemp("app") / "data") as server:
        yield server
    # whatever the tests threw at it, the app never logged an error of its own
    assert not server.errors, server.error_log()


@pytest.fixture
def client(app: InProcessServer) -> Client:
    """A raw-HTTP client of the in-process `app`."""
    return Client(app.url)


@pytest.fixture(scope="session")
def app_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """The in-process application with access control on (system admin: inproc.ADMIN)."""
    data = tmp_path_factory.mktemp("app-auth") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as server:
        yield server
    assert not server.errors, server.error_log()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One throwaway PostgreSQL per session (tests.services); tests make their own databases."""
    with run_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_contracts(postgres: Postgres) -> str:
    """A migrated database the contract suites share, emptied before each test
    (``tests.contracts.backends``): truncation is ~10x cheaper than a database per test."""
    from wharf.registry.wiring import postgres_database

    postgres.create_database("contracts")

    async def migrate() -> None:
        database = postgres_database(postgres.dsn("contracts"), pool_min=1, pool_max=1)
        await database.open()
        await database.close()

    asyncio.run(migrate())
    return "contracts"
