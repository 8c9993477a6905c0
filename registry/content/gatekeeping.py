"""How the core asks the policy gate: a refusal becomes the OCI error each surface renders."""

from __future__ import annotations

import logging

from wharf.registry.oci.errors import DENIED, UNSUPPORTED, RegistryError
from wharf.registry.policy.gate import Change, PolicyGate, PolicyRefused, Refusal

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
