"""The write lease of an upload session: one request at a time may write to an upload,
across worker processes (the lease lives in the session's row)."""

from __future__ import annotations

import os
import time
import uuid

from wharf.registry.content.pins import PIN_SECONDS
from wharf.registry.metadata.base import MetadataStore, QuotaAsk, QuotaCheck, UploadSession
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

    async def claim(
        self, repo: str, upload_id: str, *, pin: str | None = None, quota: QuotaAsk | None = None
    ) -> tuple[UploadSession, bool, QuotaCheck | None]:
        """Take the lease of ``repo``'s upload and return its fresh state (the previous
        holder may have advanced the offset before releasing). With ``pin``, that digest
        is pinned for GC in the same transaction; the bool says whether it was (not while
        GC is deleting it: see ``pin_digest``). With ``quota``, its admission is taken too
        (sized the upload's offset plus ``quota.size``), and its verdict returned. Claim,
        read, pin and admission are one store call."""
        now = time.time()
        owner = f"{self._owner}:{uuid.uuid4().hex[:12]}"  # one lease per request
        pin_until = None if pin is None else (pin, now + PIN_SECONDS)
        until = now + LEASE_SECONDS
        got = await self.store.take_upload(
            upload_id, repo, owner, until, now, pin=pin_until, quota=quota
        )
        if got.session is None and got.holder is not None and holder_is_dead(got.holder):
            got = await self.store.take_upload(
                upload_id, repo, owner, until, now, replace=got.holder, pin=pin_until, quota=quota
            )
        if got.session is None:
            if not got.found:
                raise RegistryError(BLOB_UPLOAD_UNKNOWN, {"uuid": upload_id})
            raise RegistryError(
                BLOB_UPLOAD_INVALID,
                {"uuid": upload_id},
                message="another request is writing to this upload",
            )
        got.session.lease_owner = owner
        return got.session, got.pinned, got.quota

    async def renew(self, session: UploadSession) -> None:
        now = time.time()
        await self.store.claim_upload(session.id, session.lease_owner, now + LEASE_SECONDS, now)

    async def release(self, session: UploadSession, claimed_offset: int) -> None:
        """Save the session (offset, hash and driver state) and drop the lease; a no-op when
        the upload is gone or another writer took over an expired lease meanwhile."""
        session.updated = time.time()
        await self.store.release_upload(session, session.lease_owner, claimed_offset)
