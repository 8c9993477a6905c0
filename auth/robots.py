"""Managing robot accounts: Harbor's permission sets (``resource:action`` policies per
project, ``*`` for every project), an expiry, a secret shown once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from wharf.auth.access import project_with, require_admin, require_signed_in
from wharf.auth.audit import AuditLog
from wharf.auth.errors import AlreadyExists, BadRequest, NotFound
from wharf.auth.models import (
    REGISTRY_ACTIONS,
    ROBOT_POLICIES,
    ROBOT_PREFIX,
    Robot,
    now,
    policy,
    with_coarse,
)
from wharf.auth.passwords import generate_secret, hash_secret, password_acceptable
from wharf.auth.principals import Principal
from wharf.auth.store import AuthStore, Conflict, Page

ROBOT_NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
SYSTEM_NAMESPACE = "/"  # Harbor's namespace of permissions of kind "system"
# what a system-level robot may be given in the system namespace (Harbor's system scope)
SYSTEM_POLICIES = frozenset(
    policy(r, a)
    for r, actions in (
        ("audit-log", "list"),
        ("project", "list create"),
        ("registry", "read create delete list update"),
        ("replication", "read create list"),
        ("replication-policy", "read create delete list update"),
        ("replication-adapter", "list"),
        ("scan-all", "read update stop create"),
        ("system-volumes", "read"),
        ("garbage-collection", "read create list update stop"),
        ("purge-audit", "read create list update stop"),
        ("jobservice-monitor", "list stop"),
        ("scanner", "read create delete list update"),
        ("label", "read create delete update"),
        ("security-hub", "read list"),
        ("catalog", "read"),
        ("quota", "read list update"),
        ("preheat-instance", "read create delete list update"),
        ("robot", "create read list delete"),
        ("user", "create read update list delete"),
        ("ldap-user", "create list"),
        ("user-group", "create read update list delete"),
    )
    for a in actions.split()
)
WEAK_SECRET = (
    "the secret must be 8-128, inclusively, characters long with at least 1 uppercase "
    "letter, 1 lowercase letter and 1 number"
)
LIST, READ, CREATE, UPDATE, DELETE = "list", "read", "create", "update", "delete"


@dataclass(frozen=True)
class RobotCreated:
    robot: Robot
    secret: str


def expiry(created: float, duration_days: int) -> float | None:
    return None if duration_days == -1 else created + duration_days * 86400


def duration_of(robot: Robot) -> int:
    """The robot's lifetime in days, -1 for never."""
    if robot.expires_at is None:
        return -1
    return max(1, round((robot.expires_at - robot.created) / 86400))


def check_duration(duration_days: int) -> None:
    if duration_days != -1 and not 0 < duration_days < 2**31 - 1:
        raise BadRequest(
            f"bad request error duration input: {duration_days}, duration must be either "
            "-1(Never) or a positive integer"
        )


