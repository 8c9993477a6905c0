"""Harbor-compatible management REST API under /api/v2.0/ (users, projects, members,
robots, repositories, artifacts, audit logs). Same credentials as /v2 (Basic or Bearer).
Handlers only translate HTTP ↔ the auth services and the metadata/content interfaces."""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from aiohttp import web

from wharf.auth.errors import AuthError, BadRequest, Forbidden, NotFound
from wharf.auth.models import (
    DELETE,
    LIST,
    PULL,
    REGISTRY_ACTIONS,
    ROLE_NAMES,
    AuditEvent,
    Member,
    Project,
    Robot,
    Role,
    User,
)
from wharf.auth.service import CLIENT_IP, AuthService, Principal
from wharf.auth.store import AuditQuery, Page
from wharf.registry.events import Actor
from wharf.registry.http.credentials import BadCredentials, authenticate, client_ip
from wharf.registry.http.keys import AUTH, CONTENT, STORE
from wharf.registry.oci.errors import RegistryError
from wharf.registry.oci.names import parse_digest

PREFIX = "/api/v2.0"
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _time(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(data), content_type="application/json", headers=headers
    )


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return _json({"errors": [{"code": code, "message": message}]}, status, headers)


def _created(location: str) -> web.Response:
    return web.Response(status=201, headers={"Location": location})


def handler(fn: Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]) -> Handler:
    """Authenticate, run, and turn service errors into Harbor's error envelope."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        CLIENT_IP.set(client_ip(request))
        try:
            caller = await authenticate(request)
        except BadCredentials:
            return _error(
                401,
                "UNAUTHORIZED",
                "invalid credentials",
                {"WWW-Authenticate": 'Basic realm="wharf"'},
            )
        principal = caller.principal
        try:
            return await fn(request, principal)
        except Forbidden as exc:
            if not principal.authenticated:
                return _error(401, "UNAUTHORIZED", "authentication required")
            return _error(exc.status, exc.code, exc.message)
        except AuthError as exc:
            return _error(exc.status, exc.code, exc.message)
        except RegistryError as exc:
            return _error(exc.status, exc.error.code, exc.message)

    return wrapped


def _actor(request: web.Request, principal: Principal) -> Actor:
    return Actor(principal.audit_name, client_ip(request))


def _auth(request: web.Request) -> AuthService:
    return request.config_dict[AUTH]


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise BadRequest("the body must be JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _int(value: str, what: str) -> int:
    if not value.isdigit():
        raise BadRequest(f"{what} must be a number")
    return int(value)


def _bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key)
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be true or false")
    return value


def _page(request: web.Request) -> Page:
    try:
        page = max(1, int(request.query.get("page", "1")))
        size = min(100, max(1, int(request.query.get("page_size", "10"))))
    except ValueError:
        raise BadRequest("page and page_size must be numbers") from None
    return Page((page - 1) * size, size)


def _paged(request: web.Request, items: list[Any], total: int, page: Page) -> web.Response:
    """Harbor's pagination: X-Total-Count and a Link header with prev/next."""
    number = page.offset // page.limit + 1
    links = []
    query = {k: v for k, v in request.query.items() if k not in ("page", "page_size")}

    def url(n: int) -> str:
        q = urllib.parse.urlencode({**query, "page": n, "page_size": page.limit})
        return f"<{request.path}?{q}>"

    if number > 1:
        links.append(f'{url(number - 1)}; rel="prev"')
    if page.offset + page.limit < total:
        links.append(f'{url(number + 1)}; rel="next"')
    headers = {"X-Total-Count": str(total)}
    if links:
        headers["Link"] = ", ".join(links)
    return _json(items, headers=headers)


def _slice(items: Sequence[T], page: Page) -> list[T]:
    return list(items[page.offset : page.offset + page.limit])


def _project_ref(request: web.Request) -> str | int:
    ref = request.match_info["project"]
    if request.headers.get("X-Is-Resource-Name", "").lower() == "true" or not ref.isdigit():
        return ref
    return int(ref)


# --- users ---------------------------------------------------------------------------


def _user(user: User) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "username": user.username,
        "email": user.email,
        "realname": user.realname,
        "comment": user.comment,
        "sysadmin_flag": user.sysadmin,
        "enabled": user.enabled,
        "creation_time": _time(user.created),
        "update_time": _time(user.updated),
    }


