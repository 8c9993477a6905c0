"""Harbor's labels: global ones and one project's, attached to artifacts. Changes ask the
policy gate (a read-only registry refuses them) and are emitted as events (the audit log
records them)."""

from __future__ import annotations

import dataclasses
import time

from wharf.registry.content.gatekeeping import ask
from wharf.registry.events import Actor, Annotated, Event, EventBus, ProjectDeleted
from wharf.registry.metadata.base import ArtifactRow, Label, MetadataStore
from wharf.registry.policy.gate import Annotation, PolicyGate

GLOBAL = "g"
PROJECT = "p"


class Labels:
    def __init__(self, store: MetadataStore, gate: PolicyGate, events: EventBus) -> None:
        self.store = store
        self.gate = gate
        self.events = events

    async def create(self, label: Label, actor: Actor, project: str = "") -> Label:
        """Store a new label (LabelExists when its name is taken in its scope)."""
        await ask(self.gate, Annotation(actor, "label", label.name))
        now = time.time()
        label = dataclasses.replace(label, created=now, updated=now)
        label = dataclasses.replace(label, id=await self.store.create_label(label))
        await self.events.publish(Annotated(actor, "create", "label", label.name, project))
        return label

    async def update(self, label: Label, actor: Actor, project: str = "") -> bool:
        """Change a label's name, description and color; False when it is gone."""
        await ask(self.gate, Annotation(actor, "label", label.name))
        changed = await self.store.update_label(dataclasses.replace(label, updated=time.time()))
        if changed:
            await self.events.publish(Annotated(actor, "update", "label", label.name, project))
        return changed

    async def delete(self, label: Label, actor: Actor, project: str = "") -> bool:
        await ask(self.gate, Annotation(actor, "label", label.name))
        deleted = await self.store.delete_label(label.id)
        if deleted:
            await self.events.publish(Annotated(actor, "delete", "label", label.name, project))
        return deleted

    async def attach(self, row: ArtifactRow, label: Label, actor: Actor, project: str) -> str:
        """``attached``, ``exists`` (it was already) or ``missing`` (either is gone)."""
        where = f"{row.repo}@{row.record.digest}"
        await ask(self.gate, Annotation(actor, "label", where))
        outcome = await self.store.attach_label(row.id, label.id)
        if outcome == "attached":
            await self.events.publish(
                Annotated(actor, "create", "artifact-label", f"{label.name} {where}", project)
            )
        return outcome

    async def detach(self, row: ArtifactRow, label_id: int, actor: Actor, project: str) -> bool:
        where = f"{row.repo}@{row.record.digest}"
        await ask(self.gate, Annotation(actor, "label", where))
        detached = await self.store.detach_label(row.id, label_id)
        if detached:
            await self.events.publish(
                Annotated(actor, "delete", "artifact-label", f"{label_id} {where}", project)
            )
        return detached

    async def on_event(self, event: Event) -> None:
        """A subscriber: a deleted project's labels go with it (project ids may be reused
        by the next project on SQLite)."""
        if isinstance(event, ProjectDeleted):
            await self.store.forget_project_labels()
