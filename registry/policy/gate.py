"""The policy gate the content core asks before a tag overwrite, a delete or an upload
commit. Rules are small objects with one method per kind of change; the first rule that
refuses wins. Storage quotas (``wharf.registry.policy.quota``) plug in here; immutable
tags later, without touching a handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from wharf.registry.events import Actor
from wharf.registry.metadata.base import QuotaAsk, QuotaCheck


class Refusal(Enum):
    """Why a change was refused: each surface maps it to its own status and error code."""

    DISABLED = "disabled"  # the operation is turned off on this registry (405 UNSUPPORTED)
    READ_ONLY = "read_only"  # the registry is in read-only mode (405 UNSUPPORTED)
    FORBIDDEN = "forbidden"  # a rule of the project forbids it (403 DENIED)


class PolicyRefused(Exception):
    def __init__(self, refusal: Refusal, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message


@dataclass(frozen=True, slots=True)
class TagWrite:
    actor: Actor
    repo: str
    tag: str
    digest: str
    previous_digest: str | None  # None: a new tag


@dataclass(frozen=True, slots=True)
class Deletion:
    actor: Actor
    kind: str  # manifest, tag, blob, repository, project
    repo: str  # the repository, or the project's name for a project
    reference: str = ""


@dataclass(frozen=True, slots=True)
class UploadStart:
    """A new upload session: asked so a client is refused before it sends the bytes."""

    actor: Actor
    repo: str


@dataclass(frozen=True, slots=True)
class UploadCommit:
    actor: Actor
    repo: str
    digest: str
    size: int
    # the quota's admission (``PolicyGate.reservation``) as the store took it with the
    # core's own write: the rule judges this verdict instead of taking one
    admitted: QuotaCheck | None = None


@dataclass(frozen=True, slots=True)
class Annotation:
    """A change of what the management API tells about content (labels, a repository's
    description) that leaves manifests, tags and blobs alone."""

    actor: Actor
    kind: str  # label, repository
    reference: str


Change = TagWrite | Deletion | UploadStart | UploadCommit | Annotation


class Rule:
    """A policy rule; the default allows everything."""

    async def check(self, change: Change) -> None:
        """Raise PolicyRefused to refuse ``change``."""

    async def reservation(self, change: UploadCommit) -> QuotaAsk | None:
        """What ``check`` would write for ``change`` (a quota's reservation), for a core
        that can take it with a write it makes anyway; it then asks ``check`` with the
        store's verdict in ``change.admitted``. None: nothing to write."""
        return None

    async def abandon(self, change: Change) -> None:
        """``change`` was allowed but did not happen (the write failed or was refused
        further on): undo what ``check`` set aside for it (a quota reservation)."""


class DeletesDisabled(Rule):
    async def check(self, change: Change) -> None:
        if isinstance(change, Deletion):
            raise PolicyRefused(Refusal.DISABLED, "deletes are disabled on this registry")


class ReadOnly(Rule):
    async def check(self, change: Change) -> None:
        raise PolicyRefused(Refusal.READ_ONLY, "the registry is in read-only mode")


class ProxyCacheProjects(Rule):
    """A proxy-cache project holds only what its proxy fetched from upstream: clients'
    pushes, tags and mounts into it are refused (the proxy writes as ``writer``). Deletes
    stay allowed (Harbor's API deletes cached artifacts; GC collects them)."""

    def __init__(self, is_proxy: Callable[[str], Awaitable[bool]], writer: Actor) -> None:
        self.is_proxy = is_proxy
        self.writer = writer

    async def check(self, change: Change) -> None:
        if not isinstance(change, TagWrite | UploadStart | UploadCommit):
            return
        if change.actor == self.writer:
            return
        project = change.repo.split("/", 1)[0]
        if await self.is_proxy(project):
            raise PolicyRefused(
                Refusal.FORBIDDEN,
                f"project {project} is a proxy cache project: it cannot be pushed to",
            )


class PolicyGate:
    def __init__(self, rules: list[Rule] | None = None) -> None:
        self.rules = list(rules or [])

    async def check(self, change: Change) -> None:
        for done, rule in enumerate(self.rules):
            try:
                await rule.check(change)
            except PolicyRefused:
                for earlier in self.rules[:done]:  # what they set aside is not needed
                    await earlier.abandon(change)
                raise

    async def reservation(self, change: UploadCommit) -> QuotaAsk | None:
        for rule in self.rules:
            wanted = await rule.reservation(change)
            if wanted is not None:
                return wanted
        return None

    async def abandon(self, change: Change) -> None:
        for rule in self.rules:
            await rule.abandon(change)
