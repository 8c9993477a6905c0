"""The auth services composed: the one object the HTTP layer, the audit subscriber and
the CLI hold. Each job lives in its own module (principals, grants, audit, bootstrap,
users, projects, members, robots); this class wires them over one store."""

from __future__ import annotations

from pathlib import Path

from wharf.auth.audit import AUDIT_BATCH, AUDIT_FLUSH_SECONDS, CLIENT_IP, AuditLog
from wharf.auth.authenticators import (
    Authenticator,
    DatabaseAuthenticator,
    LocalAdminAuthenticator,
    Modes,
)
from wharf.auth.bootstrap import bootstrap
from wharf.auth.configuration import Configuration
from wharf.auth.grants import Grants
from wharf.auth.ldap_auth import LdapAuthenticator
from wharf.auth.members import Members
from wharf.auth.models import LDAP_AUTH, OIDC_AUTH, AuditEvent
from wharf.auth.oidc_login import OidcCliAuthenticator, OidcLogins
from wharf.auth.onboarding import Onboarding
from wharf.auth.options import AuthOptions
from wharf.auth.principals import SYSTEM_PRINCIPAL, Principal, Principals
from wharf.auth.projects import Projects
from wharf.auth.robots import RobotCreated, Robots
from wharf.auth.scopes import Scope
from wharf.auth.sealing import Sealer, sealing_secret
from wharf.auth.settings import ExternalAuthSettings
from wharf.auth.store import AuthStore
from wharf.auth.tokens import TokenService
from wharf.auth.usergroups import UserGroups
from wharf.auth.users import Users


class AuthService:
    def __init__(
        self,
        store: AuthStore,
        tokens: TokenService,
        options: AuthOptions | None = None,
        authenticators: list[Authenticator] | None = None,
        *,
        sign_in: ExternalAuthSettings | None = None,
        fixed_settings: frozenset[str] = frozenset(),
        secret_key: str | None = None,
    ) -> None:
        """``sign_in``: the sign-in settings of the configuration file and environment,
        ``fixed_settings`` the keys they set (not changeable through the API);
        ``secret_key`` seals secrets at rest (``sealing``)."""
        self.store = store
        self.tokens = tokens
        self.options = options or AuthOptions()
        self.secret_key = secret_key
        self.sealer: Sealer | None = None  # set by start(), once the key is known
        self.audit_log = AuditLog(store, self.options)
        self.configuration = Configuration(
            store, sign_in or ExternalAuthSettings(), fixed_settings, self.audit_log
        )
        self.onboarding = Onboarding(store, self.audit_log)
        self.ldap = LdapAuthenticator(store, self.configuration, self.onboarding)
        self.oidc = OidcLogins(store, self.configuration, self.onboarding, self.audit_log)
        self.modes = Modes(
            self._mode,
            DatabaseAuthenticator(store),
            LocalAdminAuthenticator(store),
            {LDAP_AUTH: self.ldap, OIDC_AUTH: OidcCliAuthenticator(self.oidc)},
        )
        self.principals = Principals(store, authenticators or self.modes, self._record)
        self.users = Users(store, self.audit_log)
        self.projects = Projects(store, self.options, self.audit_log)
        self.members = Members(store, self.audit_log)
        self.robots = Robots(store, self.audit_log)
        self.grants = Grants(store, self.options, self.projects)
        self.usergroups = UserGroups(store, self.audit_log, self.configuration, self.ldap)

    async def _mode(self) -> str:
        return (await self.configuration.current()).mode

    async def start(self) -> None:
        """Once the store is open: the sealing key (generated in the database on first
        use unless configured)."""
        sealer = Sealer(await sealing_secret(self.store, self.secret_key))
        self.sealer = sealer
        self.configuration.use_sealer(sealer)
        self.oidc.use_sealer(sealer)

    async def close(self) -> None:
        self.ldap.close()
        await self.oidc.close()

    async def _record(self, event: AuditEvent, batched: bool) -> None:
        await self.audit_log.record(event, batched=batched)

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