@handler
async def create_user(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await _body(request)
    user = await _auth(request).create_user(
        actor,
        str(body.get("username", "")),
        str(body.get("password", "")),
        email=str(body.get("email") or ""),
        realname=str(body.get("realname") or ""),
        comment=str(body.get("comment") or ""),
    )
    return _created(f"{PREFIX}/users/{user.id}")


@handler
async def list_users(request: web.Request, actor: Principal) -> web.StreamResponse:
    page = _page(request)
    q = request.query.get("q", "")
    name = (
        q.split("=", 1)[1].lstrip("~")
        if q.startswith("username=")
        else request.query.get("username")
    )
    users, total = await _auth(request).list_users(actor, name, page)
    return _paged(request, [_user(u) for u in users], total, page)


@handler
async def current_user(request: web.Request, actor: Principal) -> web.StreamResponse:
    if actor.user_id is None:
        raise Forbidden("not a user")
    return _json(_user(await _auth(request).get_user(actor, actor.user_id)))


@handler
async def get_user(request: web.Request, actor: Principal) -> web.StreamResponse:
    user_id = _int(request.match_info["user_id"], "user_id")
    return _json(_user(await _auth(request).get_user(actor, user_id)))


@handler
async def update_user(request: web.Request, actor: Principal) -> web.StreamResponse:
    user_id = _int(request.match_info["user_id"], "user_id")
    body = await _body(request)
    await _auth(request).update_user(
        actor,
        user_id,
        email=body.get("email"),
        realname=body.get("realname"),
        comment=body.get("comment"),
    )
    return web.Response(status=200)


@handler
async def delete_user(request: web.Request, actor: Principal) -> web.StreamResponse:
    await _auth(request).delete_user(actor, _int(request.match_info["user_id"], "user_id"))
    return web.Response(status=200)


@handler
async def set_password(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await _body(request)
    old = body.get("old_password")
    await _auth(request).set_password(
        actor,
        _int(request.match_info["user_id"], "user_id"),
        str(body.get("new_password", "")),
        old_password=old if isinstance(old, str) else None,
    )
    return web.Response(status=200)


@handler
async def set_sysadmin(request: web.Request, actor: Principal) -> web.StreamResponse:
    flag = _bool(await _body(request), "sysadmin_flag")
    user_id = _int(request.match_info["user_id"], "user_id")
    await _auth(request).update_user(actor, user_id, sysadmin=flag)
    return web.Response(status=200)


@handler
async def set_enabled(request: web.Request, actor: Principal) -> web.StreamResponse:
    """Wharf extension: PUT /users/{id}/enabled {"enabled": false} disables a user."""
    flag = _bool(await _body(request), "enabled")
    user_id = _int(request.match_info["user_id"], "user_id")
    await _auth(request).update_user(actor, user_id, enabled=flag)
    return web.Response(status=200)


# --- projects ------------------------------------------------------------------------


def _public_flag(body: dict[str, Any], default: bool | None) -> bool | None:
    metadata = body.get("metadata") or {}
    value = metadata.get("public") if isinstance(metadata, dict) else None
    if value is None:
        value = body.get("public")
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise BadRequest('metadata.public must be "true" or "false"')


async def _project_doc(request: web.Request, actor: Principal, project: Project) -> dict[str, Any]:
    repos = await request.config_dict[STORE].repositories_under(project.name + "/")
    role = actor.roles.get(project.name)
    return {
        "project_id": project.id,
        "name": project.name,
        "owner_id": project.owner_id,
        "creation_time": _time(project.created),
        "update_time": _time(project.updated),
        "repo_count": len(repos),
        "current_user_role_id": int(role) if role is not None else 0,
        "metadata": {"public": "true" if project.public else "false"},
    }


@handler
async def create_project(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await _body(request)
    public = _public_flag(body, False)
    project = await _auth(request).create_project(
        actor, str(body.get("project_name", "")), public=bool(public)
    )
    return _created(f"{PREFIX}/projects/{project.id}")


@handler
async def head_project(request: web.Request, actor: Principal) -> web.StreamResponse:
    name = request.query.get("project_name")
    if not name:
        raise BadRequest("project_name is required")
    exists = await _auth(request).project_exists(name)
    return web.Response(status=200 if exists else 404)


@handler
async def list_projects(request: web.Request, actor: Principal) -> web.StreamResponse:
    page = _page(request)
    projects, total = await _auth(request).list_projects(actor, request.query.get("name"), page)
    docs = [await _project_doc(request, actor, p) for p in projects]
    return _paged(request, docs, total, page)


@handler
async def get_project(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await _auth(request).get_project(actor, _project_ref(request))
    return _json(await _project_doc(request, actor, project))


@handler
async def update_project(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await _body(request)
    public = _public_flag(body, None)
    if public is None:
        raise BadRequest("nothing to change (metadata.public)")
    await _auth(request).update_project(actor, _project_ref(request), public=public)
    return web.Response(status=200)


@handler
async def delete_project(request: web.Request, actor: Principal) -> web.StreamResponse:
    auth = _auth(request)
    project = await auth.get_project(actor, _project_ref(request))
    repos = await request.config_dict[STORE].repositories_under(project.name + "/")
    repos += [
        r
        for r in await request.config_dict[STORE].repositories_under(project.name)
        if r.name == project.name
    ]
    try:
        await auth.delete_project(actor, project.id, has_repositories=bool(repos))
    except BadRequest as exc:
        return _error(412, "PRECONDITION", exc.message)
    return web.Response(status=200)


# --- members -------------------------------------------------------------------------


def _member(member: Member) -> dict[str, Any]:
    return {
        "id": member.id,
        "project_id": member.project_id,
        "entity_name": member.username,
        "entity_id": member.user_id,
        "entity_type": "u",
        "role_id": int(member.role),
        "role_name": ROLE_NAMES[member.role],
    }


def _role(value: Any) -> Role:
    try:
        return Role(int(value))
    except (TypeError, ValueError):
        raise BadRequest(
            "role_id must be 1 (project admin), 2 (developer), 3 (guest), "
            "4 (maintainer) or 5 (limited guest)"
        ) from None


@handler
async def list_members(request: web.Request, actor: Principal) -> web.StreamResponse:
    members = await _auth(request).list_members(actor, _project_ref(request))
    name = request.query.get("entityname")
    if name:
        members = [m for m in members if name in m.username]
    page = _page(request)
    return _paged(request, [_member(m) for m in _slice(members, page)], len(members), page)


@handler
async def get_member(request: web.Request, actor: Principal) -> web.StreamResponse:
    member_id = _int(request.match_info["mid"], "member id")
    for member in await _auth(request).list_members(actor, _project_ref(request)):
        if member.id == member_id:
            return _json(_member(member))
    raise NotFound("no such member")


@handler
async def add_member(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await _body(request)
    role = _role(body.get("role_id"))
    member_user = body.get("member_user") or {}
    username = member_user.get("username") if isinstance(member_user, dict) else None
    auth = _auth(request)
    if not username and isinstance(member_user, dict) and member_user.get("user_id"):
        user = await auth.store.get_user_by_id(int(member_user["user_id"]))
        username = user.username if user else None
    if not isinstance(username, str) or not username:
        raise BadRequest("member_user.username is required")
    member = await auth.add_member(actor, _project_ref(request), username, role)
    return _created(f"{PREFIX}/projects/{request.match_info['project']}/members/{member.id}")


@handler
async def update_member(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await _body(request)
    await _auth(request).update_member(
        actor,
        _project_ref(request),
        _int(request.match_info["mid"], "member id"),
        _role(body.get("role_id")),
    )
    return web.Response(status=200)


@handler
async def delete_member(request: web.Request, actor: Principal) -> web.StreamResponse:
    await _auth(request).delete_member(
        actor, _project_ref(request), _int(request.match_info["mid"], "member id")
    )
    return web.Response(status=200)


# --- robots --------------------------------------------------------------------------


def _robot(robot: Robot) -> dict[str, Any]:
    return {
        "id": robot.id,
        "name": robot.name,
        "description": robot.description,
        "level": "project" if robot.project else "system",
        "disable": robot.disabled,
        "expires_at": -1 if robot.expires_at is None else int(robot.expires_at),
        "creation_time": _time(robot.created),
        "update_time": _time(robot.updated),
        "permissions": [
            {
                "kind": "project",
                "namespace": namespace,
                "access": [{"resource": "repository", "action": a} for a in sorted(actions)],
            }
            for namespace, actions in sorted(robot.permissions.items())
        ],
    }


def _robot_permissions(body: dict[str, Any]) -> dict[str, frozenset[str]]:
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
            if item.get("resource", "repository") not in ("repository", "artifact", "tag"):
                continue  # Harbor resources Wharf does not model yet
            if action not in REGISTRY_ACTIONS:
                raise BadRequest("access[].action must be pull, push or delete")
            actions.add(str(action))
    return {ns: frozenset(a) for ns, a in perms.items() if a}


@handler
async def create_robot(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await _body(request)
    duration = body.get("duration", -1)
    if not isinstance(duration, int):
        raise BadRequest("duration must be a number of days, or -1")
    created = await _auth(request).create_robot(
        actor,
        str(body.get("name", "")),
        _robot_permissions(body),
        level=str(body.get("level", "project")),
        duration_days=duration,
        description=str(body.get("description") or ""),
    )
    robot = created.robot
    return _json(
        {
            "id": robot.id,
            "name": robot.name,
            "secret": created.secret,
            "creation_time": _time(robot.created),
            "expires_at": -1 if robot.expires_at is None else int(robot.expires_at),
        },
        status=201,
        headers={"Location": f"{PREFIX}/robots/{robot.id}"},
    )


def _robot_project_filter(request: web.Request) -> str | None:
    """Harbor's ``q=Level=project,ProjectID=3``; also plain ``?project=name``."""
    if request.query.get("project"):
        return request.query["project"]
    for part in request.query.get("q", "").split(","):
        key, _, value = part.partition("=")
        if key.lower() in ("projectid", "project_id") and value.strip("~").isdigit():
            return "#" + value.strip("~")
    return None


@handler
async def list_robots(request: web.Request, actor: Principal) -> web.StreamResponse:
    auth = _auth(request)
    project = _robot_project_filter(request)
    if project is not None and project.startswith("#"):
        found = await auth.store.get_project_by_id(int(project[1:]))
        if found is None:
            raise NotFound("no such project")
        project = found.name
    page = _page(request)
    robots, total = await auth.list_robots(actor, project, page)
    return _paged(request, [_robot(r) for r in robots], total, page)


@handler
async def get_robot(request: web.Request, actor: Principal) -> web.StreamResponse:
    robot = await _auth(request).get_robot(actor, _int(request.match_info["rid"], "robot id"))
    return _json(_robot(robot))


@handler
async def update_robot(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await _body(request)
    disable = body.get("disable")
    duration = body.get("duration")
    await _auth(request).update_robot(
        actor,
        _int(request.match_info["rid"], "robot id"),
        disabled=disable if isinstance(disable, bool) else None,
        description=body.get("description") if isinstance(body.get("description"), str) else None,
        duration_days=duration if isinstance(duration, int) else None,
    )
    return web.Response(status=200)


@handler
async def refresh_robot(request: web.Request, actor: Principal) -> web.StreamResponse:
    secret = await _auth(request).refresh_robot_secret(
        actor, _int(request.match_info["rid"], "robot id")
    )
    return _json({"secret": secret})


@handler
async def delete_robot(request: web.Request, actor: Principal) -> web.StreamResponse:
    await _auth(request).delete_robot(actor, _int(request.match_info["rid"], "robot id"))
    return web.Response(status=200)


# --- repositories and artifacts ------------------------------------------------------


def _repo_name(request: web.Request, project: str) -> str:
    # Harbor: the name inside the project, URL-encoded twice (a/b → a%252Fb).
    return f"{project}/{urllib.parse.unquote(request.match_info['repo'])}"


@handler
async def list_repositories(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await _auth(request).require_project(actor, _project_ref(request), LIST)
    repos = await request.config_dict[STORE].repositories_under(project.name + "/")
    name = request.query.get("name") or ""
    repos = [r for r in repos if name in r.name]
    page = _page(request)
    docs = [
        {
            "name": r.name,
            "project_id": project.id,
            "artifact_count": r.artifact_count,
            "creation_time": _time(r.created),
            "update_time": _time(r.updated),
        }
        for r in _slice(repos, page)
    ]
    return _paged(request, docs, len(repos), page)


@handler
async def delete_repository(request: web.Request, actor: Principal) -> web.StreamResponse:
    auth = _auth(request)
    project = await auth.require_project(actor, _project_ref(request), DELETE)
    repo = _repo_name(request, project.name)
    try:
        await request.config_dict[CONTENT].repositories.delete(repo, _actor(request, actor))
    except RegistryError as exc:
        if exc.error.code == "NAME_UNKNOWN":
            raise NotFound(f"repository {repo} not found") from None
        raise
    return web.Response(status=200)


@handler
async def list_artifacts(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await _auth(request).require_project(actor, _project_ref(request), PULL)
    if LIST not in actor.permissions(project.name):
        raise Forbidden("permission denied")
    repo = _repo_name(request, project.name)
    artifacts = await request.config_dict[STORE].artifacts(repo)
    if artifacts is None:
        raise NotFound(f"repository {repo} not found")
    page = _page(request)
    docs = [
        {
            "digest": a.record.digest,
            "media_type": a.record.media_type,
            "manifest_media_type": a.record.media_type,
            "artifact_type": a.record.artifact_type,
            "size": a.record.size,
            "push_time": _time(a.created),
            "repository_name": repo,
            "project_id": project.id,
            "tags": [{"name": t, "push_time": _time(u)} for t, u in a.tags],
        }
        for a in _slice(artifacts, page)
    ]
    return _paged(request, docs, len(artifacts), page)


@handler
async def delete_artifact(request: web.Request, actor: Principal) -> web.StreamResponse:
    auth = _auth(request)
    project = await auth.require_project(actor, _project_ref(request), DELETE)
    repo = _repo_name(request, project.name)
    reference = urllib.parse.unquote(request.match_info["reference"])
    manifests = request.config_dict[CONTENT].manifests
    if ":" in reference:
        digest = parse_digest(reference)
    else:
        digest = parse_digest((await manifests.find(repo, reference)).digest)
    await manifests.delete(repo, digest, _actor(request, actor))
    return web.Response(status=200)


# --- audit logs ----------------------------------------------------------------------


def _event(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "username": event.username,
        "operation": event.operation,
        "resource_type": event.resource_type,
        "resource": event.resource,
        "project": event.project,
        "client_ip": event.client_ip,
        "result": event.result,
        "detail": event.detail,
        "op_time": _time(event.time),
    }


def _audit_query(request: web.Request, project: str | None) -> AuditQuery:
    """Harbor's ``q=operation=push,username=bob,resource=~nginx`` plus plain parameters."""
    fields: dict[str, str] = {}
    for part in request.query.get("q", "").split(","):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip().lower()] = value.strip().lstrip("~")
    for key in ("operation", "username", "resource"):
        if key in request.query:
            fields[key] = request.query[key]
    return AuditQuery(
        project=project,
        username=fields.get("username"),
        operation=fields.get("operation"),
        resource=fields.get("resource"),
    )


@handler
async def audit_logs(request: web.Request, actor: Principal) -> web.StreamResponse:
    page = _page(request)
    project = request.query.get("project")
    events, total = await _auth(request).list_events(actor, _audit_query(request, project), page)
    return _paged(request, [_event(e) for e in events], total, page)


@handler
async def project_logs(request: web.Request, actor: Principal) -> web.StreamResponse:
    found = await _auth(request).get_project(actor, _project_ref(request))
    page = _page(request)
    events, total = await _auth(request).list_events(actor, _audit_query(request, found.name), page)
    return _paged(request, [_event(e) for e in events], total, page)


def add_routes(app: web.Application) -> None:
    r = app.router
    p = PREFIX
    r.add_get(f"{p}/users", list_users)
    r.add_post(f"{p}/users", create_user)
    r.add_get(f"{p}/users/current", current_user)
    r.add_get(f"{p}/users/{{user_id}}", get_user)
    r.add_put(f"{p}/users/{{user_id}}", update_user)
    r.add_delete(f"{p}/users/{{user_id}}", delete_user)
    r.add_put(f"{p}/users/{{user_id}}/password", set_password)
    r.add_put(f"{p}/users/{{user_id}}/sysadmin", set_sysadmin)
    r.add_put(f"{p}/users/{{user_id}}/enabled", set_enabled)
    r.add_route("HEAD", f"{p}/projects", head_project)
    r.add_get(f"{p}/projects", list_projects, allow_head=False)
    r.add_post(f"{p}/projects", create_project)
    r.add_get(f"{p}/projects/{{project}}", get_project)
    r.add_put(f"{p}/projects/{{project}}", update_project)
    r.add_delete(f"{p}/projects/{{project}}", delete_project)
    r.add_get(f"{p}/projects/{{project}}/members", list_members)
    r.add_post(f"{p}/projects/{{project}}/members", add_member)
    r.add_get(f"{p}/projects/{{project}}/members/{{mid}}", get_member)
    r.add_put(f"{p}/projects/{{project}}/members/{{mid}}", update_member)
    r.add_delete(f"{p}/projects/{{project}}/members/{{mid}}", delete_member)
    r.add_get(f"{p}/projects/{{project}}/logs", project_logs)
    r.add_get(f"{p}/projects/{{project}}/repositories", list_repositories)
    r.add_delete(f"{p}/projects/{{project}}/repositories/{{repo}}", delete_repository)
    r.add_get(f"{p}/projects/{{project}}/repositories/{{repo}}/artifacts", list_artifacts)
    r.add_delete(
        f"{p}/projects/{{project}}/repositories/{{repo}}/artifacts/{{reference}}", delete_artifact
    )
    r.add_get(f"{p}/robots", list_robots)
    r.add_post(f"{p}/robots", create_robot)
    r.add_get(f"{p}/robots/{{rid}}", get_robot)
    r.add_put(f"{p}/robots/{{rid}}", update_robot)
    r.add_patch(f"{p}/robots/{{rid}}", refresh_robot)
    r.add_delete(f"{p}/robots/{{rid}}", delete_robot)
    r.add_get(f"{p}/audit-logs", audit_logs)
