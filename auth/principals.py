"""Who is calling: the principal of a request (anonymous, a user, a robot, the system)
with everything needed to decide synchronously what it may do, and how one is obtained
(login with a password, or re-validation of a token's subject)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from wharf.auth.authenticators import Authenticator, Modes
from wharf.auth.models import (
    ALL_PERMISSIONS,
    DB_AUTH,
    LIST,
    PUBLIC_PERMISSIONS,
    PULL,
    REGISTRY_ACTIONS,
    ROBOT_PREFIX,
    ROLE_PERMISSIONS,
    AuditEvent,
    Robot,
    Role,
    User,
    project_of,
    with_coarse,
)
from wharf.auth.passwords import verify_password
from wharf.auth.store import AuthStore

ANONYMOUS = "anonymous"
USER = "user"
ROBOT = "robot"
SYSTEM = "system"


@dataclass(frozen=True)
class Principal:
    """A caller, with everything needed to decide synchronously what it may do."""

    kind: str
    name: str
    sysadmin: bool = False
    roles: Mapping[str, Role] = field(default_factory=dict)
    robot_permissions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    public: frozenset[str] = frozenset()
    user_id: int | None = None

    @property
    def authenticated(self) -> bool:
        return self.kind != ANONYMOUS

    @property
    def audit_name(self) -> str:
        return self.name or ANONYMOUS

    def permissions(self, project: str) -> frozenset[str]:
        if self.sysadmin:
            return ALL_PERMISSIONS
        perms: set[str] = set()
        if project in self.public:
            perms |= PUBLIC_PERMISSIONS
        role = self.roles.get(project)
        if role is not None:
            perms |= ROLE_PERMISSIONS[role]
        robot = self.robot_permissions.get(project, frozenset()) | self.robot_permissions.get(
            "*", frozenset()
        )
        if robot:
            robot = with_coarse(robot)
            perms |= robot
            if PULL in robot:
                perms.add(LIST)
        return frozenset(perms)

    def repo_actions(self, repo: str) -> frozenset[str]:
        return self.permissions(project_of(repo)) & REGISTRY_ACTIONS

    def can_pull(self, repo: str) -> bool:
        return PULL in self.permissions(project_of(repo))

    def can_list(self, repo: str) -> bool:
        return LIST in self.permissions(project_of(repo))


SYSTEM_PRINCIPAL = Principal(SYSTEM, "admin-cli", sysadmin=True)

# record(event, batched): the audit log's
RecordEvent = Callable[[AuditEvent, bool], Awaitable[None]]


class Principals:
    """Turns credentials and token subjects into principals."""

    def __init__(
        self,
        store: AuthStore,
        authenticators: list[Authenticator] | Modes,
        record: RecordEvent,
    ) -> None:
        self.store = store
        self.modes = authenticators if isinstance(authenticators, Modes) else None
        self.authenticators = authenticators if isinstance(authenticators, list) else []
        self.record = record

    async def chain(self) -> list[Authenticator]:
        return await self.modes.chain() if self.modes is not None else self.authenticators

    async def anonymous(self) -> Principal:
        return Principal(ANONYMOUS, "", public=await self.store.public_projects())

    async def for_user(self, user: User) -> Principal:
        return Principal(
            USER,
            user.username,
            sysadmin=user.is_admin,
            roles=await self.store.memberships(user.id),
            public=await self.store.public_projects(),
            user_id=user.id,
        )

    async def for_robot(self, robot: Robot) -> Principal:
        return Principal(
            ROBOT,
            robot.name,
            robot_permissions=dict(robot.permissions),
            public=await self.store.public_projects(),
        )

    async def login(self, username: str, password: str, client_ip: str = "") -> Principal | None:
        """Check credentials (user or robot); None when refused. Every attempt, refused
        or not, is audited with the sign-in mode that decided it (successes batched: a
        client sending Basic on every request must stay cheap)."""
        principal: Principal | None = None
        reason = "bad credentials"
        mode = "robot"
        if username.startswith(ROBOT_PREFIX):
            robot = await self.store.get_robot(username)
            if robot is not None and verify_password(password, robot.secret_hash):
                if robot.disabled:
                    reason = "robot disabled"
                elif robot.expired():
                    reason = "robot expired"
                else:
                    principal = await self.for_robot(robot)
        else:
            chain = await self.chain()
            mode = chain[-1].mode if chain else "db"
            for authenticator in chain:
                user = await authenticator.authenticate(username, password)
                if user is None:
                    continue
                mode = authenticator.mode
                if not user.enabled:
                    reason = "user disabled"
                    break
                principal = await self.for_user(user)
                break
        await self.record(
            AuditEvent(
                username[:255],
                "login",
                "user",
                username[:255],
                client_ip=client_ip,
                result="success" if principal is not None else "failure",
                detail=f"mode {mode}" if principal is not None else f"{reason} (mode {mode})",
            ),
            principal is not None,
        )
        return principal

    async def for_subject(self, subject: str) -> Principal | None:
        """Re-validate the subject of one of our tokens: None when it no longer exists, is
        disabled or has expired."""
        if subject == "":
            return await self.anonymous()
        if subject.startswith(ROBOT_PREFIX):
            robot = await self.store.get_robot(subject)
            if robot is None or robot.disabled or robot.expired():
                return None
            return await self.for_robot(robot)
        found = await self.store.user_access(subject)
        if found is None or not found[0].enabled:
            return None
        user = found[0]
        if self.modes is not None and user.auth_source != DB_AUTH:
            checked = user.external_checked
            if not await self.modes.refresh(user):
                return None
            if user.external_checked != checked:  # groups re-read: roles may differ
                found = await self.store.user_access(subject)
                if found is None or not found[0].enabled:
                    return None
        user, roles, public = found
        return Principal(
            USER, user.username, sysadmin=user.is_admin, roles=roles, public=public, user_id=user.id
        )
