"""The permission checks every management operation starts with: system admin only, or
a project the caller holds a permission in (without revealing private projects)."""

from __future__ import annotations

from wharf.auth.errors import Forbidden, NotFound
from wharf.auth.models import Project
from wharf.auth.principals import Principal
from wharf.auth.store import AuthStore


def require_admin(actor: Principal) -> None:
    if not actor.sysadmin:
        raise Forbidden("only system admins may do this")


async def find_project(store: AuthStore, name_or_id: str | int) -> Project | None:
    """A project by id (an int or a string of digits) or by name."""
    if isinstance(name_or_id, int) or name_or_id.isdigit():
        return await store.get_project_by_id(int(name_or_id))
    return await store.get_project(name_or_id)


async def project_with(
    store: AuthStore, actor: Principal, name_or_id: str | int, permission: str
) -> Project:
    """The project, when ``actor`` holds ``permission`` in it (Forbidden/NotFound else)."""
    project = await find_project(store, name_or_id)
    if project is None:
        raise NotFound(f"project {name_or_id} not found")
    perms = actor.permissions(project.name)
    if permission not in perms:
        if not perms and not project.public:
            raise NotFound(f"project {name_or_id} not found")  # don't reveal it exists
        raise Forbidden("permission denied")
    return project
