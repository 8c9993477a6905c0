"""The auth services: who is calling (principals), what they may do (grants), and the
management operations behind both the REST API and the ``wharf admin`` CLI."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from wharf.auth.authenticators import Authenticator, DatabaseAuthenticator
from wharf.auth.errors import AlreadyExists, BadRequest, Forbidden, NotFound
from wharf.auth.models import (
    ALL_PERMISSIONS,
    DELETE,
    LIST,
    LOGS,
    MEMBERS,
    PROJECT,
    PUBLIC_PERMISSIONS,
    PULL,
    PUSH,
    REGISTRY_ACTIONS,
    ROBOT_PREFIX,
    ROBOTS,
    ROLE_PERMISSIONS,
    AuditEvent,
    Member,
    Project,
    Robot,
    Role,
    User,
    now,
    project_of,
)
from wharf.auth.passwords import (
    generate_secret,
    hash_password,
    hash_secret,
    password_acceptable,
    verify_password,
)
from wharf.auth.scopes import Scope
from wharf.auth.store import AuditQuery, AuthStore, Conflict, Page
from wharf.auth.tokens import TokenService

log = logging.getLogger("wharf.auth")

# Where the current request comes from; HTTP layers set it, audit events record it.
CLIENT_IP: ContextVar[str] = ContextVar("wharf_client_ip", default="")

# The distribution name grammar (kept here: auth does not import the HTTP layer).
_REPO_RE = re.compile(
    r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$"
)
_PROJECT_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_USERNAME_RE = re.compile(r"^[^\s,\"~#%$:]{1,255}$")
_ROBOT_NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")

ANONYMOUS = "anonymous"
USER = "user"
ROBOT = "robot"
SYSTEM = "system"


def valid_repository(name: str) -> bool:
    return len(name) <= 255 and bool(_REPO_RE.match(name))


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


@dataclass
class AuthOptions:
    auto_create_projects: bool = False
    admin_password: str | None = None
    public_projects: tuple[str, ...] = ("library",)
    revalidate_tokens: bool = True
    project_creation: str = "everyone"  # or "adminonly"
    audit_retention_days: int = 90  # 0: keep everything


@dataclass(frozen=True)
class RobotCreated:
    robot: Robot
    secret: str


AUDIT_BATCH = 256  # batched events written at once when this many wait
AUDIT_FLUSH_SECONDS = 0.5


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
        self.authenticators = authenticators or [DatabaseAuthenticator(store)]
        self._pending_events: list[AuditEvent] = []

    # --- start-up --------------------------------------------------------------
    async def bootstrap(self, data_dir: Path | None) -> str | None:
        """First start: the admin user, the public ``library`` project, a signing key.
        Returns a message for the operator when a password was generated."""
        await self.tokens.ensure_signing_key()
        message = None
        if await self.store.get_user("admin") is not None:
            await self._ensure_public_projects()
            return None
        password = self.options.admin_password or os.environ.get("WHARF_ADMIN_PASSWORD")
        generated = not password
        secret = password or generate_secret(20)
        admin = User("admin", realname="system admin", password_hash=hash_password(secret))
        admin.sysadmin = True
        if await self.store.create_first_admin(admin):
            if generated:
                # the password goes to the log once (and to a 0600 file); the returned
                # message for the console only says where it is
                log.warning(f"created user 'admin' with a random password: {secret}")
                message = "created user 'admin' with a random password (see the log)"
                if data_dir is not None:
                    path = data_dir / "admin-password"
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, "w") as f:
                        f.write(secret + "\n")
                    message = f"created user 'admin'; its random password is in {path}"
            else:
                log.info("created user 'admin' with the configured password")
        await self._ensure_public_projects()
        return message

    async def _ensure_public_projects(self) -> None:
        first_admin = await self.store.get_user("admin")
        for name in self.options.public_projects:
            if await self.store.get_project(name) is None:
                with contextlib.suppress(Conflict):
                    await self.store.create_project(
                        Project(name, public=True, owner_id=first_admin.id if first_admin else None)
                    )

    # --- authentication ---------------------------------------------------------
    async def anonymous(self) -> Principal:
        return Principal(ANONYMOUS, "", public=await self.store.public_projects())

    async def principal_for_user(self, user: User) -> Principal:
        return Principal(
            USER,
            user.username,
            sysadmin=user.sysadmin,
            roles=await self.store.memberships(user.id),
            public=await self.store.public_projects(),
            user_id=user.id,
        )

    async def principal_for_robot(self, robot: Robot) -> Principal:
        return Principal(
            ROBOT,
            robot.name,
            robot_permissions=dict(robot.permissions),
            public=await self.store.public_projects(),
        )

    async def login(self, username: str, password: str, client_ip: str = "") -> Principal | None:
        """Check credentials (user or robot); None (and an audit event) when refused."""
        principal: Principal | None = None
        reason = "bad credentials"
        if username.startswith(ROBOT_PREFIX):
            robot = await self.store.get_robot(username)
            if robot is not None and verify_password(password, robot.secret_hash):
                if robot.disabled:
                    reason = "robot disabled"
                elif robot.expired():
                    reason = "robot expired"
                else:
                    principal = await self.principal_for_robot(robot)
        else:
            for authenticator in self.authenticators:
                user = await authenticator.authenticate(username, password)
                if user is None:
                    continue
                if not user.enabled:
                    reason = "user disabled"
                    break
                principal = await self.principal_for_user(user)
                break
        if principal is None:
            await self.audit(
                AuditEvent(
                    username[:255],
                    "login",
                    "user",
                    username[:255],
                    client_ip=client_ip,
                    result="failure",
                    detail=reason,
                )
            )
        return principal

    async def principal_for_subject(self, subject: str) -> Principal | None:
        """Re-validate the subject of one of our tokens: None when it no longer exists, is
        disabled or has expired."""
        if subject == "":
            return await self.anonymous()
        if subject.startswith(ROBOT_PREFIX):
            robot = await self.store.get_robot(subject)
            if robot is None or robot.disabled or robot.expired():
                return None
            return await self.principal_for_robot(robot)
        user = await self.store.get_user(subject)
        if user is None or not user.enabled:
            return None
        return await self.principal_for_user(user)

    # --- authorisation ----------------------------------------------------------
    async def grant(self, principal: Principal, scopes: list[Scope]) -> list[Scope]:
        """The intersection of what was asked and what is allowed; never an error."""
        projects = {project_of(s.name) for s in scopes if s.type == "repository"}
        existing = await self.store.existing_projects(projects)
        granted: list[Scope] = []
        for scope in scopes:
            if scope.type == "registry" and scope.name == "catalog":
                if principal.authenticated and scope.actions & {"*"}:
                    granted.append(Scope("registry", "catalog", frozenset({"*"})))
                continue
            if scope.type != "repository" or not valid_repository(scope.name):
                continue
            project = project_of(scope.name)
            allowed = set(principal.repo_actions(scope.name))
            if project not in existing:
                allowed = set()
                if principal.sysadmin and self.options.auto_create_projects:
                    allowed = {PULL, PUSH}
            asked = set(scope.actions)
            if "*" in asked:
                asked = set(REGISTRY_ACTIONS)
            actions = frozenset(asked & allowed)
            if actions:
                granted.append(Scope("repository", scope.name, actions))
        return granted

    async def ensure_project_for_push(self, principal: Principal, repo: str) -> bool:
        """True when the repository's project exists, creating it for a system admin
        when ``auto_create_projects`` is on."""
        project = project_of(repo)
        if await self.store.get_project(project) is not None:
            return True
        if not (principal.sysadmin and self.options.auto_create_projects):
            return False
        if not _PROJECT_RE.match(project):
            return False
        await self.create_project(principal, project, public=False)
        return True

    # --- audit -----------------------------------------------------------------
    async def audit(self, event: AuditEvent, *, batched: bool = False) -> None:
        """Record an event. ``batched`` events (successful pulls: one per manifest GET, the
        hot path) wait up to AUDIT_FLUSH_SECONDS to be written together in one transaction;
        everything else is written before the request is answered."""
        self._pending_events.append(event)
        if not batched or len(self._pending_events) >= AUDIT_BATCH:
            await self.flush_audit()

    async def purge_audit(self, now: float) -> int:
        """Apply the retention period; returns how many events were deleted."""
        days = self.options.audit_retention_days
        if days <= 0:
            return 0
        return await self.store.purge_events(now - days * 86400)

    async def flush_audit(self) -> None:
        events, self._pending_events = self._pending_events, []
        if not events:
            return
        try:
            await self.store.add_events(events)
        except Exception:  # the audit log must never fail the request it records
            log.exception("cannot record audit events", extra={"lost": len(events)})

    async def list_events(
        self, actor: Principal, query: AuditQuery, page: Page
    ) -> tuple[list[AuditEvent], int]:
        if query.project is None:
            if not actor.sysadmin:
                raise Forbidden("only system admins may read the whole audit log")
        else:
            await self._project_with(actor, query.project, LOGS)
        await self.flush_audit()
        return await self.store.list_events(query, page)

    # --- users -----------------------------------------------------------------
    @staticmethod
    def _require_admin(actor: Principal) -> None:
        if not actor.sysadmin:
            raise Forbidden("only system admins may do this")

    async def create_user(
        self,
        actor: Principal,
        username: str,
        password: str,
        *,
        email: str = "",
        realname: str = "",
        comment: str = "",
        sysadmin: bool = False,
    ) -> User:
        self._require_admin(actor)
        if not _USERNAME_RE.match(username) or username.startswith(ROBOT_PREFIX):
            raise BadRequest("invalid username")
        problem = password_acceptable(password)
        if problem:
            raise BadRequest(problem)
        user = User(
            username,
            email=email,
            realname=realname,
            comment=comment,
            password_hash=hash_password(password),
            sysadmin=sysadmin,
        )
        try:
            await self.store.create_user(user)
        except Conflict:
            raise AlreadyExists(f"user {username} already exists") from None
        await self._changed(actor, "create", "user", username)
        return user

    async def get_user(self, actor: Principal, user_id: int) -> User:
        user = await self.store.get_user_by_id(user_id)
        if user is None or not (actor.sysadmin or actor.user_id == user_id):
            if actor.sysadmin:
                raise NotFound("no such user")
            raise Forbidden("only system admins may read other users")
        return user

    async def find_user(self, actor: Principal, username: str) -> User:
        user = await self.store.get_user(username)
        if user is None:
            raise NotFound(f"no user {username}")
        return await self.get_user(actor, user.id)

    async def list_users(
        self, actor: Principal, query: str | None, page: Page
    ) -> tuple[list[User], int]:
        self._require_admin(actor)
        return await self.store.list_users(query, page)

    async def delete_user(self, actor: Principal, user_id: int) -> None:
        self._require_admin(actor)
        user = await self.store.get_user_by_id(user_id)
        if user is None:
            raise NotFound("no such user")
        if actor.user_id == user_id:
            raise Forbidden("you cannot delete yourself")
        await self.store.delete_user(user_id)
        await self._changed(actor, "delete", "user", user.username)

    async def set_password(
        self, actor: Principal, user_id: int, new_password: str, old_password: str | None = None
    ) -> None:
        user = await self.store.get_user_by_id(user_id)
        if user is None:
            raise NotFound("no such user")
        if not actor.sysadmin:
            if actor.user_id != user_id:
                raise Forbidden("you may only change your own password")
            if old_password is None or not verify_password(old_password, user.password_hash):
                raise BadRequest("the old password is wrong")
        problem = password_acceptable(new_password)
        if problem:
            raise BadRequest(problem)
        user.password_hash = hash_password(new_password)
        user.updated = now()
        await self.store.update_user(user)
        await self._changed(actor, "update", "user", f"{user.username} password")

    async def update_user(
        self,
        actor: Principal,
        user_id: int,
        *,
        sysadmin: bool | None = None,
        enabled: bool | None = None,
        email: str | None = None,
        realname: str | None = None,
        comment: str | None = None,
    ) -> User:
        user = await self.get_user(actor, user_id)
        if (sysadmin is not None or enabled is not None) and not actor.sysadmin:
            raise Forbidden("only system admins may change this")
        if sysadmin is not None:
            user.sysadmin = sysadmin
        if enabled is not None:
            user.enabled = enabled
        user.email = user.email if email is None else email
        user.realname = user.realname if realname is None else realname
        user.comment = user.comment if comment is None else comment
        user.updated = now()
        await self.store.update_user(user)
        await self._changed(actor, "update", "user", user.username)
        return user

    # --- projects ----------------------------------------------------------------
    async def create_project(self, actor: Principal, name: str, *, public: bool) -> Project:
        if actor.kind not in (USER, SYSTEM):
            raise Forbidden("robots and anonymous callers cannot create projects")
        if self.options.project_creation == "adminonly" and not actor.sysadmin:
            raise Forbidden("only system admins may create projects")
        if not (1 <= len(name) <= 255) or not _PROJECT_RE.match(name):
            raise BadRequest("invalid project name")
        project = Project(name, public=public, owner_id=actor.user_id)
        try:
            await self.store.create_project(project)
        except Conflict:
            raise AlreadyExists(f"project {name} already exists") from None
        if actor.user_id is not None:
            await self.store.add_member(Member(project.id, actor.user_id, Role.PROJECT_ADMIN))
        await self._changed(actor, "create", "project", name, project=name)
        return project

    async def project_exists(self, name: str) -> bool:
        return await self.store.get_project(name) is not None

    async def _lookup_project(self, name_or_id: str | int) -> Project | None:
        if isinstance(name_or_id, int) or (isinstance(name_or_id, str) and name_or_id.isdigit()):
            return await self.store.get_project_by_id(int(name_or_id))
        return await self.store.get_project(name_or_id)

    async def _project_with(self, actor: Principal, name_or_id: str | int, perm: str) -> Project:
        project = await self._lookup_project(name_or_id)
        if project is None:
            raise NotFound(f"project {name_or_id} not found")
        perms = actor.permissions(project.name)
        if perm not in perms:
            if not perms and not project.public:
                raise NotFound(f"project {name_or_id} not found")  # don't reveal it exists
            raise Forbidden("permission denied")
        return project

    async def get_project(self, actor: Principal, name_or_id: str | int) -> Project:
        project = await self._lookup_project(name_or_id)
        if project is None or not (project.public or actor.permissions(project.name)):
            raise NotFound(f"project {name_or_id} not found")
        return project

    async def require_project(self, actor: Principal, name_or_id: str | int, perm: str) -> Project:
        """The project, when ``actor`` holds ``perm`` in it (Forbidden/NotFound otherwise)."""
        return await self._project_with(actor, name_or_id, perm)

    async def list_projects(
        self, actor: Principal, name: str | None, page: Page
    ) -> tuple[list[Project], int]:
        visible = (
            None
            if actor.sysadmin
            else frozenset(actor.roles) | frozenset(p for p in actor.robot_permissions if p != "*")
        )
        return await self.store.list_projects(name, visible, page)

    async def update_project(
        self, actor: Principal, name_or_id: str | int, *, public: bool
    ) -> None:
        project = await self._project_with(actor, name_or_id, PROJECT)
        project.public = public
        project.updated = now()
        await self.store.update_project(project)
        await self._changed(actor, "update", "project", project.name, project=project.name)

    async def delete_project(
        self, actor: Principal, name_or_id: str | int, *, has_repositories: bool
    ) -> None:
        project = await self._project_with(actor, name_or_id, PROJECT)
        if has_repositories:
            raise BadRequest("the project still holds repositories; delete them first")
        await self.store.delete_project(project.id)
        await self._changed(actor, "delete", "project", project.name, project=project.name)

    # --- members -----------------------------------------------------------------
    async def list_members(self, actor: Principal, project: str | int) -> list[Member]:
        found = await self._project_with(actor, project, LIST)
        return await self.store.list_members(found.id)

    async def add_member(
        self, actor: Principal, project: str | int, username: str, role: Role
    ) -> Member:
        found = await self._project_with(actor, project, MEMBERS)
        user = await self.store.get_user(username)
        if user is None:
            raise NotFound(f"no user {username}")
        try:
            member = await self.store.add_member(Member(found.id, user.id, role, username))
        except Conflict:
            raise AlreadyExists(f"{username} is already a member of {found.name}") from None
        await self._changed(
            actor, "create", "member", f"{username} as {role.name.lower()}", project=found.name
        )
        return member

    async def update_member(
        self, actor: Principal, project: str | int, member_id: int, role: Role
    ) -> None:
        found = await self._project_with(actor, project, MEMBERS)
        member = await self.store.get_member(found.id, member_id)
        if member is None:
            raise NotFound("no such member")
        member.role = role
        await self.store.update_member(member)
        await self._changed(
            actor,
            "update",
            "member",
            f"{member.username} as {role.name.lower()}",
            project=found.name,
        )

    async def delete_member(self, actor: Principal, project: str | int, member_id: int) -> None:
        found = await self._project_with(actor, project, MEMBERS)
        member = await self.store.get_member(found.id, member_id)
        if member is None:
            raise NotFound("no such member")
        await self.store.delete_member(found.id, member_id)
        await self._changed(actor, "delete", "member", member.username, project=found.name)

    # --- robots ------------------------------------------------------------------
    async def create_robot(
        self,
        actor: Principal,
        name: str,
        permissions: Mapping[str, frozenset[str]],
        *,
        level: str = "project",
        duration_days: int = -1,
        description: str = "",
    ) -> RobotCreated:
        if not _ROBOT_NAME_RE.match(name) or len(name) > 128:
            raise BadRequest("invalid robot name")
        if not permissions:
            raise BadRequest("a robot needs at least one permission")
        for namespace, actions in permissions.items():
            if not actions or not actions <= REGISTRY_ACTIONS:
                raise BadRequest("robot actions are pull, push and delete")
            if namespace == "*":
                self._require_admin(actor)
            else:
                await self._project_with(actor, namespace, ROBOTS)
        if level == "project":
            if len(permissions) != 1 or "*" in permissions:
                raise BadRequest("a project robot covers exactly one project")
            project: str | None = next(iter(permissions))
            full = f"{ROBOT_PREFIX}{project}+{name}"
        elif level == "system":
            self._require_admin(actor)
            project = None
            full = f"{ROBOT_PREFIX}{name}"
        else:
            raise BadRequest("level must be project or system")
        if duration_days == 0 or duration_days < -1:
            raise BadRequest("duration is -1 (never expires) or a number of days")
        expires = None if duration_days == -1 else now() + duration_days * 86400
        secret = generate_secret(32)
        robot = Robot(
            full,
            hash_secret(secret),
            {p: frozenset(a) for p, a in permissions.items()},
            project=project,
            description=description,
            expires_at=expires,
            creator=actor.audit_name,
        )
        try:
            await self.store.create_robot(robot)
        except Conflict:
            raise AlreadyExists(f"robot {full} already exists") from None
        await self._changed(actor, "create", "robot", full, project=project or "")
        return RobotCreated(robot, secret)

    async def _robot_for(self, actor: Principal, robot_id: int) -> Robot:
        robot = await self.store.get_robot_by_id(robot_id)
        if robot is None:
            raise NotFound("no such robot")
        if not actor.sysadmin:
            if robot.project is None:
                raise Forbidden("only system admins manage system robots")
            await self._project_with(actor, robot.project, ROBOTS)
        return robot

    async def get_robot(self, actor: Principal, robot_id: int) -> Robot:
        return await self._robot_for(actor, robot_id)

    async def list_robots(
        self, actor: Principal, project: str | None, page: Page
    ) -> tuple[list[Robot], int]:
        if project is None:
            self._require_admin(actor)
        else:
            await self._project_with(actor, project, ROBOTS)
        return await self.store.list_robots(project, page)

    async def update_robot(
        self,
        actor: Principal,
        robot_id: int,
        *,
        disabled: bool | None = None,
        description: str | None = None,
        duration_days: int | None = None,
    ) -> Robot:
        robot = await self._robot_for(actor, robot_id)
        if disabled is not None:
            robot.disabled = disabled
        if description is not None:
            robot.description = description
        if duration_days is not None:
            robot.expires_at = None if duration_days == -1 else now() + duration_days * 86400
        robot.updated = now()
        await self.store.update_robot(robot)
        await self._changed(actor, "update", "robot", robot.name, project=robot.project or "")
        return robot

    async def refresh_robot_secret(self, actor: Principal, robot_id: int) -> str:
        robot = await self._robot_for(actor, robot_id)
        secret = generate_secret(32)
        robot.secret_hash = hash_secret(secret)
        robot.updated = now()
        await self.store.update_robot(robot)
        await self._changed(
            actor, "update", "robot", f"{robot.name} secret", project=robot.project or ""
        )
        return secret

    async def delete_robot(self, actor: Principal, robot_id: int) -> None:
        robot = await self._robot_for(actor, robot_id)
        await self.store.delete_robot(robot.id)
        await self._changed(actor, "delete", "robot", robot.name, project=robot.project or "")

    # --- helpers -----------------------------------------------------------------
    async def _changed(
        self, actor: Principal, operation: str, kind: str, resource: str, *, project: str = ""
    ) -> None:
        await self.audit(
            AuditEvent(
                actor.audit_name,
                operation,
                kind,
                resource,
                project=project,
                client_ip=CLIENT_IP.get(),
            )
        )


__all__ = [
    "ANONYMOUS",
    "DELETE",
    "ROBOT",
    "SYSTEM",
    "SYSTEM_PRINCIPAL",
    "USER",
    "AuthOptions",
    "AuthService",
    "Principal",
    "RobotCreated",
    "valid_repository",
]
