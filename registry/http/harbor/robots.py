"""Harbor's /robots: create (the secret is shown once), list (system robots, or a
project's with ``q=Level=project,ProjectID=N``), read, update, refresh the secret,
delete. Permissions are Harbor's: per namespace (a project, ``*`` for all of them, ``/``
for the system), a list of ``{resource, action}``."""

from __future__ import annotations

from aiohttp import web

from wharf.auth.errors import BadRequest
from wharf.auth.models import ACTION_POLICIES, REGISTRY_ACTIONS, Robot, policy
from wharf.auth.principals import Principal
from wharf.auth.robots import SYSTEM_NAMESPACE, duration_of
from wharf.registry.http.harbor.common import (
    PREFIX,
    auth_of,
    authenticated,
    harbor_time,
    json_response,
    ok,
    paged,
)
from wharf.registry.http.harbor.query import Exact, list_query
from wharf.registry.http.harbor.spec import (
    LISTING,
    PAGE_HEADERS,
    Api,
    Model,
    Param,
    Reply,
    read_body,
)

api = Api("robot")

ROBOT_ID = Param("robot_id", "path", int, "The robot's id", required=True)
ERRORS = (400, 401, 403, 404)


class Access(Model):
    resource: str | None = None
    action: str | None = None
    effect: str | None = None


class RobotPermission(Model):
    kind: str | None = None
    namespace: str | None = None
    access: list[Access] | None = None


class RobotCreate(Model):
    name: str | None = None
    description: str | None = None
    secret: str | None = None
    level: str | None = None
    disable: bool | None = None
    duration: int | None = None
    permissions: list[RobotPermission] | None = None


class RobotUpdate(Model):
    """Harbor's Robot as a PUT body: what may change (and name/level, which may not)."""

    name: str | None = None
    description: str | None = None
    level: str | None = None
    disable: bool | None = None
    duration: int | None = None
    permissions: list[RobotPermission] | None = None


class RobotSec(Model):
    secret: str | None = None


class RobotCreated(Model):
    id: int
    name: str
    secret: str
    creation_time: str | None
    expires_at: int


class RobotDoc(Model):
    id: int
    name: str
    description: str
    secret: str = ""
    level: str
    duration: int
    editable: bool
    disable: bool
    expires_at: int
    permissions: list[RobotPermission]
    creator_type: str
    creator_ref: int
    creation_time: str | None
    update_time: str | None


def expiry_doc(robot: Robot) -> int:
    return -1 if robot.expires_at is None else int(robot.expires_at)


def access_of(items: frozenset[str]) -> list[Access]:
    """The robot's policies as Harbor's access list; registry actions of robots made
    before policies existed show as the policies they stand for."""
    policies = {p for p in items if ":" in p}
    for action in items & REGISTRY_ACTIONS:
        policies |= ACTION_POLICIES[action]
    found = []
    for item in sorted(policies):
        resource, action = item.split(":", 1)
        found.append(Access(resource=resource, action=action, effect="allow"))
    return found


async def robot_doc(request: web.Request, robot: Robot) -> RobotDoc:
    from_robot = robot.creator.startswith("robot$")
    creator_ref = 0
    if not from_robot and robot.creator:
        creator_ref = await auth_of(request).users.id_of(robot.creator) or 0
    return RobotDoc(
        id=robot.id,
        name=robot.name,
        description=robot.description,
        level="project" if robot.project else "system",
        duration=duration_of(robot),
        editable=True,
        disable=robot.disabled,
        expires_at=expiry_doc(robot),
        permissions=[
            RobotPermission(
                kind="system" if namespace == SYSTEM_NAMESPACE else "project",
                namespace=namespace,
                access=access_of(items),
            )
            for namespace, items in sorted(robot.permissions.items())
        ],
        creator_type="robot" if from_robot else "local",
        creator_ref=creator_ref,
        creation_time=harbor_time(robot.created),
        update_time=harbor_time(robot.updated),
    )


def requested_permissions(raw: list[RobotPermission] | None) -> dict[str, frozenset[str]]:
    """namespace → ``resource:action`` policies; 400 for an empty or malformed set."""
    if not raw:
        raise BadRequest("bad request empty permission")
    perms: dict[str, set[str]] = {}
    for entry in raw:
        kind = entry.kind or "project"
        if kind not in ("project", "system"):
            raise BadRequest(f"bad request permission level: {kind}")
        namespace = SYSTEM_NAMESPACE if kind == "system" else entry.namespace
        if not namespace:
            raise BadRequest("bad request permission: a project permission needs a namespace")
        if not entry.access:
            raise BadRequest("bad request empty access")
        items = perms.setdefault(namespace, set())
        for access in entry.access:
            if not access.resource or not access.action:
                raise BadRequest("bad request empty access")
            if access.effect not in (None, "", "allow"):
                raise BadRequest(f"bad request permission effect: {access.effect}")
            items.add(policy(access.resource, access.action))
    return {namespace: frozenset(items) for namespace, items in perms.items()}


def robot_id_of(request: web.Request) -> int:
    return int(request.match_info["robot_id"])


