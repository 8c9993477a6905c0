"""Harbor's system-wide reads: /ping, /health (the components Wharf depends on),
/systeminfo (less for anonymous callers, as in Harbor), /statistics and /search."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from wharf.auth.access import require_system
from wharf.auth.errors import BadRequest, Unauthorized
from wharf.auth.models import Project as ProjectRecord
from wharf.auth.models import policy
from wharf.auth.principals import Principal
from wharf.auth.settings import MODE_NAMES
from wharf.registry.http.harbor.common import auth_of, authenticated, json_response
from wharf.registry.http.harbor.projects import Project, owner_names, project_doc
from wharf.registry.http.harbor.spec import Api, Model, Param, Reply, text_reply
from wharf.registry.http.keys import COORDINATION, DRIVER, SETTINGS, STORE

api = Api("system")

CHECK_TIMEOUT = 3.0  # seconds each component may take to answer


def wharf_version() -> str:
    try:
        return version("wharf")
    except PackageNotFoundError:
        return "0.0.0"


# what Harbor's clients read to gate features: the Harbor API version Wharf follows
HARBOR_VERSION = f"v2.15.0-wharf-{wharf_version()}"


class ComponentHealthStatus(Model):
    name: str
    status: str
    error: str | None = None


class OverallHealthStatus(Model):
    status: str
    components: list[ComponentHealthStatus]


class GeneralInfo(Model):
    banner_message: str | None = None
    current_time: str | None = None
    registry_url: str | None = None
    external_url: str | None = None
    auth_mode: str | None = None
    primary_auth_mode: bool | None = None
    project_creation_restriction: str | None = None
    self_registration: bool | None = None
    has_ca_root: bool | None = None
    harbor_version: str | None = None
    registry_storage_provider_name: str | None = None
    read_only: bool | None = None
    notification_enable: bool | None = None
    oidc_provider_name: str | None = None


class Statistic(Model):
    private_project_count: int
    private_repo_count: int
    public_project_count: int
    public_repo_count: int
    total_project_count: int
    total_repo_count: int
    total_storage_consumption: int


class SearchRepository(Model):
    project_id: int
    project_name: str
    project_public: bool
    repository_name: str
    pull_count: int
    artifact_count: int


class Search(Model):
    project: list[Project]
    repository: list[SearchRepository]


@api.operation(
    "getPing",
    "GET",
    "/ping",
    summary="Whether the API answers",
    replies={200: text_reply("Pong")},
)
async def ping(request: web.Request) -> web.StreamResponse:
    return web.Response(text="Pong", content_type="text/plain")


async def _probe(name: str, probe: Awaitable[object]) -> ComponentHealthStatus:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT)
    except TimeoutError:
        return ComponentHealthStatus(
            name=name, status="unhealthy", error=f"no answer within {CHECK_TIMEOUT:g}s"
        )
    except Exception as exc:
        return ComponentHealthStatus(
            name=name, status="unhealthy", error=f"{type(exc).__name__}: {exc}"
        )
    return ComponentHealthStatus(name=name, status="healthy")


@api.operation(
    "getHealth",
    "GET",
    "/health",
    summary="The health of Wharf's components (database, storage, Redis when configured)",
    replies={200: Reply("The components' status", OverallHealthStatus)},
)
async def health(request: web.Request) -> web.StreamResponse:
    app = request.config_dict
    probes = [_probe("database", app[STORE].ping()), _probe("storage", app[DRIVER].ping())]
    if app[SETTINGS].redis.url is not None:
        probes.append(_probe("redis", app[COORDINATION].ping()))
    components = [ComponentHealthStatus(name="core", status="healthy")]
    components += await asyncio.gather(*probes)
    healthy = all(c.status == "healthy" for c in components)
    return json_response(
        OverallHealthStatus(status="healthy" if healthy else "unhealthy", components=components)
    )


def registry_url(request: web.Request) -> str:
    external = request.config_dict[SETTINGS].external_url
    return (external or f"{request.scheme}://{request.host}").split("://", 1)[1]


@api.operation(
    "getSystemInfo",
    "GET",
    "/systeminfo",
    summary="General settings; registry URL, version and more for signed-in callers",
    replies={200: Reply("The information", GeneralInfo)},
)
@authenticated
async def system_info(request: web.Request, actor: Principal) -> web.StreamResponse:
    settings = request.config_dict[SETTINGS]
    sign_in = await auth_of(
        request
    ).configuration.current()  # the file's, or as set through the API
    info = GeneralInfo(
        auth_mode=MODE_NAMES[sign_in.mode],
        primary_auth_mode=False,
        self_registration=False,
        banner_message="",
        oidc_provider_name="",
    )
    if actor.authenticated:
        url = registry_url(request)
        external = settings.external_url or f"{request.scheme}://{request.host}"
        info = info.model_copy(
            update={
                "has_ca_root": False,
                "project_creation_restriction": settings.auth.project_creation,
                "harbor_version": HARBOR_VERSION,
                "external_url": external,
                "registry_url": url,
                "read_only": settings.read_only,
                "registry_storage_provider_name": settings.storage.driver,
                "notification_enable": False,
                "current_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
        )
    return json_response(info)


class Storage(Model):
    total: int
    free: int


class SystemInfo(Model):
    storage: list[Storage]


def capacity(root: str) -> Storage:
    """Total and free bytes of the filesystem holding ``root`` (free: what unprivileged
    writers may still use); zero when ``root`` does not exist, as Harbor answers."""
    if not os.path.exists(root):
        return Storage(total=0, free=0)
    stat = os.statvfs(root)
    return Storage(total=stat.f_blocks * stat.f_frsize, free=stat.f_bavail * stat.f_frsize)


@api.operation(
    "getVolumes",
    "GET",
    "/systeminfo/volumes",
    summary="Get system volume info (total/free size) of the blob store's local disk",
    replies={200: Reply("Get system volumes successfully.", SystemInfo)},
    errors=(401, 403),
)
@authenticated
async def volumes(request: web.Request, actor: Principal) -> web.StreamResponse:
    require_system(actor, policy("system-volumes", "read"))
    settings = request.config_dict[SETTINGS]
    if settings.storage.driver == "filesystem":
        found = await asyncio.to_thread(capacity, str(settings.storage_root))
    else:  # Harbor reports only local disk: nothing to tell of an object store
        found = Storage(total=0, free=0)
    return json_response(SystemInfo(storage=[found]))


async def _repositories(request: web.Request, project: ProjectRecord) -> list[str]:
    repos = await request.config_dict[STORE].repositories_under(project.name + "/")
    return [r.name for r in repos]


@api.operation(
    "getStatistic",
    "GET",
    "/statistics",
    summary="Counts of the projects and repositories the caller may see",
    replies={200: Reply("The counts", Statistic)},
    errors=(401,),
)
@authenticated
async def statistics(request: web.Request, actor: Principal) -> web.StreamResponse:
    if not actor.authenticated:
        raise Unauthorized("authentication required")
    projects = await auth_of(request).projects.visible(actor)
    counts = {True: [0, 0], False: [0, 0]}  # public → [projects, repositories]
    for project in projects:
        counts[project.public][0] += 1
        counts[project.public][1] += len(await _repositories(request, project))
    total_projects = total_repos = storage = 0
    if actor.sysadmin:
        total_projects = counts[True][0] + counts[False][0]
        total_repos = counts[True][1] + counts[False][1]
        _, _, storage = await request.config_dict[STORE].gc_totals()
    return json_response(
        Statistic(
            private_project_count=counts[False][0],
            private_repo_count=counts[False][1],
            public_project_count=counts[True][0],
            public_repo_count=counts[True][1],
            total_project_count=total_projects,
            total_repo_count=total_repos,
            total_storage_consumption=storage,
        )
    )


@api.operation(
    "search",
    "GET",
    "/search",
    summary="Projects and repositories whose name contains q",
    params=(Param("q", "query", str, "The text to look for", required=True),),
    replies={200: Reply("What was found", Search)},
    errors=(400,),
)
@authenticated
async def search(request: web.Request, actor: Principal) -> web.StreamResponse:
    text = request.query["q"].strip().lower()
    if not text:
        raise BadRequest("q is required")
    projects = await auth_of(request).projects.visible(actor)
    owners = await owner_names(request, projects)
    found_projects = [p for p in projects if text in p.name.lower()]
    repositories: list[SearchRepository] = []
    for project in projects:
        if "list" not in actor.permissions(project.name):
            continue
        for info in await request.config_dict[STORE].repositories_under(project.name + "/"):
            if text in info.name.lower():
                repositories.append(
                    SearchRepository(
                        project_id=project.id,
                        project_name=project.name,
                        project_public=project.public,
                        repository_name=info.name,
                        pull_count=0,
                        artifact_count=info.artifact_count,
                    )
                )
    docs = [await project_doc(request, actor, p, owners) for p in found_projects]
    return json_response(Search(project=docs, repository=repositories))
