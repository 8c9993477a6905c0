"""How the core asks the policy gate: a refusal becomes the OCI error each surface renders."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from wharf.registry.content.pins import PIN_SECONDS
from wharf.registry.metadata.base import MetadataStore
from wharf.registry.oci.errors import DENIED, UNSUPPORTED, RegistryError
from wharf.registry.policy.gate import Change, PolicyGate, PolicyRefused, Refusal, UploadCommit

log = logging.getLogger("wharf.content")


async def ask(gate: PolicyGate, change: Change) -> None:
    try:
        await gate.check(change)
    except PolicyRefused as refused:
        error = DENIED if refused.refusal is Refusal.FORBIDDEN else UNSUPPORTED
        raise RegistryError(error, message=refused.message) from None


async def abandon(gate: PolicyGate, change: Change) -> None:
    """Tell the gate an allowed change did not happen. Called while another error is on
    its way to the client: a failure here (the database just went away) is logged, not
    raised — what the gate set aside then expires by itself."""
    try:
        await gate.abandon(change)
    except Exception as exc:
        log.warning("could not release what the policy gate set aside", extra={"error": str(exc)})


async def admit(
    gate: PolicyGate, store: MetadataStore, commit: UploadCommit
) -> tuple[UploadCommit, bool]:
    """Ask the gate about an upload commit and pin its digest for GC, in one write when a
    rule has one to take (the quota's reservation rides on the pin). Returns the change
    as allowed (what to ``abandon`` if the commit does not happen) and whether the digest
    is pinned; when not, the caller pins it with ``pin_digest`` (a rule had nothing to
    write, or GC is deleting the digest right now)."""
    wanted = await gate.reservation(commit)
    if wanted is None:
        await ask(gate, commit)
        return commit, False
    now = time.time()
    got = await store.pin_and_reserve(commit.digest, now + PIN_SECONDS, now, wanted)
    return await judged(gate, replace(commit, admitted=got.quota)), got.pinned


async def judged(gate: PolicyGate, commit: UploadCommit) -> UploadCommit:
    """Ask the gate about a commit whose reservation the store has taken already: when
    the gate refuses, that reservation is released before the refusal goes on."""
    try:
        await ask(gate, commit)
    except BaseException:
        await abandon(gate, commit)
        raise
    return commit
