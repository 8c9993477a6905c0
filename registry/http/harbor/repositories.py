"""Harbor's repositories: every one the caller may see, a project's, one (read, change its
description, delete through the content core)."""

from __future__ import annotations

from aiohttp import web

from wharf.auth.errors import NotFound
from wharf.auth.models import Project
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.artifacts import REPOSITORY_NAME, repository_name, require
from wharf.registry.http.harbor.common import (
    auth_of,
    authenticated,
    content_of,
    event_actor,
    harbor_time,
    json_response,
    ok,
    paged,
)
from wharf.registry.http.harbor.query import Fields, Sort, list_query, page_of, select
from wharf.registry.http.harbor.spec import (
    LISTING,
    PAGE_HEADERS,
    PROJECT_NAME,
    Api,
    Model,
    Reply,
    read_body,
)
from wharf.registry.http.keys import STORE
from wharf.registry.metadata.base import RepositoryInfo
from wharf.registry.oci.errors import NAME_UNKNOWN, RegistryError


class Repository(Model):
    id: int | None = None
    project_id: int | None = None
    name: str | None = None
    description: str | None = None
    artifact_count: int | None = None
    pull_count: int | None = None
    creation_time: str | None = None
    update_time: str | None = None


_HTML = str.maketrans({"&": "&amp;", "'": "&#39;", "<": "&lt;", ">": "&gt;", '"': "&#34;"})


def html_escaped(text: str) -> str:
    """Go's template.HTMLEscapeString, which Harbor stores descriptions through."""
    return text.replace("\0", "\ufffd").translate(_HTML)


def repository_doc(repo: RepositoryInfo, project_id: int) -> Repository:
    return Repository(
        id=repo.id,
        project_id=project_id,
        name=repo.name,
        description=repo.description,
        artifact_count=repo.artifact_count,
        pull_count=repo.pull_count,
        creation_time=harbor_time(repo.created),
        update_time=harbor_time(repo.updated),
    )


# (repository, its project's id)
Listed = tuple[RepositoryInfo, int]

REPOSITORY_FIELDS: Fields[Listed] = Fields(
    filters={
        "name": lambda r: r[0].name,
        "id": lambda r: r[0].id,
        "repository_id": lambda r: r[0].id,
        "project_id": lambda r: r[1],
        "description": lambda r: r[0].description,
        "pull_count": lambda r: r[0].pull_count,
        "creation_time": lambda r: r[0].created,
        "update_time": lambda r: r[0].updated,
    },
    sorts={
        "name": lambda r: r[0].name,
        "id": lambda r: r[0].id,
        "repository_id": lambda r: r[0].id,
        "project_id": lambda r: r[1],
        "pull_count": lambda r: r[0].pull_count,
        "creation_time": lambda r: r[0].created,
        "update_time": lambda r: r[0].updated,
    },
    default=(Sort("creation_time", True), Sort("id", True)),
)

api = Api("repository")


def answer(request: web.Request, listed: list[Listed]) -> web.Response:
    query = list_query(request)
    kept = select(listed, query, REPOSITORY_FIELDS)
    docs = [repository_doc(repo, project_id) for repo, project_id in page_of(kept, query)]
    return paged(request, docs, len(kept), query)


@api.operation(
    "listAllRepositories",
    "GET",
    "/repositories",
    summary="Every repository of the projects the caller may see",
    params=LISTING,
    replies={200: Reply("The repositories", list[Repository], PAGE_HEADERS)},
    errors=(400,),
)
@authenticated
async def list_all_repositories(request: web.Request, actor: Principal) -> web.StreamResponse:
    list_query(request)  # a malformed query is refused whoever asks
    ids = {p.name: p.id for p in await auth_of(request).projects.visible(actor)}
    listed = [
        (repo, ids[project])
        for repo in await request.config_dict[STORE].repositories_under("")
        if (project := repo.name.split("/", 1)[0]) in ids
    ]
    return answer(request, listed)


@api.operation(
    "listRepositories",
    "GET",
    "/projects/{project_name}/repositories",
    summary="A project's repositories",
    params=(PROJECT_NAME, *LISTING),
    replies={200: Reply("The repositories", list[Repository], PAGE_HEADERS)},
    errors=(400, 403, 404),
)
@authenticated
async def list_repositories(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await require(request, actor, "repository", "list")
    repos = await request.config_dict[STORE].repositories_under(project.name + "/")
    return answer(request, [(repo, project.id) for repo in repos])


async def existing(request: web.Request, project: Project) -> RepositoryInfo:
    name = repository_name(request, project.name)
    found = await request.config_dict[STORE].repository(name)
    if found is None:
        raise NotFound(f"repository {name} not found")
    return found


@api.operation(
    "getRepository",
    "GET",
    "/projects/{project_name}/repositories/{repository_name}",
    summary="One repository",
    params=(PROJECT_NAME, REPOSITORY_NAME),
    replies={200: Reply("The repository", Repository)},
    errors=(400, 403, 404),
)
@authenticated
async def get_repository(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await require(request, actor, "repository", "read")
    return json_response(repository_doc(await existing(request, project), project.id))


@api.operation(
    "updateRepository",
    "PUT",
    "/projects/{project_name}/repositories/{repository_name}",
    summary="Change a repository's description",
    params=(PROJECT_NAME, REPOSITORY_NAME),
    body=Repository,
    replies={200: Reply("Updated")},
    errors=(400, 403, 404),
)
@authenticated
async def update_repository(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, Repository)
    project = await require(request, actor, "repository", "update")
    repo = await existing(request, project)
    description = html_escaped(req.description or "")
    try:
        await content_of(request).repositories.describe(
            repo.name, description, event_actor(request, actor)
        )
    except RegistryError as exc:
        if exc.error is NAME_UNKNOWN:
            raise NotFound(f"repository {repo.name} not found") from None
        raise
    return ok()


@api.operation(
    "deleteRepository",
    "DELETE",
    "/projects/{project_name}/repositories/{repository_name}",
    summary="Delete a repository with every artifact in it",
    params=(PROJECT_NAME, REPOSITORY_NAME),
    replies={200: Reply("Deleted")},
    errors=(400, 403, 404, 412),
)
@authenticated
async def delete_repository(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await require(request, actor, "repository", "delete")
    repo = repository_name(request, project.name)
    try:
        await content_of(request).repositories.delete(repo, event_actor(request, actor))
    except RegistryError as exc:
        if exc.error is NAME_UNKNOWN:
            raise NotFound(f"repository {repo} not found") from None
        raise
    return ok()
