"""wharf.gc — garbage collection: mark reachable manifests in the database, sweep what
nothing reaches (two-phase, online-safe), purge stale uploads, orphans and temp files.

``collect`` is the one entry point (the ``wharf gc`` command and the Harbor API's "run
now" both call it); it imports no HTTP layer."""

from wharf.gc.collector import Options, Report, collect
from wharf.gc.lock import GCBusy

__all__ = ["GCBusy", "Options", "Report", "collect"]
