"""The audit log: recording events (successful pulls batched, everything else written at
once), the retention purge, and reading the log back."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import replace

from wharf.auth.access import project_with, require_admin, require_signed_in
from wharf.auth.models import LOGS, AuditEvent
from wharf.auth.options import AuthOptions
from wharf.auth.principals import Principal
from wharf.auth.store import AuditPurge, AuditQuery, AuthStore, Condition, Page, PurgeCursor
from wharf.db.errors import DatabaseUnavailable

log = logging.getLogger("wharf.auth")

# Where the current request comes from; HTTP layers set it, audit events record it.
CLIENT_IP: ContextVar[str] = ContextVar("wharf_client_ip", default="")

AUDIT_BATCH = 256  # batched events written at once when this many wait
AUDIT_FLUSH_SECONDS = 0.5
# events held while the database is unavailable, written once it is back; past this many
# the oldest are dropped (and that is logged as an error)
AUDIT_HOLD_MAX = 10_000
PURGE_BATCH = 5_000  # rows the retention purge deletes per transaction


class AuditLog:
    def __init__(self, store: AuthStore, options: AuthOptions) -> None:
        self.store = store
        self.options = options
        self.pending: list[AuditEvent] = []

    async def record(self, event: AuditEvent, *, batched: bool = False) -> None:
        """Record an event. ``batched`` events (successful pulls: one per manifest GET, the
        hot path) wait up to AUDIT_FLUSH_SECONDS to be written together in one transaction;
        everything else is written before the request is answered."""
        self.pending.append(event)
        if not batched or len(self.pending) >= AUDIT_BATCH:
            await self.flush()

    async def record_change(
        self, actor: Principal, operation: str, kind: str, resource: str, *, project: str = ""
    ) -> None:
        """A management change (create/update/delete of a user, project, member, robot)."""
        await self.record(
            AuditEvent(
                actor.audit_name,
                operation,
                kind,
                resource,
                project=project,
                client_ip=CLIENT_IP.get(),
            )
        )

    async def flush(self) -> None:
        events, self.pending = self.pending, []
        if not events:
            return
        try:
            await self.store.add_events(events)
        except DatabaseUnavailable as exc:
            # down or restarting: keep them for the next flush (every AUDIT_FLUSH_SECONDS)
            held = events + self.pending
            self.pending = held[-AUDIT_HOLD_MAX:]
            if len(held) > AUDIT_HOLD_MAX:
                log.error(
                    "audit events dropped: database unavailable too long",
                    extra={"lost": len(held) - AUDIT_HOLD_MAX},
                )
            else:
                log.warning(
                    "audit events held: database unavailable",
                    extra={"held": len(self.pending), "error": str(exc)},
                )
        except Exception:  # the audit log must never fail the request it records
            log.exception("cannot record audit events", extra={"lost": len(events)})

    async def purge(self, now: float, batch: int = PURGE_BATCH) -> int:
        """Apply the retention period; returns how many events were deleted. In batches,
        each its own short transaction: a backlog of millions of rows never holds the
        (SQLite) writer for long."""
        days = self.options.audit_retention_days
        if days <= 0:
            return 0
        selection = AuditPurge(now - days * 86400, everything=True)
        purged = 0
        after: PurgeCursor | None = None
        while True:
            went, after = await self.store.purge_events_batch(selection, batch, after)
            purged += went
            if after is None:
                return purged

    def require_whole_log(self, actor: Principal) -> None:
        """System admins only (Harbor's audit-log list permission of the system)."""
        require_admin(actor)

    async def events(
        self, actor: Principal, query: AuditQuery, page: Page
    ) -> tuple[list[AuditEvent], int]:
        """Events of ``query.project`` (for those who may read its log), else of the whole
        log: all of it for system admins, for other signed-in callers the events of the
        projects whose log they may read (Harbor: project admins)."""
        if query.project is not None:
            await project_with(self.store, actor, query.project, LOGS)
        elif not actor.sysadmin:
            require_signed_in(actor)
            readable = tuple(sorted(p for p in actor.roles if LOGS in actor.permissions(p)))
            query = replace(
                query, conditions=(*query.conditions, Condition("project", "in", readable))
            )
        await self.flush()
        return await self.store.list_events(query, page)