def stored_permissions(permissions: Mapping[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """What is kept per namespace: the policies and the registry actions they imply (the
    token service reads those)."""
    kept: dict[str, frozenset[str]] = {}
    for namespace, given in permissions.items():
        if namespace == SYSTEM_NAMESPACE:
            kept[namespace] = frozenset(given)
            continue
        kept[namespace] = frozenset(given) | (with_coarse(frozenset(given)) & REGISTRY_ACTIONS)
    return kept


def check_permissions(permissions: Mapping[str, frozenset[str]]) -> None:
    if not permissions or not all(permissions.values()):
        raise BadRequest("bad request empty permission")
    for namespace, given in permissions.items():
        allowed = SYSTEM_POLICIES if namespace == SYSTEM_NAMESPACE else ROBOT_POLICIES
        for item in given:
            if item not in allowed and item not in REGISTRY_ACTIONS:
                raise BadRequest(f"bad request permission: {item}")


class Robots:
    def __init__(self, store: AuthStore, audit_log: AuditLog) -> None:
        self.store = store
        self.audit_log = audit_log

    async def _require(self, actor: Principal, project: str | int | None, action: str) -> None:
        """Harbor's check: system robots need the system's robot permission (system admins),
        project robots the project's."""
        if project is None:
            require_admin(actor)
        else:
            await project_with(self.store, actor, project, policy("robot", action))

    async def create(
        self,
        actor: Principal,
        name: str,
        permissions: Mapping[str, frozenset[str]],
        *,
        level: str = "project",
        duration_days: int = -1,
        description: str = "",
    ) -> RobotCreated:
        """``permissions``: namespace (a project name, ``*`` for all, ``/`` for the
        system) → ``resource:action`` policies (bare pull/push/delete are accepted too)."""
        require_signed_in(actor)
        check_duration(duration_days)
        if level not in ("project", "system"):
            raise BadRequest(f"bad request error level input: {level}")
        check_permissions(permissions)
        if not ROBOT_NAME_RE.match(name) or len(name) > 128:
            raise BadRequest("robot name is not in lower case or contains illegal characters")
        if level == "project":
            if len(permissions) != 1 or {"*", SYSTEM_NAMESPACE} & set(permissions):
                raise BadRequest("a project robot covers exactly one project")
            project: str | None = next(iter(permissions))
            await self._require(actor, project, CREATE)
            full = f"{ROBOT_PREFIX}{project}+{name}"
        else:
            require_admin(actor)
            for namespace in permissions:
                if namespace not in ("*", SYSTEM_NAMESPACE):
                    await project_with(self.store, actor, namespace, policy("robot", CREATE))
            project = None
            full = f"{ROBOT_PREFIX}{name}"
        secret = generate_secret(32)
        created = now()
        robot = Robot(
            full,
            hash_secret(secret),
            stored_permissions(permissions),
            project=project,
            description=description,
            expires_at=expiry(created, duration_days),
            creator=actor.audit_name,
            created=created,
            updated=created,
        )
        try:
            await self.store.create_robot(robot)
        except Conflict:
            raise AlreadyExists(f"robot {full} already exists") from None
        await self.audit_log.record_change(actor, "create", "robot", full, project=project or "")
        return RobotCreated(robot, secret)

    async def get(self, actor: Principal, robot_id: int, action: str = READ) -> Robot:
        """The robot, when ``actor`` may do ``action`` (read, update, delete) to it."""
        require_signed_in(actor)
        robot = await self.store.get_robot_by_id(robot_id)
        if robot is None:
            raise NotFound(f"robot {robot_id} not found")
        await self._require(actor, robot.project, action)
        return robot

    async def search(
        self, actor: Principal, project: str | int | None, page: Page
    ) -> tuple[list[Robot], int]:
        """The system robots (``project`` None: system admins), or a project's robots
        (every member from guest up may list them)."""
        require_signed_in(actor)
        if project is None:
            require_admin(actor)
            robots, _ = await self.store.list_robots(None, Page(0, 1_000_000))
            system = [r for r in robots if r.project is None]
            return system[page.offset : page.offset + page.limit], len(system)
        found = await project_with(self.store, actor, project, policy("robot", LIST))
        return await self.store.list_robots(found.name, page)

    async def update(
        self,
        actor: Principal,
        robot_id: int,
        *,
        disabled: bool | None = None,
        description: str | None = None,
        duration_days: int | None = None,
        permissions: Mapping[str, frozenset[str]] | None = None,
    ) -> Robot:
        robot = await self.get(actor, robot_id, UPDATE)
        if duration_days is not None:
            check_duration(duration_days)
            robot.expires_at = expiry(robot.created, duration_days)
        if permissions is not None:
            check_permissions(permissions)
            if robot.project is not None and set(permissions) != {robot.project}:
                raise BadRequest("cannot update the project id of robot")
            robot.permissions = stored_permissions(permissions)
        if disabled is not None:
            robot.disabled = disabled
        if description is not None:
            robot.description = description
        robot.updated = now()
        await self.store.update_robot(robot)
        await self.audit_log.record_change(
            actor, "update", "robot", robot.name, project=robot.project or ""
        )
        return robot

    async def refresh_secret(self, actor: Principal, robot_id: int, secret: str = "") -> str:
        """A new secret: ``secret`` when given (refused when weak; then "" is returned, as
        Harbor does), else a generated one, returned once."""
        robot = await self.get(actor, robot_id, UPDATE)
        if secret and password_acceptable(secret):
            raise BadRequest(WEAK_SECRET)
        chosen = secret or generate_secret(32)
        robot.secret_hash = hash_secret(chosen)
        robot.updated = now()
        await self.store.update_robot(robot)
        await self.audit_log.record_change(
            actor, "update", "robot", f"{robot.name} secret", project=robot.project or ""
        )
        return "" if secret else chosen

    async def delete(self, actor: Principal, robot_id: int) -> None:
        robot = await self.get(actor, robot_id, DELETE)
        await self.store.delete_robot(robot.id)
        await self.audit_log.record_change(
            actor, "delete", "robot", robot.name, project=robot.project or ""
        )
