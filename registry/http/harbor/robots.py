"""Harbor's /robots: create (the secret is shown once), list, read, update, refresh the
secret, delete."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wharf.auth.errors import BadRequest
from wharf.auth.models import REGISTRY_ACTIONS, Robot
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import (
    PREFIX,
    auth_of,
    authenticated,
    harbor_time,
    json_body,
    json_response,
    ok,
    paged,
    parse_int,
    requested_page,
)

# Harbor resources a robot permission may name; Wharf maps them all to repository access.
REPOSITORY_RESOURCES = ("repository", "artifact", "tag")


def expiry_doc(robot: Robot) -> int:
    return -1 if robot.expires_at is None else int(robot.expires_at)


def robot_doc(robot: Robot) -> dict[str, Any]:
    return {
        "id": robot.id,
        "name": robot.name,
        "description": robot.description,
        "level": "project" if robot.project else "system",
        "disable": robot.disabled,
        "expires_at": expiry_doc(robot),
        "creation_time": harbor_time(robot.created),
        "update_time": harbor_time(robot.updated),
        "permissions": [
            {
                "kind": "project",
                "namespace": namespace,
                "access": [{"resource": "repository", "action": a} for a in sorted(actions)],
            }
            for namespace, actions in sorted(robot.permissions.items())
        ],
    }


def requested_permissions(body: dict[str, Any]) -> dict[str, frozenset[str]]:
    raw = body.get("permissions")
    if not isinstance(raw, list) or not raw:
        raise BadRequest("permissions must be a non-empty list")
    perms: dict[str, set[str]] = {}
    for entry in raw:
        if not isinstance(entry, dict) or entry.get("kind", "project") != "project":
            raise BadRequest('permissions[].kind must be "project"')
        namespace = entry.get("namespace")
        access = entry.get("access")
        if not isinstance(namespace, str) or not isinstance(access, list):
            raise BadRequest("permissions[] needs namespace and access")
        actions = perms.setdefault(namespace, set())
        for item in access:
            if not isinstance(item, dict):
                raise BadRequest("access[] entries are objects")
            action = item.get("action")
            if item.get("resource", "repository") not in REPOSITORY_RESOURCES:
                continue  # Harbor resources Wharf does not model yet
            if action not in REGISTRY_ACTIONS:
                raise BadRequest("access[].action must be pull, push or delete")
            actions.add(str(action))
    return {ns: frozenset(a) for ns, a in perms.items() if a}


def robot_id_of(request: web.Request) -> int:
    return parse_int(request.match_info["rid"], "robot id")


@authenticated
async def create_robot(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await json_body(request)
    duration = body.get("duration", -1)
    if not isinstance(duration, int):
        raise BadRequest("duration must be a number of days, or -1")
    made = await auth_of(request).robots.create(
        actor,
        str(body.get("name", "")),
        requested_permissions(body),
        level=str(body.get("level", "project")),
        duration_days=duration,
        description=str(body.get("description") or ""),
    )
    robot = made.robot
    return json_response(
        {
            "id": robot.id,
            "name": robot.name,
            "secret": made.secret,
            "creation_time": harbor_time(robot.created),
            "expires_at": expiry_doc(robot),
        },
        status=201,
        headers={"Location": f"{PREFIX}/robots/{robot.id}"},
    )


def project_filter(request: web.Request) -> str | int | None:
    """Harbor's ``q=Level=project,ProjectID=3`` (an id); also plain ``?project=name``."""
    if request.query.get("project"):
        return request.query["project"]
    for part in request.query.get("q", "").split(","):
        key, _, value = part.partition("=")
        if key.lower() in ("projectid", "project_id") and value.strip("~").isdigit():
            return int(value.strip("~"))
    return None


@authenticated
async def list_robots(request: web.Request, actor: Principal) -> web.StreamResponse:
    auth = auth_of(request)
    project = project_filter(request)
    if isinstance(project, int):
        project = await auth.projects.name_of(project)
    page = requested_page(request)
    robots, total = await auth.robots.search(actor, project, page)
    return paged(request, [robot_doc(r) for r in robots], total, page)


@authenticated
async def get_robot(request: web.Request, actor: Principal) -> web.StreamResponse:
    return json_response(robot_doc(await auth_of(request).robots.get(actor, robot_id_of(request))))


@authenticated
async def update_robot(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await json_body(request)
    disable = body.get("disable")
    description = body.get("description")
    duration = body.get("duration")
    await auth_of(request).robots.update(
        actor,
        robot_id_of(request),
        disabled=disable if isinstance(disable, bool) else None,
        description=description if isinstance(description, str) else None,
        duration_days=duration if isinstance(duration, int) else None,
    )
    return ok()


@authenticated
async def refresh_robot(request: web.Request, actor: Principal) -> web.StreamResponse:
    secret = await auth_of(request).robots.refresh_secret(actor, robot_id_of(request))
    return json_response({"secret": secret})


@authenticated
async def delete_robot(request: web.Request, actor: Principal) -> web.StreamResponse:
    await auth_of(request).robots.delete(actor, robot_id_of(request))
    return ok()


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/robots", list_robots)
    router.add_post("/robots", create_robot)
    router.add_get("/robots/{rid}", get_robot)
    router.add_put("/robots/{rid}", update_robot)
    router.add_patch("/robots/{rid}", refresh_robot)
    router.add_delete("/robots/{rid}", delete_robot)
