"""The permission checks every management operation starts with: system admin only, or
a project the caller holds a permission in. As in Harbor, a caller without the
permission learns nothing more than that: anonymous callers are told to sign in
(Unauthorized), signed-in ones are refused (Forbidden), whether or not the project
exists; only system admins, who may do everything, are told a project does not exist."""

from __future__ import annotations

from wharf.auth.errors import Forbidden, NotFound, Unauthorized
from wharf.auth.models import Project
from wharf.auth.principals import Principal
from wharf.auth.store import AuthStore


def require_admin(actor: Principal) -> None:
    if not actor.authenticated:
        raise Unauthorized("authentication required")
    if not actor.sysadmin:
        raise Forbidden("only system admins may do this")


def require_system(actor: Principal, permission: str) -> None:
    """System admins, and robots given ``permission`` (a system policy) in the system
    namespace ("/"), as Harbor's system-level checks allow."""
    if not actor.authenticated:
        raise Unauthorized("authentication required")
    if not actor.sysadmin and permission not in actor.robot_permissions.get("/", frozenset()):
        raise Forbidden("permission denied")


def require_signed_in(actor: Principal) -> None:
    if not actor.authenticated:
        raise Unauthorized("authentication required")


def refuse(actor: Principal) -> Exception:
    """What a caller without a permission is told: sign in, or no."""
    if not actor.authenticated:
        return Unauthorized("authentication required")
    return Forbidden("permission denied")


async def find_project(store: AuthStore, name_or_id: str | int) -> Project | None:
    """A project by id (an int) or by name (a string, even of digits)."""
    if isinstance(name_or_id, int):
        return await store.get_project_by_id(int(name_or_id))
    return await store.get_project(name_or_id)


async def project_with(
    store: AuthStore, actor: Principal, name_or_id: str | int, permission: str
) -> Project:
    """The project, when ``actor`` holds ``permission`` in it (Forbidden/NotFound else)."""
    project = await find_project(store, name_or_id)
    if project is not None and permission in actor.permissions(project.name):
        return project
    if project is None and actor.sysadmin:
        raise NotFound(f"project {name_or_id} not found")
    raise refuse(actor)
