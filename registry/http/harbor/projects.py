"""Harbor's /projects: create, existence check (HEAD), list, read, change visibility,
delete (empty projects only, through the content core)."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from wharf.auth.access import require_admin
from wharf.auth.errors import BadRequest, Forbidden, NotFound
from wharf.auth.models import PROJECT
from wharf.auth.models import Project as ProjectRecord
from wharf.auth.principals import Principal
from wharf.registry.content.quotas import InvalidLimit
from wharf.registry.http.harbor.common import (
    auth_of,
    authenticated,
    content_of,
    created_here,
    event_actor,
    harbor_time,
    json_response,
    ok,
    paged,
    project_ref,
)
from wharf.registry.http.harbor.query import Fields, Sort, list_query, page_of, select
from wharf.registry.http.harbor.spec import (
    IS_RESOURCE_NAME,
    LISTING,
    PAGE_HEADERS,
    PROJECT_NAME_OR_ID,
    RESOURCE_NAME_IN_LOCATION,
    Api,
    Model,
    Param,
    Reply,
    as_bool,
    read_body,
)
from wharf.registry.http.keys import PROXY, REGISTRIES, STORE
from wharf.registry.policy.quota import valid_limit

# the registry types a proxy-cache project may mirror (Harbor's permitted types, as far as
# Wharf has their adapters)
PROXY_REGISTRY_TYPES = frozenset({"docker-hub", "docker-registry", "harbor", "wharf", "oci"})


def public_flag(req: ProjectReq) -> bool | None:
    """``metadata.public`` ("true"/"false"), else the deprecated top-level ``public``."""
    value = req.metadata.public if req.metadata is not None else None
    if value is None:
        return req.public
    if value not in ("true", "false"):
        raise BadRequest(f"metadata.public should only be 'true' or 'false', but got: '{value}'")
    return value == "true"


class ProjectMetadata(Model):
    """A project's settings; Harbor's values are strings ("true", "false", …)."""

    public: str | None = None
    enable_content_trust: str | None = None
    enable_content_trust_cosign: str | None = None
    prevent_vul: str | None = None
    severity: str | None = None
    auto_scan: str | None = None
    auto_sbom_generation: str | None = None
    reuse_sys_cve_allowlist: str | None = None
    retention_id: str | None = None
    proxy_speed_kb: str | None = None
    max_upstream_conn: str | None = None
    proxy_cache_local_on_not_found: str | None = None
    proxy_referrer_api: str | None = None
    proxy_cache_filter_pattern: str | None = None
    proxy_cache_filter_kind: str | None = None


class CVEAllowlistItem(Model):
    cve_id: str | None = None


class CVEAllowlist(Model):
    id: int | None = None
    project_id: int | None = None
    expires_at: int | None = None
    items: list[CVEAllowlistItem] = Field(default_factory=list)
    creation_time: str | None = None
    update_time: str | None = None


class ProjectReq(Model):
    project_name: str | None = Field(None, max_length=255)
    public: bool | None = None
    metadata: ProjectMetadata | None = None
    cve_allowlist: CVEAllowlist | None = None
    storage_limit: int | None = None
    registry_id: int | None = None


class Project(Model):
    project_id: int
    owner_id: int
    name: str
    registry_id: int | None = None
    creation_time: str | None
    update_time: str | None
    deleted: bool = False
    owner_name: str
    togglable: bool
    current_user_role_id: int
    current_user_role_ids: list[int]
    repo_count: int
    metadata: ProjectMetadata
    cve_allowlist: CVEAllowlist


async def owner_names(request: web.Request, projects: list[ProjectRecord]) -> dict[int, str]:
    users = auth_of(request).users
    found: dict[int, str] = {}
    for owner_id in {p.owner_id for p in projects if p.owner_id}:
        name = await users.username_of(owner_id)
        if name is not None:
            found[owner_id] = name
    return found


def other_metadata(req: ProjectReq) -> dict[str, str]:
    """The metadata besides ``public`` that was sent (Harbor keeps them as strings)."""
    if req.metadata is None:
        return {}
    sent = req.metadata.model_dump(exclude_none=True, exclude={"public"})
    return {key: str(value) for key, value in sent.items()}


PROJECT_FIELDS: Fields[ProjectRecord] = Fields(
    filters={
        "name": lambda p: p.name,
        "project_id": lambda p: p.id,
        "public": lambda p: p.public,
        "owner_id": lambda p: p.owner_id,
        "creation_time": lambda p: p.created,
        "update_time": lambda p: p.updated,
    },
    sorts={
        "name": lambda p: p.name,
        "project_id": lambda p: p.id,
        "creation_time": lambda p: p.created,
        "update_time": lambda p: p.updated,
    },
    default=(Sort("name"),),
)


async def project_doc(
    request: web.Request,
    actor: Principal,
    project: ProjectRecord,
    owners: dict[int, str] | None = None,
) -> Project:
    repos = await request.config_dict[STORE].repositories_under(project.name + "/")
    role = actor.roles.get(project.name)
    if owners is None:
        owners = await owner_names(request, [project])
    metadata = ProjectMetadata.model_validate(
        {**project.metadata, "public": "true" if project.public else "false"}
    )
    return Project(
        project_id=project.id,
        owner_id=project.owner_id or 0,
        name=project.name,
        creation_time=harbor_time(project.created),
        update_time=harbor_time(project.updated),
        owner_name=owners.get(project.owner_id or 0, ""),
        togglable=PROJECT in actor.permissions(project.name),
        current_user_role_id=int(role) if role is not None else 0,
        current_user_role_ids=[int(role)] if role is not None else [],
        registry_id=project.registry_id,
        repo_count=len(repos),
        metadata=metadata,
        cve_allowlist=CVEAllowlist(project_id=project.id, items=[]),
    )


async def holds_repositories(request: web.Request, project: str) -> bool:
    """Whether any repository lives in ``project`` (or is named like it)."""
    store = request.config_dict[STORE]
    if await store.repositories_under(project + "/"):
        return True
    return any(r.name == project for r in await store.repositories_under(project))


api = Api("project")
PROJECT_ERRORS = (401, 403, 404)


@api.operation(
    "createProject",
    "POST",
    "/projects",
    summary="Create a new project",
    params=(RESOURCE_NAME_IN_LOCATION,),
    body=ProjectReq,
    replies={201: Reply("Created", headers=("Location",))},
    errors=(400, 403, 409),
)
@authenticated
async def create_project(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, ProjectReq)
    public = public_flag(req)
    auth = auth_of(request)
    # as Harbor: the caller's storage_limit counts only from a system admin (and not 0);
    # else the configured default
    limit = req.storage_limit
    if limit is None or limit == 0 or not actor.sysadmin:
        limit = (await auth.configuration.current()).storage_per_project
    if not valid_limit(limit):
        raise BadRequest(f"invalid storage_limit {limit}: -1 (unlimited) or 1 to 1024 TB")
    metadata = other_metadata(req)
    if req.registry_id is None:  # as Harbor: proxy settings only mean something on a proxy
        metadata = {k: v for k, v in metadata.items() if k not in PROXY_ONLY_METADATA}
    else:
        if not actor.sysadmin:
            raise Forbidden("Only system admin can create proxy cache project")
        await check_proxy_registry(request, req.registry_id)
        metadata.pop("enable_content_trust", None)
    project = await auth.projects.create(
        actor,
        req.project_name or "",
        public=bool(public),
        metadata=metadata,
        registry_id=req.registry_id,
    )
    await content_of(request).quotas.set(project.name, limit)
    if project.registry_id is not None:
        await request.config_dict[PROXY].directory.changed()
    return created_here(request, project.id, project.name)


# metadata Harbor drops from a project that is not a proxy cache
PROXY_ONLY_METADATA = frozenset(
    {"proxy_speed_kb", "max_upstream_conn", "proxy_cache_filter_pattern", "proxy_cache_filter_kind"}
)


async def check_proxy_registry(request: web.Request, registry_id: int) -> None:
    """BadRequest unless ``registry_id`` names a stored registry a proxy cache can mirror
    (Harbor's ``validateProjectReq``)."""
    if registry_id <= 0:
        raise BadRequest(
            f"{registry_id} is invalid value of registry_id, it should be geater than 0"
        )
    registry = await request.config_dict[REGISTRIES].get(registry_id)
    if registry.type not in PROXY_REGISTRY_TYPES:
        raise BadRequest(f"unsupported registry type {registry.type}")


@api.operation(
    "headProject",
    "HEAD",
    "/projects",
    summary="Check whether a project name is taken",
    params=(Param("project_name", "query", str, "The project name", required=True),),
    replies={200: Reply("The project exists")},
    errors=(404,),
)
@authenticated
async def head_project(request: web.Request, actor: Principal) -> web.StreamResponse:
    if not await auth_of(request).projects.exists(actor, request.query["project_name"]):
        raise NotFound(f"project {request.query['project_name']} not found")
    return ok()


@api.operation(
    "listProjects",
    "GET",
    "/projects",
    summary="List the projects the caller may see",
    params=(
        *LISTING,
        Param("name", "query", str, "Part of the project name"),
        Param("public", "query", bool, "Only public (true) or private (false) projects"),
        Param("owner", "query", str, "The name of the project owner"),
        Param("with_detail", "query", bool, "Return detailed information", default=True),
    ),
    replies={200: Reply("The projects", list[Project], PAGE_HEADERS)},
    errors=(400,),
)
@authenticated
async def list_projects(request: web.Request, actor: Principal) -> web.StreamResponse:
    query = list_query(request, fuzzy=("name",))
    public = request.query.get("public")
    projects = await auth_of(request).projects.visible(
        actor, None if public is None else as_bool(public)
    )
    owners = await owner_names(request, projects)
    owner = request.query.get("owner") or None
    if owner is not None:
        projects = [p for p in projects if owners.get(p.owner_id or 0) == owner]
    found = select(projects, query, PROJECT_FIELDS)
    docs = [await project_doc(request, actor, p, owners) for p in page_of(found, query)]
    return paged(request, docs, len(found), query)


@api.operation(
    "getProject",
    "GET",
    "/projects/{project_name_or_id}",
    summary="One project",
    params=(IS_RESOURCE_NAME, PROJECT_NAME_OR_ID),
    replies={200: Reply("The project", Project)},
    errors=PROJECT_ERRORS,
)
@authenticated
async def get_project(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await auth_of(request).projects.get(actor, project_ref(request))
    return json_response(await project_doc(request, actor, project))


@api.operation(
    "updateProject",
    "PUT",
    "/projects/{project_name_or_id}",
    summary="Change a project's settings",
    params=(IS_RESOURCE_NAME, PROJECT_NAME_OR_ID),
    body=ProjectReq,
    replies={200: Reply("Updated")},
    errors=(400, *PROJECT_ERRORS),
)
@authenticated
async def update_project(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, ProjectReq)
    project = await auth_of(request).projects.update(
        actor, project_ref(request), public=public_flag(req), metadata=other_metadata(req)
    )
    if req.storage_limit is not None:
        # the project's quota: a system admin's to change (a body repeating the limit in
        # force is fine from anyone allowed to update the project)
        quotas = content_of(request).quotas
        if (await quotas.get(project.name)).hard != req.storage_limit:
            require_admin(actor)
            try:
                await quotas.set(project.name, req.storage_limit)
            except InvalidLimit as exc:
                raise BadRequest(str(exc)) from None
    return ok()


@api.operation(
    "deleteProject",
    "DELETE",
    "/projects/{project_name_or_id}",
    summary="Delete an empty project",
    params=(IS_RESOURCE_NAME, PROJECT_NAME_OR_ID),
    replies={200: Reply("Deleted")},
    errors=(400, 403, 404, 412),
)
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
    if project.registry_id is not None:
        await request.config_dict[PROXY].directory.changed()
    return ok()
