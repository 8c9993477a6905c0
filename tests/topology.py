"""The HA topology as a pytest fixture (the topology itself: ``testbed.topology``).

``topology`` is module-scoped and parametrized by variant:

- ``sqlite``: three replicas on one SQLite file, NFS-safe shared storage directory;
- ``postgresql``: the same on PostgreSQL;
- ``postgresql-s3``: PostgreSQL with the blobs on S3 (SeaweedFS). Tests that prove
  something about S3 ask for it with ``@on_s3_too``; the others run on the first two.

In the first two the last replica, ``c``, is isolated to be cut off alone: in a network
namespace of its own where ``ip netns`` works (root), else behind a TCP link stand-in.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from testbed.netns import netns_unavailable
from testbed.topology import (
    ADMIN,
    HAPROXY,
    Options,
    Replica,
    Topology,
    run_topology,
)

__all__ = [
    "ADMIN",
    "FILESYSTEM_VARIANTS",
    "Replica",
    "Topology",
    "on_s3_too",
    "postgresql_only",
    "topology",
]

FILESYSTEM_VARIANTS = ["sqlite", "postgresql"]
S3_VARIANT = "postgresql-s3"

needs_haproxy = pytest.mark.skipif(
    not os.path.exists(HAPROXY), reason="haproxy is not installed (bash tests/system-deps.sh)"
)
# a test that also runs on PostgreSQL + S3 (the S3 topology is started once for all of them)
on_s3_too = pytest.mark.parametrize("topology", [*FILESYSTEM_VARIANTS, S3_VARIANT], indirect=True)
# a test about PostgreSQL itself (restarting it): the SQLite topology has nothing to show
postgresql_only = pytest.mark.parametrize("topology", ["postgresql"], indirect=True)


def options(variant: str) -> Options:
    if variant == S3_VARIANT:
        return Options(database="postgresql", storage="s3")
    isolate = "link" if netns_unavailable() else "netns"
    return Options(database="sqlite" if variant == "sqlite" else "postgresql", isolate=isolate)


@pytest.fixture(scope="module", params=FILESYSTEM_VARIANTS)
def topology(request: pytest.FixtureRequest) -> Iterator[Topology]:
    with run_topology(options(request.param)) as topo:
        yield topo
        logs = {replica.name: replica.log() for replica in topo.replicas}
    # whatever the tests threw at them, no replica failed on its own account
    for name, log in logs.items():
        errors = [line[:3000] for line in log.splitlines() if '"level":"error"' in line]
        assert not errors, (name, errors)
