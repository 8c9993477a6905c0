"""What a database backend raises when the database cannot be reached in time.

``DatabaseUnavailable`` is the one exception the HTTP layers render as 503 (an OCI
``UNAVAILABLE`` body on /v2, Harbor's ``UNAVAILABLE`` on /api/v2.0): the server is up, its
database is not (down, restarting, unreachable, or too slow to answer within the
configured timeouts). The request had no effect the client can rely on; it may retry.
"""

from __future__ import annotations


class DatabaseUnavailable(Exception):
    """The database did not answer (connection refused or lost, or a timeout)."""
