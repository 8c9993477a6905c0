"""Throwaway services for integration tests (``testbed``: PostgreSQL, Redis), with the
pytest markers that skip what can't run here.

PostgreSQL (Debian's ``postgresql-15``)::

    with run_postgres() as pg:
        pg.url                       # postgresql://postgres@127.0.0.1:PORT/postgres
        pg.create_database("t1")     # → its URL
        pg.wharf_env("t1")           # WHARF_DATABASE__URL for run_wharf(env=…)

Redis: `start_redis(directory)` runs a private `redis-server` (unix socket only, no
persistence) in the foreground as our child; `stop_redis` kills it (SIGKILL by default, as a
crash would) and `restart_redis` starts it again on the same socket.
"""

from __future__ import annotations

import pytest

from testbed.postgres import PG_BIN, Postgres, as_postgres, postgres_available, run_postgres
from testbed.redis import REDIS_SERVER, RedisServer, restart_redis, start_redis, stop_redis

__all__ = [
    "PG_BIN",
    "REDIS_SERVER",
    "Postgres",
    "RedisServer",
    "as_postgres",
    "needs_redis",
    "postgres_available",
    "restart_redis",
    "run_postgres",
    "start_redis",
    "stop_redis",
]

needs_redis = pytest.mark.skipif(
    REDIS_SERVER is None, reason="redis-server is not installed (make system-deps)"
)
