"""Docker token scopes: ``type:name:actions`` where the name may hold ``host:port``."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TYPE_RE = re.compile(r"^[a-z0-9]+(?:\([a-z0-9]+\))?$")
_ACTION_RE = re.compile(r"^[a-z*]+$")


@dataclass(frozen=True, slots=True)
class Scope:
    type: str
    name: str
    actions: frozenset[str]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"

    def as_claim(self) -> dict[str, object]:
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}


def parse_scope(text: str) -> Scope | None:
    """One scope; None when it is malformed. The type is before the first colon, the
    actions after the last one; everything between is the name (it may contain ``:``)."""
    typ, sep, rest = text.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not name or not _TYPE_RE.match(typ):
        return None
    parsed = frozenset(a for a in actions.split(",") if a)
    if not parsed or not all(_ACTION_RE.match(a) for a in parsed):
        return None
    return Scope(typ.split("(", 1)[0], name, parsed)


def parse_scopes(values: list[str]) -> list[Scope]:
    """Every scope of repeated and/or space-separated parameters, merged by (type, name);
    malformed ones are dropped (an ungrantable scope is never an error)."""
    merged: dict[tuple[str, str], set[str]] = {}
    order: list[tuple[str, str]] = []
    for value in values:
        for part in value.split():
            scope = parse_scope(part)
            if scope is None:
                continue
            key = (scope.type, scope.name)
            if key not in merged:
                merged[key] = set()
                order.append(key)
            merged[key] |= scope.actions
    return [Scope(t, n, frozenset(merged[(t, n)])) for t, n in order]
