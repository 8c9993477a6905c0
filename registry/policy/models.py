"""What the policy tables hold: immutable tag rules and tag-retention policies (Harbor's
rule shape: a template, its parameters, tag selectors and repository scope selectors,
each a ``doublestar`` pattern with a decoration), executions and their tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Harbor's decorations of a doublestar selector
MATCHES, EXCLUDES = "matches", "excludes"
REPO_MATCHES, REPO_EXCLUDES = "repoMatches", "repoExcludes"
TAG_DECORATIONS = (MATCHES, EXCLUDES)
REPO_DECORATIONS = (REPO_MATCHES, REPO_EXCLUDES)
DOUBLESTAR = "doublestar"


@dataclass(frozen=True, slots=True)
class Selector:
    kind: str
    decoration: str
    pattern: str
    extras: str = ""

    def describe(self) -> str:
        return f"{self.decoration} {self.pattern!r}"


@dataclass(frozen=True, slots=True)
class Rule:
    """An immutable-tag rule or a retention rule (the same shape in Harbor's API)."""

    template: str
    tag_selectors: tuple[Selector, ...]
    scope_selectors: dict[str, tuple[Selector, ...]]
    action: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    disabled: bool = False
    id: int = 0

    @property
    def repository_selector(self) -> Selector | None:
        found = self.scope_selectors.get("repository", ())
        return found[0] if found else None

    @property
    def tag_selector(self) -> Selector | None:
        return self.tag_selectors[0] if self.tag_selectors else None


@dataclass(frozen=True, slots=True)
class ImmutableRule:
    project_id: int
    project: str
    rule: Rule
    id: int = 0
    created: float = 0.0


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    project_id: int
    project: str
    algorithm: str
    rules: tuple[Rule, ...]
    trigger_kind: str  # Schedule (Harbor's only kind)
    trigger_cron: str  # "" when not scheduled
    id: int = 0
    created: float = 0.0
    updated: float = 0.0


# execution and task statuses (Harbor's task manager's)
PENDING, RUNNING, SUCCEED, FAILED, STOPPED = "Pending", "Running", "Succeed", "Error", "Stopped"


@dataclass(frozen=True, slots=True)
class RetentionExecution:
    policy_id: int
    status: str
    trigger: str  # MANUAL, SCHEDULE
    dry_run: bool
    start_time: float
    end_time: float | None = None
    id: int = 0


@dataclass(frozen=True, slots=True)
class RetentionTask:
    execution_id: int
    repository: str
    status: str
    job_id: int = 0
    total: int = 0
    retained: int = 0
    removed: tuple[str, ...] = ()  # digests removed (or, on a dry run, that would be)
    start_time: float | None = None
    end_time: float | None = None
    id: int = 0
