from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import Client, Server, run_wharf


@pytest.fixture(scope="session")
def wharf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One Wharf server (2 workers, so requests land on different processes) per session."""
    data: Path = tmp_path_factory.mktemp("wharf") / "data"
    with run_wharf(data, workers=2) as server:
        yield server
    # whatever the tests threw at it, the server never failed on its own account
    assert '"level":"error"' not in server.log(), server.log()[-5000:]


@pytest.fixture
def client(wharf: Server) -> Client:
    return Client(wharf.url)
