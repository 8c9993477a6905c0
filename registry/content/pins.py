"""The upload side of GC's online-safety protocol: before bytes are published at a digest
(an upload's commit, a manifest PUT), the digest is pinned in the metadata store so that
the collector neither claims it nor takes its bytes for an orphan. When the collector is
deleting that digest right now, the pin waits for the deletion to finish (the bytes are
then published again), so a blob row never outlives its bytes."""

from __future__ import annotations

import asyncio
import time

from wharf.registry.metadata.base import MetadataStore
from wharf.registry.oci.errors import UNAVAILABLE, RegistryError

# How long a pin protects a digest: longer than any commit takes (an S3 copy of a large
# blob); a recorded blob is protected by its last_seen and the grace window afterwards.
PIN_SECONDS = 900.0
PIN_WAIT = 60.0  # a deletion batch takes well under this


async def pin_digest(store: MetadataStore, digest: str) -> None:
    deadline = time.monotonic() + PIN_WAIT
    delay = 0.02
    while True:
        now = time.time()
        if await store.pin_blob(digest, now + PIN_SECONDS, now):
            return
        if time.monotonic() > deadline:
            raise RegistryError(
                UNAVAILABLE, {"digest": digest}, message="the blob is being garbage-collected"
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)
