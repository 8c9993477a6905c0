"""Immutable tags: a project's rules, compiled once and cached per project, and the policy
gate's rule that refuses to move or delete a tag they hold.

As Harbor: a rule holds a tag when its repository selector (``repoMatches`` /
``repoExcludes``, matched against the repository's path inside the project) and its tag
selector (``matches`` / ``excludes``) both select it; disabled rules hold nothing; a tag
is immutable when some rule holds it. Creating a new tag is always allowed; moving it to
another digest, deleting it, or deleting a manifest carrying it is refused with
``FORBIDDEN``: 403 DENIED in the OCI body on /v2 and in Harbor's on its API, naming
the rule and its patterns.

The cache: each process keeps a project's compiled rules with the project's generation
(``wharf.coord`` generations under the key ``immutable-rules:<project>``, shared by the
processes of a host or by every replica through Redis), read before the rules were; a
rule change bumps it after its commit, so every process reloads at its next check. When
the generations cannot vouch for freshness (Redis away), the rules are read from the
database each time."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from wharf.coord.generations import Generations
from wharf.registry.events import Event, ProjectDeleted
from wharf.registry.metadata.base import MetadataStore
from wharf.registry.policy.gate import Change, Deletion, PolicyRefused, Refusal, Rule, TagWrite
from wharf.registry.policy.models import (
    DOUBLESTAR,
    EXCLUDES,
    MATCHES,
    REPO_DECORATIONS,
    REPO_EXCLUDES,
    TAG_DECORATIONS,
    ImmutableRule,
)
from wharf.registry.policy.models import Rule as RuleShape
from wharf.registry.policy.patterns import BadPattern, compile_pattern
from wharf.registry.policy.store import Conflict, PolicyStore

IMMUTABLE_ACTION = "immutable"
IMMUTABLE_TEMPLATE = "immutable_template"
CACHED_PROJECTS = 10_000
PATHS_PER_PROJECT = 4096  # repositories whose applicable rules a Matcher remembers


class InvalidRule(ValueError):
    pass


def generation_key(project: str) -> str:
    return f"immutable-rules:{project}"


def split_repository(repo: str) -> tuple[str, str]:
    """``project/path`` → (project, path inside the project)."""
    project, _, rest = repo.partition("/")
    return project, rest


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: int
    repo_exclude: bool
    repo_pattern: str
    tag_exclude: bool
    tag_pattern: str

    def scopes(self, path: str) -> bool:
        """Whether the rule's repository selector selects the repository at ``path``."""
        hit = compile_pattern(self.repo_pattern).fullmatch(path) is not None
        return hit != self.repo_exclude

    def holds(self, path: str, tag: str) -> bool:
        if not self.scopes(path):
            return False
        tag_hit = compile_pattern(self.tag_pattern).fullmatch(tag) is not None
        return tag_hit != self.tag_exclude

    def describe(self) -> str:
        repo = "repoExcludes" if self.repo_exclude else "repoMatches"
        tag = EXCLUDES if self.tag_exclude else MATCHES
        return (
            f"immutable rule {self.id} (repositories {repo} {self.repo_pattern!r}, "
            f"tags {tag} {self.tag_pattern!r})"
        )


class _PathRules:
    """The rules scoping one repository, ready for its tags: the ``matches`` ones folded
    into one regular expression (an alternation in rule order, one named group each, so
    one match finds the first rule holding the tag), the ``excludes`` ones kept apart."""

    def __init__(self, rules: list[CompiledRule]) -> None:
        matching = [r for r in rules if not r.tag_exclude]
        self.by_group = {f"r{n}": r for n, r in enumerate(matching)}
        self.combined = (
            re.compile(
                "|".join(
                    f"(?P<r{n}>{compile_pattern(r.tag_pattern).pattern})"
                    for n, r in enumerate(matching)
                )
            )
            if matching
            else None
        )
        self.excluding = [(compile_pattern(r.tag_pattern), r) for r in rules if r.tag_exclude]

    def holding(self, tag: str) -> CompiledRule | None:
        if self.combined is not None:
            found = self.combined.fullmatch(tag)
            if found is not None and found.lastgroup is not None:
                return self.by_group[found.lastgroup]
        for pattern, rule in self.excluding:
            if pattern.fullmatch(tag) is None:
                return rule
        return None


class Matcher:
    """A project's enabled rules, ready to match; what applies to a repository is worked
    out once per repository path (bounded memo)."""

    __slots__ = ("_paths", "rules")

    def __init__(self, rules: tuple[CompiledRule, ...]) -> None:
        self.rules = rules
        self._paths: dict[str, _PathRules] = {}

    def holding(self, path: str, tag: str) -> CompiledRule | None:
        """A rule that makes ``tag`` of the repository at ``path`` immutable, or None."""
        scoped = self._paths.get(path)
        if scoped is None:
            if len(self._paths) >= PATHS_PER_PROJECT:
                self._paths.clear()
            scoped = self._paths[path] = _PathRules([r for r in self.rules if r.scopes(path)])
        return scoped.holding(tag)

    def __bool__(self) -> bool:
        return bool(self.rules)


NO_RULES = Matcher(())


def compile_rules(rules: Iterable[ImmutableRule]) -> Matcher:
    compiled = []
    for found in rules:
        rule = found.rule
        repo, tag = rule.repository_selector, rule.tag_selector
        if rule.disabled or repo is None or tag is None:
            continue  # as Harbor: a rule without both selectors holds nothing
        compiled.append(
            CompiledRule(
                found.id,
                repo.decoration == REPO_EXCLUDES,
                repo.pattern,
                tag.decoration == EXCLUDES,
                tag.pattern,
            )
        )
    return Matcher(tuple(compiled))


