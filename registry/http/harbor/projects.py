"""Harbor's /projects: create, existence check (HEAD), list, read, change visibility,
delete (empty projects only, through the content core)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wharf.auth.errors import BadRequest, NotFound
from wharf.auth.models import PROJECT, Project
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import (
    PREFIX,
    auth_of,
    authenticated,
    content_of,
    created,
    event_actor,
    harbor_time,
    json_body,
    json_response,
    ok,
    paged,
    project_ref,
    requested_page,
)
from wharf.registry.http.keys import STORE


def public_flag(body: dict[str, Any], default: bool | None) -> bool | None:
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


async def project_doc(request: web.Request, actor: Principal, project: Project) -> dict[str, Any]:
    repos = await request.config_dict[STORE].repositories_under(project.name + "/")
    role = actor.roles.get(project.name)
    return {
        "project_id": project.id,
        "name": project.name,
        "owner_id": project.owner_id,
        "creation_time": harbor_time(project.created),
        "update_time": harbor_time(project.updated),
        "repo_count": len(repos),
        "current_user_role_id": int(role) if role is not None else 0,
        "metadata": {"public": "true" if project.public else "false"},
    }


async def holds_repositories(request: web.Request, project: str) -> bool:
    """Whether any repository lives in ``project`` (or is named like it)."""
    store = request.config_dict[STORE]
    if await store.repositories_under(project + "/"):
        return True
    return any(r.name == project for r in await store.repositories_under(project))


@authenticated
async def create_project(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await json_body(request)
    public = public_flag(body, False)
    project = await auth_of(request).projects.create(
        actor, str(body.get("project_name", "")), public=bool(public)
    )
    return created(f"{PREFIX}/projects/{project.id}")


@authenticated
async def head_project(request: web.Request, actor: Principal) -> web.StreamResponse:
    name = request.query.get("project_name")
    if not name:
        raise BadRequest("project_name is required")
    exists = await auth_of(request).projects.exists(name)
    return web.Response(status=200 if exists else 404)


@authenticated
async def list_projects(request: web.Request, actor: Principal) -> web.StreamResponse:
    page = requested_page(request)
    projects, total = await auth_of(request).projects.search(actor, request.query.get("name"), page)
    docs = [await project_doc(request, actor, p) for p in projects]
    return paged(request, docs, total, page)


@authenticated
async def get_project(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await auth_of(request).projects.get(actor, project_ref(request))
    return json_response(await project_doc(request, actor, project))


@authenticated
async def update_project(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await json_body(request)
    public = public_flag(body, None)
    if public is None:
        raise BadRequest("nothing to change (metadata.public)")
    await auth_of(request).projects.set_public(actor, project_ref(request), public)
    return ok()


@authenticated
async def delete_project(request: web.Request, actor: Principal) -> web.StreamResponse:
    projects = auth_of(request).projects
    project = await projects.require(actor, project_ref(request), PROJECT)
    # checked here too until the project store refuses non-empty projects in the delete's
    # own transaction (ProjectNotEmpty); both answer 412
    has_repositories = await holds_repositories(request, project.name)

    async def remove() -> bool:
        return await projects.delete(actor, project, has_repositories=has_repositories)

    core = content_of(request).repositories
    if not await core.delete_project(project.name, event_actor(request, actor), remove):
        raise NotFound(f"project {project.name} not found")
    return ok()


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_route("HEAD", "/projects", head_project)
    router.add_get("/projects", list_projects, allow_head=False)
    router.add_post("/projects", create_project)
    router.add_get("/projects/{project}", get_project)
    router.add_put("/projects/{project}", update_project)
    router.add_delete("/projects/{project}", delete_project)