@api.operation(
    "CreateRobot",
    "POST",
    "/robots",
    summary="Create a robot account; its secret is shown only now",
    body=RobotCreate,
    replies={201: Reply("Created", RobotCreated, ("Location",))},
    errors=(*ERRORS, 409),
)
@authenticated
async def create_robot(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, RobotCreate)
    made = await auth_of(request).robots.create(
        actor,
        req.name or "",
        requested_permissions(req.permissions),
        level=req.level or "",
        duration_days=-1 if req.duration is None else req.duration,
        description=req.description or "",
    )
    robot = made.robot
    secret = made.secret
    if req.secret:
        secret = await auth_of(request).robots.refresh_secret(actor, robot.id, req.secret)
        secret = req.secret
    return json_response(
        RobotCreated(
            id=robot.id,
            name=robot.name,
            secret=secret,
            creation_time=harbor_time(robot.created),
            expires_at=expiry_doc(robot),
        ),
        status=201,
        headers={"Location": f"{PREFIX}/robots/{robot.id}"},
    )


def listed_project(request: web.Request) -> int | str | None:
    """Harbor's ``q``: no Level (or Level=system) lists system robots; Level=project needs
    ProjectID. Wharf also takes ``?project=NAME``."""
    if request.query.get("project"):
        return request.query["project"]
    query = list_query(request)
    level = query.terms.get("Level")
    if level is None:
        return None
    if not isinstance(level, Exact) or level.value not in ("system", "project"):
        raise BadRequest("bad request error level input")
    if level.value == "system":
        return None
    project = query.terms.get("ProjectID")
    if project is None:
        raise BadRequest("must with project ID when to query project robots")
    if not isinstance(project, Exact) or not project.value.isdigit() or int(project.value) <= 0:
        raise BadRequest("ProjectID must be a positive integer")
    return int(project.value)


@api.operation(
    "ListRobot",
    "GET",
    "/robots",
    summary="System robots, or a project's (q=Level=project,ProjectID=N)",
    params=(*LISTING, Param("project", "query", str, "Wharf: the project's name")),
    replies={200: Reply("The robots", list[RobotDoc], PAGE_HEADERS)},
    errors=ERRORS,
)
@authenticated
async def list_robots(request: web.Request, actor: Principal) -> web.StreamResponse:
    query = list_query(request)
    robots, total = await auth_of(request).robots.search(
        actor, listed_project(request), query.window
    )
    return paged(request, [await robot_doc(request, r) for r in robots], total, query)


@api.operation(
    "GetRobotByID",
    "GET",
    "/robots/{robot_id}",
    summary="One robot",
    params=(ROBOT_ID,),
    replies={200: Reply("The robot", RobotDoc)},
    errors=ERRORS,
)
@authenticated
async def get_robot(request: web.Request, actor: Principal) -> web.StreamResponse:
    robot = await auth_of(request).robots.get(actor, robot_id_of(request))
    return json_response(await robot_doc(request, robot))


@api.operation(
    "UpdateRobot",
    "PUT",
    "/robots/{robot_id}",
    summary="Change a robot's description, state, duration or permissions",
    params=(ROBOT_ID,),
    body=RobotUpdate,
    replies={200: Reply("Updated")},
    errors=(*ERRORS, 409),
)
@authenticated
async def update_robot(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, RobotUpdate)
    robots = auth_of(request).robots
    robot_id = robot_id_of(request)
    robot = await robots.get(actor, robot_id, "update")
    level = "project" if robot.project else "system"
    short = robot.name.rsplit("+", 1)[-1].removeprefix("robot$")
    if (req.name is not None and req.name not in (robot.name, short)) or (
        req.level is not None and req.level != level
    ):
        raise BadRequest("cannot update the level or name of robot")
    await robots.update(
        actor,
        robot_id,
        disabled=req.disable,
        description=req.description,
        duration_days=req.duration,
        permissions=None if req.permissions is None else requested_permissions(req.permissions),
    )
    return ok()


@api.operation(
    "RefreshSec",
    "PATCH",
    "/robots/{robot_id}",
    summary="A new secret: the one sent, else a generated one (returned once)",
    params=(ROBOT_ID,),
    body=RobotSec,
    replies={200: Reply("The new secret", RobotSec)},
    errors=ERRORS,
)
@authenticated
async def refresh_robot(request: web.Request, actor: Principal) -> web.StreamResponse:
    raw = await request.read()
    req = await read_body(request, RobotSec) if raw.strip() else RobotSec()
    secret = await auth_of(request).robots.refresh_secret(
        actor, robot_id_of(request), req.secret or ""
    )
    return json_response(RobotSec(secret=secret))


@api.operation(
    "DeleteRobot",
    "DELETE",
    "/robots/{robot_id}",
    summary="Delete a robot",
    params=(ROBOT_ID,),
    replies={200: Reply("Deleted")},
    errors=ERRORS,
)
@authenticated
async def delete_robot(request: web.Request, actor: Principal) -> web.StreamResponse:
    await auth_of(request).robots.delete(actor, robot_id_of(request))
    return ok()
