"""Harbor's /projects/{project}/summary (repositories, storage used, members by role) and
/projects/{project}/_deletable (whether, and why not)."""

from __future__ import annotations

from collections import Counter

from aiohttp import web

from wharf.auth.errors import NotFound
from wharf.auth.models import Role, policy
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.artifacts import require
from wharf.registry.http.harbor.common import auth_of, authenticated, content_of, json_response
from wharf.registry.http.harbor.registries import Registry, registry_doc
from wharf.registry.http.harbor.spec import IS_RESOURCE_NAME, PROJECT_NAME_OR_ID, Api, Model, Reply
from wharf.registry.http.keys import REGISTRIES, STORE

NOT_EMPTY = "the project contains repositories, can not be deleted"


class ProjectSummaryQuota(Model):
    hard: dict[str, int]
    used: dict[str, int]


class ProjectSummary(Model):
    repo_count: int
    project_admin_count: int | None = None
    maintainer_count: int | None = None
    developer_count: int | None = None
    guest_count: int | None = None
    limited_guest_count: int | None = None
    quota: ProjectSummaryQuota | None = None
    registry: Registry | None = None  # what a proxy-cache project mirrors


class ProjectDeletable(Model):
    deletable: bool
    message: str


api = Api("project")


@api.operation(
    "getProjectSummary",
    "GET",
    "/projects/{project_name_or_id}/summary",
    summary="A project's repositories, storage used and members by role",
    params=(IS_RESOURCE_NAME, PROJECT_NAME_OR_ID),
    replies={200: Reply("The summary", ProjectSummary)},
    errors=(400, 403, 404),
)
@authenticated
async def project_summary(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await require(request, actor, "project", "read")
    store = request.config_dict[STORE]
    summary = ProjectSummary(repo_count=len(await store.repositories_under(project.name + "/")))
    allowed = actor.permissions(project.name)
    if policy("quota", "read") in allowed:
        quota = await content_of(request).quotas.get(project.name)
        summary.quota = ProjectSummaryQuota(
            hard={"storage": quota.hard}, used={"storage": quota.used}
        )
    if policy("member", "list") in allowed:
        roles = Counter(m.role for m in await auth_of(request).store.list_members(project.id))
        summary.project_admin_count = roles[Role.PROJECT_ADMIN]
        summary.maintainer_count = roles[Role.MAINTAINER]
        summary.developer_count = roles[Role.DEVELOPER]
        summary.guest_count = roles[Role.GUEST]
        summary.limited_guest_count = roles[Role.LIMITED_GUEST]
    if project.registry_id is not None:  # as Harbor: the registry, without its credential
        try:
            registry = await request.config_dict[REGISTRIES].get(project.registry_id)
        except NotFound:
            registry = None
        if registry is not None:
            summary.registry = registry_doc(registry).model_copy(update={"credential": None})
    return json_response(summary)


@api.operation(
    "getProjectDeletable",
    "GET",
    "/projects/{project_name_or_id}/_deletable",
    summary="Whether a project may be deleted now, and why not",
    params=(IS_RESOURCE_NAME, PROJECT_NAME_OR_ID),
    replies={200: Reply("Whether it is deletable", ProjectDeletable)},
    errors=(403, 404),
)
@authenticated
async def project_deletable(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await require(request, actor, "project", "delete")
    repos = await request.config_dict[STORE].repositories_under(project.name + "/")
    if repos:
        return json_response(ProjectDeletable(deletable=False, message=NOT_EMPTY))
    return json_response(ProjectDeletable(deletable=True, message=""))
