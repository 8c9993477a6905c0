"""How the core asks the policy gate: a refusal becomes the OCI error each surface renders."""

from __future__ import annotations

from wharf.registry.oci.errors import DENIED, UNSUPPORTED, RegistryError
from wharf.registry.policy.gate import Change, PolicyGate, PolicyRefused, Refusal


async def ask(gate: PolicyGate, change: Change) -> None:
    try:
        await gate.check(change)
    except PolicyRefused as refused:
        error = DENIED if refused.refusal is Refusal.FORBIDDEN else UNSUPPORTED
        raise RegistryError(error, message=refused.message) from None