def check_shape(rule: RuleShape) -> None:
    """InvalidRule when the rule is not one Harbor would match with."""
    repo, tag = rule.repository_selector, rule.tag_selector
    if tag is None:
        raise InvalidRule("an immutable rule needs a tag selector")
    if repo is None:
        raise InvalidRule("an immutable rule needs a repository scope selector")
    for selector, allowed in ((repo, REPO_DECORATIONS), (tag, TAG_DECORATIONS)):
        if selector.kind != DOUBLESTAR:
            raise InvalidRule(f"selector kind {selector.kind!r} is not supported (doublestar)")
        if selector.decoration not in allowed:
            raise InvalidRule(
                f"decoration {selector.decoration!r} is not one of {', '.join(allowed)}"
            )
        try:
            compile_pattern(selector.pattern)
        except BadPattern as exc:
            raise InvalidRule(f"invalid pattern {selector.pattern!r}: {exc}") from None


class ImmutableRules:
    """A project's rules, read through a per-process cache kept fresh by generations."""

    def __init__(self, store: PolicyStore, generations: Generations) -> None:
        self.store = store
        self.generations = generations
        self._cache: OrderedDict[str, tuple[int, Matcher]] = OrderedDict()

    async def matcher(self, project: str) -> Matcher:
        key = generation_key(project)
        generation = self.generations.current(key)
        entry = self._cache.get(project)
        if entry is not None and generation is not None and entry[0] == generation:
            return entry[1]
        matcher = compile_rules(await self.store.immutable_rules(project=project))
        if generation is not None:
            self._cache[project] = (generation, matcher)
            self._cache.move_to_end(project)
            if len(self._cache) > CACHED_PROJECTS:
                self._cache.popitem(last=False)
        return matcher

    async def _changed(self, project: str) -> None:
        await self.generations.bump(generation_key(project))

    # --- managing rules (the Harbor API's) -------------------------------------------
    async def list(self, project_id: int) -> list[ImmutableRule]:
        return await self.store.immutable_rules(project_id=project_id)

    async def get(self, project_id: int, rule_id: int) -> ImmutableRule | None:
        found = await self.store.immutable_rule(rule_id)
        return found if found is not None and found.project_id == project_id else None

    async def create(self, project_id: int, project: str, rule: RuleShape) -> ImmutableRule:
        """Store a new rule (``Conflict`` when the project has the same one)."""
        check_shape(rule)
        created = await self.store.create_immutable(
            ImmutableRule(project_id, project, rule, created=time.time())
        )
        await self._changed(project)
        return created

    async def update(self, found: ImmutableRule, rule: RuleShape) -> None:
        check_shape(rule)
        if not await self.store.update_immutable(
            ImmutableRule(found.project_id, found.project, rule, found.id, found.created)
        ):
            raise LookupError(found.id)
        await self._changed(found.project)

    async def delete(self, found: ImmutableRule) -> bool:
        deleted = await self.store.delete_immutable(found.id)
        await self._changed(found.project)
        return deleted

    async def on_event(self, event: Event) -> None:
        """A subscriber of the content core's events: a deleted project's rules (and its
        retention policy) go with it, so a project created later under the same name
        starts with none."""
        if isinstance(event, ProjectDeleted):
            await self.store.forget_project(event.project)
            await self._changed(event.project)


class ImmutableTags(Rule):
    """The gate's rule: immutable tags neither move nor go."""

    def __init__(self, rules: ImmutableRules, metadata: MetadataStore) -> None:
        self.rules = rules
        self.metadata = metadata

    async def check(self, change: Change) -> None:
        if isinstance(change, TagWrite):
            if change.previous_digest is None or change.previous_digest == change.digest:
                return  # a new tag, or the same digest again: nothing moves
            await self._refuse_if_held(change.repo, [change.tag], "moved")
        elif isinstance(change, Deletion):
            if change.kind == "tag":
                await self._refuse_if_held(change.repo, [change.reference], "deleted")
            elif change.kind == "manifest":
                project, _ = split_repository(change.repo)
                if not await self.rules.matcher(project):
                    return
                row = await self.metadata.artifact(change.repo, change.reference)
                if row is not None:
                    await self._refuse_if_held(change.repo, [t.name for t in row.tags], "deleted")
            elif change.kind == "repository":
                project, _ = split_repository(change.repo)
                if not await self.rules.matcher(project):
                    return
                rows = await self.metadata.artifacts(change.repo) or []
                await self._refuse_if_held(
                    change.repo, [t.name for r in rows for t in r.tags], "deleted"
                )

    async def _refuse_if_held(self, repo: str, tags: list[str], what: str) -> None:
        if not tags:
            return
        project, path = split_repository(repo)
        matcher = await self.rules.matcher(project)
        if not matcher:
            return
        for tag in tags:
            rule = matcher.holding(path, tag)
            if rule is not None:
                raise PolicyRefused(
                    Refusal.FORBIDDEN,
                    f"the tag {repo}:{tag} is immutable and cannot be {what}: "
                    f"held by {rule.describe()}",
                )


__all__ = [
    "IMMUTABLE_ACTION",
    "IMMUTABLE_TEMPLATE",
    "NO_RULES",
    "Conflict",
    "ImmutableRules",
    "ImmutableTags",
    "InvalidRule",
    "Matcher",
    "check_shape",
    "compile_rules",
    "split_repository",
]
