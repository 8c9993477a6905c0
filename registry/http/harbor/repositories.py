"""Harbor's /projects/{project}/repositories: list, delete (through the content core)."""

from __future__ import annotations

import urllib.parse

from aiohttp import web

from wharf.auth.errors import NotFound
from wharf.auth.models import DELETE, LIST
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import (
    auth_of,
    authenticated,
    content_of,
    event_actor,
    harbor_time,
    ok,
    page_slice,
    paged,
    project_ref,
    requested_page,
)
from wharf.registry.http.keys import STORE
from wharf.registry.oci.errors import NAME_UNKNOWN, RegistryError


def repository_name(request: web.Request, project: str) -> str:
    """Harbor names a repository inside its project, URL-encoded twice (a/b → a%252Fb)."""
    return f"{project}/{urllib.parse.unquote(request.match_info['repo'])}"


@authenticated
async def list_repositories(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await auth_of(request).projects.require(actor, project_ref(request), LIST)
    repos = await request.config_dict[STORE].repositories_under(project.name + "/")
    name = request.query.get("name") or ""
    repos = [r for r in repos if name in r.name]
    page = requested_page(request)
    docs = [
        {
            "name": r.name,
            "project_id": project.id,
            "artifact_count": r.artifact_count,
            "creation_time": harbor_time(r.created),
            "update_time": harbor_time(r.updated),
        }
        for r in page_slice(repos, page)
    ]
    return paged(request, docs, len(repos), page)


@authenticated
async def delete_repository(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await auth_of(request).projects.require(actor, project_ref(request), DELETE)
    repo = repository_name(request, project.name)
    try:
        await content_of(request).repositories.delete(repo, event_actor(request, actor))
    except RegistryError as exc:
        if exc.error.code == NAME_UNKNOWN.code:
            raise NotFound(f"repository {repo} not found") from None
        raise
    return ok()


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/projects/{project}/repositories", list_repositories)
    router.add_delete("/projects/{project}/repositories/{repo}", delete_repository)
