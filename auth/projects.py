"""Managing projects: create, read, list, change visibility, delete (empty ones only)."""

from __future__ import annotations

import re

from wharf.auth.access import find_project, project_with
from wharf.auth.audit import AuditLog
from wharf.auth.errors import AlreadyExists, BadRequest, Forbidden, NotFound, Precondition
from wharf.auth.models import PROJECT, Member, Project, Role, now
from wharf.auth.options import AuthOptions
from wharf.auth.principals import SYSTEM, USER, Principal
from wharf.auth.store import AuthStore, Conflict, Page, ProjectNotEmpty

# Harbor's project names: one lower-case component, stricter than a repository name's.
PROJECT_NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
NOT_EMPTY = "the project still holds repositories; delete them first"


def valid_project_name(name: str) -> bool:
    return 1 <= len(name) <= 255 and PROJECT_NAME_RE.match(name) is not None


class Projects:
    def __init__(self, store: AuthStore, options: AuthOptions, audit_log: AuditLog) -> None:
        self.store = store
        self.options = options
        self.audit_log = audit_log

    async def create(self, actor: Principal, name: str, *, public: bool) -> Project:
        if actor.kind not in (USER, SYSTEM):
            raise Forbidden("robots and anonymous callers cannot create projects")
        if self.options.project_creation == "adminonly" and not actor.sysadmin:
            raise Forbidden("only system admins may create projects")
        if not valid_project_name(name):
            raise BadRequest("invalid project name")
        project = Project(name, public=public, owner_id=actor.user_id)
        try:
            await self.store.create_project(project)
        except Conflict:
            raise AlreadyExists(f"project {name} already exists") from None
        if actor.user_id is not None:
            await self.store.add_member(Member(project.id, actor.user_id, Role.PROJECT_ADMIN))
        await self.audit_log.record_change(actor, "create", "project", name, project=name)
        return project

    async def exists(self, name: str) -> bool:
        return await self.store.get_project(name) is not None

    async def get(self, actor: Principal, name_or_id: str | int) -> Project:
        """A project the caller may see (public, or one it holds any permission in)."""
        project = await find_project(self.store, name_or_id)
        if project is None or not (project.public or actor.permissions(project.name)):
            raise NotFound(f"project {name_or_id} not found")
        return project

    async def require(self, actor: Principal, name_or_id: str | int, permission: str) -> Project:
        """The project, when ``actor`` holds ``permission`` in it (Forbidden/NotFound else)."""
        return await project_with(self.store, actor, name_or_id, permission)

    async def search(
        self, actor: Principal, name: str | None, page: Page
    ) -> tuple[list[Project], int]:
        visible = (
            None
            if actor.sysadmin
            else frozenset(actor.roles) | frozenset(p for p in actor.robot_permissions if p != "*")
        )
        return await self.store.list_projects(name, visible, page)

    async def set_public(self, actor: Principal, name_or_id: str | int, public: bool) -> None:
        project = await self.require(actor, name_or_id, PROJECT)
        project.public = public
        project.updated = now()
        await self.store.update_project(project)
        await self.audit_log.record_change(
            actor, "update", "project", project.name, project=project.name
        )

    async def delete(self, actor: Principal, project: Project, *, has_repositories: bool) -> bool:
        """Delete ``project`` (the caller checked ``actor`` may, with ``require``): refused
        with Precondition while it holds repositories; False when it was already gone."""
        if has_repositories:
            raise Precondition(NOT_EMPTY)
        try:
            removed = await self.store.delete_project(project.id)
        except ProjectNotEmpty:
            raise Precondition(NOT_EMPTY) from None
        if removed:
            await self.audit_log.record_change(
                actor, "delete", "project", project.name, project=project.name
            )
        return removed

    async def name_of(self, project_id: int) -> str:
        project = await self.store.get_project_by_id(project_id)
        if project is None:
            raise NotFound("no such project")
        return project.name
