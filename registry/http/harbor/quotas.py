"""Harbor's /quotas: every project's storage quota (reference ``project``), its hard limit
and usage ``{"storage": bytes}`` (-1: unlimited), listed, read and changed by system
admins. A quota's id is its project's id; a project whose limit was never set shows as
unlimited. Enforcement is the policy gate's (``wharf.registry.policy.quota``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from wharf.auth.access import require_admin
from wharf.auth.errors import BadRequest, NotFound
from wharf.auth.models import Project as ProjectRecord
from wharf.auth.principals import Principal
from wharf.registry.content.quotas import InvalidLimit, ProjectQuota
from wharf.registry.http.harbor.common import (
    auth_of,
    authenticated,
    content_of,
    harbor_time,
    json_response,
    ok,
    paged,
)
from wharf.registry.http.harbor.projects import owner_names
from wharf.registry.http.harbor.query import Fields, Sort, list_query, page_of, select
from wharf.registry.http.harbor.spec import (
    LISTING,
    PAGE_HEADERS,
    Api,
    Model,
    Param,
    Reply,
    read_body,
)

STORAGE = "storage"
REFERENCE = "project"
ID_MAX = 2**31 - 1


class Quota(Model):
    id: int
    ref: dict[str, Any]
    hard: dict[str, int]
    used: dict[str, int]
    creation_time: str | None = None
    update_time: str | None = None


class QuotaUpdateReq(Model):
    hard: dict[str, int] | None = Field(None, description="The new hard limits")


def checked_hard(hard: dict[str, int] | None) -> int:
    """The storage limit of a ``hard`` resource list, checked as Harbor does."""
    if not hard:
        raise BadRequest("hard required in body")
    for resource in hard:
        if resource != STORAGE:
            raise BadRequest(f"resource {resource[:100]} not support")
    if STORAGE not in hard:
        raise BadRequest(f"resource {STORAGE} not found")
    return hard[STORAGE]


async def set_limit(request: web.Request, project: str, hard: int) -> None:
    try:
        await content_of(request).quotas.set(project, hard)
    except InvalidLimit as exc:
        raise BadRequest(str(exc)) from None


class Row:
    """One project and its quota, as listed and sorted."""

    def __init__(self, project: ProjectRecord, quota: ProjectQuota, owner: str) -> None:
        self.project = project
        self.quota = quota
        self.owner = owner

    @property
    def hard(self) -> int:
        return self.quota.hard

    @property
    def used(self) -> int:
        return self.quota.used

    def doc(self) -> Quota:
        created = self.quota.created if self.quota.created is not None else self.project.created
        updated = self.quota.updated if self.quota.updated is not None else self.project.created
        return Quota(
            id=self.project.id,
            ref={"id": self.project.id, "name": self.project.name, "owner_name": self.owner},
            hard={STORAGE: self.hard},
            used={STORAGE: self.used},
            creation_time=harbor_time(created),
            update_time=harbor_time(updated),
        )


def _limit_order(row: Row) -> float:
    """Unlimited sorts above every limit, as in Harbor."""
    return float("inf") if row.hard < 0 else float(row.hard)


QUOTA_FIELDS: Fields[Row] = Fields(
    filters={},
    sorts={
        "hard.storage": _limit_order,
        "used.storage": lambda row: row.used,
        "id": lambda row: row.project.id,
        "creation_time": lambda row: row.quota.created or row.project.created,
        "update_time": lambda row: row.quota.updated or row.project.created,
    },
    default=(Sort("id"),),
)

api = Api("quota")
QUOTA_ID = Param("id", "path", int, "Quota ID", required=True)


async def rows(request: web.Request, projects: list[ProjectRecord]) -> list[Row]:
    owners = await owner_names(request, projects)
    quotas = content_of(request).quotas
    return [Row(p, await quotas.get(p.name), owners.get(p.owner_id or 0, "")) for p in projects]


async def quota_project(request: web.Request, actor: Principal) -> ProjectRecord:
    raw = request.match_info["id"]
    found = int(raw) if raw.isdigit() and 0 < int(raw) <= ID_MAX else None
    if found is not None:
        try:
            return await auth_of(request).projects.get(actor, found)
        except NotFound:
            pass
    raise NotFound(f"quota {raw[:100]} not found")


@api.operation(
    "listQuotas",
    "GET",
    "/quotas",
    summary="List quotas (system admins)",
    params=(
        *LISTING,
        Param("reference", "query", str, "The reference type of quota (project)"),
        Param("reference_id", "query", str, "The reference id of quota (a project id)"),
    ),
    replies={200: Reply("The quotas", list[Quota], PAGE_HEADERS)},
    errors=(401, 403),
)
@authenticated
async def list_quotas(request: web.Request, actor: Principal) -> web.StreamResponse:
    require_admin(actor)
    query = list_query(request)
    projects = await auth_of(request).projects.visible(actor)
    reference = request.query.get("reference")
    if reference and reference != REFERENCE:
        projects = []
    reference_id = request.query.get("reference_id")
    if reference_id:
        projects = [p for p in projects if str(p.id) == reference_id]
    found = select(await rows(request, projects), query, QUOTA_FIELDS)
    return paged(request, [row.doc() for row in page_of(found, query)], len(found), query)


@api.operation(
    "getQuota",
    "GET",
    "/quotas/{id}",
    summary="Get the specified quota (system admins)",
    params=(QUOTA_ID,),
    replies={200: Reply("The quota", Quota)},
    errors=(401, 403, 404),
)
@authenticated
async def get_quota(request: web.Request, actor: Principal) -> web.StreamResponse:
    require_admin(actor)
    project = await quota_project(request, actor)
    (row,) = await rows(request, [project])
    return json_response(row.doc())


@api.operation(
    "updateQuota",
    "PUT",
    "/quotas/{id}",
    summary="Update hard limits of the specified quota (system admins)",
    params=(QUOTA_ID,),
    body=QuotaUpdateReq,
    replies={200: Reply("Updated")},
    errors=(400, 401, 403, 404),
)
@authenticated
async def update_quota(request: web.Request, actor: Principal) -> web.StreamResponse:
    require_admin(actor)
    req = await read_body(request, QuotaUpdateReq)
    project = await quota_project(request, actor)
    await set_limit(request, project.name, checked_hard(req.hard))
    return ok()
