"""The write lease of an upload session: one request at a time may write to an upload,
across worker processes (the lease lives in the session's row)."""

from __future__ import annotations

import os
import time
import uuid

from wharf.registry.metadata.base import MetadataStore, UploadSession
from wharf.registry.oci.errors import BLOB_UPLOAD_INVALID, BLOB_UPLOAD_UNKNOWN, RegistryError

LEASE_SECONDS = 180.0


def holder_is_dead(holder: str) -> bool:
    """A lease holder on this host whose process is gone (a killed worker or server): its
    lease need not be waited out. Holders on other hosts are trusted until expiry."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != os.uname().nodename or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # another request of this process: alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Leases:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        # lease owners read "host:pid:…" so a dead holder on this host can be recognised
        self._owner = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def claim(self, upload_id: str) -> UploadSession:
        """Take the lease of an existing upload and return its fresh state."""
        now = time.time()
        owner = f"{self._owner}:{uuid.uuid4().hex[:12]}"  # one lease per request
        claimed = await self.store.claim_upload(upload_id, owner, now + LEASE_SECONDS, now)
        if not claimed:
            holder = await self.store.upload_lease_owner(upload_id)
            if holder is not None and holder_is_dead(holder):
                claimed = await self.store.claim_upload(
                    upload_id, owner, now + LEASE_SECONDS, now, replace=holder
                )
        if not claimed:
            raise RegistryError(
                BLOB_UPLOAD_INVALID,
                {"uuid": upload_id},
                message="another request is writing to this upload",
            )
        # re-read: the previous holder may have advanced the offset before releasing
        fresh = await self.store.get_upload(upload_id)
        if fresh is None:
            raise RegistryError(BLOB_UPLOAD_UNKNOWN, {"uuid": upload_id})
        fresh.lease_owner = owner
        return fresh

    async def renew(self, session: UploadSession) -> None:
        now = time.time()
        await self.store.claim_upload(session.id, session.lease_owner, now + LEASE_SECONDS, now)

    async def release(self, session: UploadSession, claimed_offset: int) -> None:
        """Save the session (offset, hash and driver state) and drop the lease; a no-op when
        the upload is gone or another writer took over an expired lease meanwhile."""
        session.updated = time.time()
        await self.store.release_upload(session, session.lease_owner, claimed_offset)
