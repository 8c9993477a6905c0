from __future__ import annotations

from pathlib import Path

import pytest

from tests.contracts.backends import BACKENDS, FACTORIES, Backend


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return FACTORIES[request.param](request, tmp_path)
