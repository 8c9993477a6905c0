"""Throwaway services for tests and benchmarks: PostgreSQL, Redis, SeaweedFS S3, network
namespaces, a PostgreSQL round-trip counter, and the HA topology (replicas of `wharf serve`
behind HAProxy). Shared by ``tests/`` and ``bench/`` (neither imports the other); not part
of the installed ``wharf`` package, and free of pytest."""

__all__: list[str] = []
