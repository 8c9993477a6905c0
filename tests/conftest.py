from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import Client, Server, run_wharf
from .inproc import ADMIN, InProcessServer, serve_in_process
from .services import Postgres, run_postgres

# ------------------------------------------------------------------ running on two workers
# `make test` runs the suite on two xdist workers with `--dist loadgroup`, which this file
# turns into: every test file is one work unit (its module fixtures start once), except the
# files in _SHARED_GROUPS, which share something of the machine's and go to one worker
# together. The long, mostly waiting units are handed out first (_LONG_FIRST), so that the
# other worker works through the many short files meanwhile instead of one long unit
# finishing alone at the end. (xdist's own xdist_group marks don't work on pytest 9: xdist
# renames node ids through an attribute pytest no longer reads.) A run without xdist
# (`pytest tests/test_x.py`) is untouched.
_SHARED_GROUPS = {
    # one private dockerd, one e2e server, podman's storage
    "tests/e2e/": "e2e",
    # network namespaces: each picks a free subnet of the host's
    "tests/test_netns.py": "netns",
    "tests/test_ha.py": "netns",
    # the throwaway OpenID provider runs `npm ci` in tests/oidc on first use
    "tests/test_oidc.py": "oidc",
    "tests/test_login_latency.py": "oidc",
}
_LONG_FIRST = [  # longest first (`--durations`), so that the two workers end close together
    "netns",
    "tests/test_ui_browser.py",
    "e2e",
    "tests/test_storage_drivers.py",
    "tests/test_migrate.py",
    "tests/test_memory.py",
]


def _group(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    for prefix, group in _SHARED_GROUPS.items():
        if path.startswith(prefix):
            return group
    return path


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class FileGroups(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    # units go out in the order the workers collected them (pytest_collection_modifyitems)
    config.option.loadscopereorder = False
    return FileGroups(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # on a worker xdist has set dist to "no" and loadgroup to whether the run is --dist loadgroup
    if not hasattr(config, "workerinput") or not getattr(config.option, "loadgroup", False):
        return

    def rank(item: pytest.Item) -> int:
        group = _group(item.nodeid)
        return _LONG_FIRST.index(group) if group in _LONG_FIRST else len(_LONG_FIRST)

    items.sort(key=rank)  # stable: the order within a unit stays


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
