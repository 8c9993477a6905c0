"""The auth services composed: the one object the HTTP layer, the audit subscriber and
the CLI hold. Each job lives in its own module (principals, grants, audit, bootstrap,
users, projects, members, robots); this class wires them over one store."""

from __future__ import annotations

from pathlib import Path

from wharf.auth.audit import AUDIT_BATCH, AUDIT_FLUSH_SECONDS, CLIENT_IP, AuditLog
from wharf.auth.authenticators import Authenticator, DatabaseAuthenticator
from wharf.auth.bootstrap import bootstrap
from wharf.auth.grants import Grants
from wharf.auth.members import Members
from wharf.auth.models import AuditEvent
from wharf.auth.options import AuthOptions
from wharf.auth.principals import SYSTEM_PRINCIPAL, Principal, Principals
from wharf.auth.projects import Projects
from wharf.auth.robots import RobotCreated, Robots
from wharf.auth.scopes import Scope
from wharf.auth.store import AuthStore
from wharf.auth.tokens import TokenService
from wharf.auth.users import Users


class AuthService:
    def __init__(
        self,
        store: AuthStore,
        tokens: TokenService,
        options: AuthOptions | None = None,
        authenticators: list[Authenticator] | None = None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.options = options or AuthOptions()
        self.audit_log = AuditLog(store, self.options)
        self.principals = Principals(
            store, authenticators or [DatabaseAuthenticator(store)], self.audit_log.record
        )
        self.users = Users(store, self.audit_log)
        self.projects = Projects(store, self.options, self.audit_log)
        self.members = Members(store, self.audit_log)
        self.robots = Robots(store, self.audit_log)
        self.grants = Grants(store, self.options, self.projects)

    async def bootstrap(self, data_dir: Path | None) -> str | None:
        """First start: the admin user, the public projects, a signing key. Returns a
        message for the operator when a password was generated."""
        return await bootstrap(self.store, self.tokens, self.options, data_dir)

    async def anonymous(self) -> Principal:
        return await self.principals.anonymous()

    async def login(self, username: str, password: str, client_ip: str = "") -> Principal | None:
        return await self.principals.login(username, password, client_ip)

    async def principal_for_subject(self, subject: str) -> Principal | None:
        return await self.principals.for_subject(subject)

    async def grant(self, principal: Principal, scopes: list[Scope]) -> list[Scope]:
        return await self.grants.grant(principal, scopes)

    async def ensure_project_for_push(self, principal: Principal, repo: str) -> bool:
        return await self.grants.ensure_project_for_push(principal, repo)

    async def audit(self, event: AuditEvent, *, batched: bool = False) -> None:
        await self.audit_log.record(event, batched=batched)

    async def flush_audit(self) -> None:
        await self.audit_log.flush()

    async def purge_audit(self, now: float) -> int:
        return await self.audit_log.purge(now)


__all__ = [
    "AUDIT_BATCH",
    "AUDIT_FLUSH_SECONDS",
    "CLIENT_IP",
    "SYSTEM_PRINCIPAL",
    "AuthOptions",
    "AuthService",
    "Principal",
    "RobotCreated",
]
