"""Harbor's rule documents (immutable-tag rules, retention rules: one shape, two models
so each keeps its name in the API description) to and from the policy layer's ``Rule``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from wharf.registry.policy.models import Rule, Selector


class SentSelector(Protocol):
    @property
    def kind(self) -> str | None: ...
    @property
    def decoration(self) -> str | None: ...
    @property
    def pattern(self) -> str | None: ...
    @property
    def extras(self) -> str | None: ...


class SentRule(Protocol):
    @property
    def priority(self) -> int | None: ...
    @property
    def disabled(self) -> bool | None: ...
    @property
    def action(self) -> str | None: ...
    @property
    def template(self) -> str | None: ...
    @property
    def params(self) -> Mapping[str, Any] | None: ...
    @property
    def tag_selectors(self) -> Sequence[SentSelector] | None: ...
    @property
    def scope_selectors(self) -> Mapping[str, Sequence[SentSelector]] | None: ...


def selector_of(sent: SentSelector) -> Selector:
    return Selector(sent.kind or "", sent.decoration or "", sent.pattern or "", sent.extras or "")


def rule_of(sent: SentRule, rule_id: int, *, template: str, action: str) -> Rule:
    """The rule as sent, ``template`` and ``action`` standing in for what it left out."""
    return Rule(
        template=sent.template or template,
        tag_selectors=tuple(selector_of(s) for s in sent.tag_selectors or ()),
        scope_selectors={
            k: tuple(selector_of(s) for s in v) for k, v in (sent.scope_selectors or {}).items()
        },
        action=sent.action or action,
        params=dict(sent.params or {}),
        priority=sent.priority or 0,
        disabled=bool(sent.disabled),
        id=rule_id,
    )


def selector_fields(selector: Selector) -> dict[str, str]:
    """A selector's fields as Harbor's documents name them."""
    return {
        "kind": selector.kind,
        "decoration": selector.decoration,
        "pattern": selector.pattern,
        "extras": selector.extras,
    }
