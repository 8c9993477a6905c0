"""Throwaway storage services for tests: a real S3 server (SeaweedFS ``weed mini``, from
``testbed.s3``) and its module-scoped pytest fixture.

    with run_seaweedfs(tmp_path) as s3:
        s3.url, s3.access_key, s3.secret_key, s3.bucket   # bucket already created
        s3.wharf_env()                                   # WHARF_STORAGE__* for run_wharf(env=…)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.s3 import WEED, S3Endpoint, free_ports, run_seaweedfs

__all__ = ["WEED", "S3Endpoint", "free_ports", "run_seaweedfs", "seaweed"]


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """A SeaweedFS S3 server for a test module: ``from tests.storage_services import
    seaweed`` in the module (one server per importing module)."""
    with run_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint
