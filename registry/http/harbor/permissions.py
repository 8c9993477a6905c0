"""Harbor's /permissions: the resources and actions permissions may be given for (what a
robot account may be granted), for system admins (system and project level) and users
who administer a project (project level only)."""

from __future__ import annotations

from aiohttp import web

from wharf.auth.errors import Forbidden, Unauthorized
from wharf.auth.models import ROBOT_POLICIES, Role
from wharf.auth.principals import USER, Principal
from wharf.auth.robots import SYSTEM_POLICIES
from wharf.registry.http.harbor.common import authenticated, json_response
from wharf.registry.http.harbor.spec import Api, Model, Reply
from wharf.registry.http.harbor.users import Permission


class Permissions(Model):
    system: list[Permission] | None = None
    project: list[Permission] | None = None


def listed(policies: frozenset[str]) -> list[Permission]:
    pairs = sorted(p.split(":", 1) for p in policies)
    return [Permission(resource=resource, action=action) for resource, action in pairs]


def administers_a_project(actor: Principal) -> bool:
    return actor.kind == USER and Role.PROJECT_ADMIN in actor.roles.values()


api = Api("permissions")


@api.operation(
    "getPermissions",
    "GET",
    "/permissions",
    summary="Get system or project level permissions info",
    replies={200: Reply("Get permissions successfully.", Permissions)},
    errors=(401, 403),
)
@authenticated
async def get_permissions(request: web.Request, actor: Principal) -> web.StreamResponse:
    if not actor.authenticated:
        raise Unauthorized("authentication required")
    if not actor.sysadmin and not administers_a_project(actor):
        raise Forbidden("only admins(system and project) can access permissions")
    found = Permissions(project=listed(ROBOT_POLICIES))
    if actor.sysadmin:  # project admins do not see the system level
        found.system = listed(SYSTEM_POLICIES)
    return json_response(found.model_dump(exclude_none=True))
