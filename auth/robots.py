"""Managing robot accounts: explicit pull/push/delete permissions, an expiry, a secret
shown once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from wharf.auth.access import project_with, require_admin
from wharf.auth.audit import AuditLog
from wharf.auth.errors import AlreadyExists, BadRequest, Forbidden, NotFound
from wharf.auth.models import REGISTRY_ACTIONS, ROBOT_PREFIX, ROBOTS, Robot, now
from wharf.auth.passwords import generate_secret, hash_secret
from wharf.auth.principals import Principal
from wharf.auth.store import AuthStore, Conflict, Page

ROBOT_NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")


@dataclass(frozen=True)
class RobotCreated:
    robot: Robot
    secret: str


def _expiry(duration_days: int) -> float | None:
    return None if duration_days == -1 else now() + duration_days * 86400


class Robots:
    def __init__(self, store: AuthStore, audit_log: AuditLog) -> None:
        self.store = store
        self.audit_log = audit_log

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
        if not ROBOT_NAME_RE.match(name) or len(name) > 128:
            raise BadRequest("invalid robot name")
        if not permissions:
            raise BadRequest("a robot needs at least one permission")
        for namespace, actions in permissions.items():
            if not actions or not actions <= REGISTRY_ACTIONS:
                raise BadRequest("robot actions are pull, push and delete")
            if namespace == "*":
                require_admin(actor)
            else:
                await project_with(self.store, actor, namespace, ROBOTS)
        if level == "project":
            if len(permissions) != 1 or "*" in permissions:
                raise BadRequest("a project robot covers exactly one project")
            project: str | None = next(iter(permissions))
            full = f"{ROBOT_PREFIX}{project}+{name}"
        elif level == "system":
            require_admin(actor)
            project = None
            full = f"{ROBOT_PREFIX}{name}"
        else:
            raise BadRequest("level must be project or system")
        if duration_days == 0 or duration_days < -1:
            raise BadRequest("duration is -1 (never expires) or a number of days")
        secret = generate_secret(32)
        robot = Robot(
            full,
            hash_secret(secret),
            {p: frozenset(a) for p, a in permissions.items()},
            project=project,
            description=description,
            expires_at=_expiry(duration_days),
            creator=actor.audit_name,
        )
        try:
            await self.store.create_robot(robot)
        except Conflict:
            raise AlreadyExists(f"robot {full} already exists") from None
        await self.audit_log.record_change(actor, "create", "robot", full, project=project or "")
        return RobotCreated(robot, secret)

    async def get(self, actor: Principal, robot_id: int) -> Robot:
        """The robot, when ``actor`` may manage it."""
        robot = await self.store.get_robot_by_id(robot_id)
        if robot is None:
            raise NotFound("no such robot")
        if not actor.sysadmin:
            if robot.project is None:
                raise Forbidden("only system admins manage system robots")
            await project_with(self.store, actor, robot.project, ROBOTS)
        return robot

    async def search(
        self, actor: Principal, project: str | None, page: Page
    ) -> tuple[list[Robot], int]:
        if project is None:
            require_admin(actor)
        else:
            await project_with(self.store, actor, project, ROBOTS)
        return await self.store.list_robots(project, page)

    async def update(
        self,
        actor: Principal,
        robot_id: int,
        *,
        disabled: bool | None = None,
        description: str | None = None,
        duration_days: int | None = None,
    ) -> Robot:
        robot = await self.get(actor, robot_id)
        if disabled is not None:
            robot.disabled = disabled
        if description is not None:
            robot.description = description
        if duration_days is not None:
            robot.expires_at = _expiry(duration_days)
        robot.updated = now()
        await self.store.update_robot(robot)
        await self.audit_log.record_change(
            actor, "update", "robot", robot.name, project=robot.project or ""
        )
        return robot

    async def refresh_secret(self, actor: Principal, robot_id: int) -> str:
        robot = await self.get(actor, robot_id)
        secret = generate_secret(32)
        robot.secret_hash = hash_secret(secret)
        robot.updated = now()
        await self.store.update_robot(robot)
        await self.audit_log.record_change(
            actor, "update", "robot", f"{robot.name} secret", project=robot.project or ""
        )
        return secret

    async def delete(self, actor: Principal, robot_id: int) -> None:
        robot = await self.get(actor, robot_id)
        await self.store.delete_robot(robot.id)
        await self.audit_log.record_change(
            actor, "delete", "robot", robot.name, project=robot.project or ""
        )
