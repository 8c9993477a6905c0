"""Harbor's /labels: global labels (``scope=g``, system admins) and a project's labels
(``scope=p``, by the project's label permissions): list, create, read, update, delete.
Attaching them to artifacts is in ``artifacts``."""

from __future__ import annotations

from typing import TypeGuard

from aiohttp import web

from wharf.auth.access import require_admin
from wharf.auth.errors import AlreadyExists, BadRequest, Forbidden, NotFound, Unauthorized
from wharf.auth.models import policy
from wharf.auth.principals import Principal
from wharf.registry.content.labels import GLOBAL, PROJECT
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
)
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
from wharf.registry.http.keys import STORE
from wharf.registry.metadata.base import Label as LabelRecord
from wharf.registry.metadata.base import LabelExists

MAX_NAME = 128
ID_MAX = 2**31 - 1  # ids are 32-bit in the database


def known_id(value: int | None) -> TypeGuard[int]:
    """Whether ``value`` can be the id of a stored label or project."""
    return value is not None and 0 < value <= ID_MAX


class Label(Model):
    id: int | None = None
    name: str | None = None
    description: str | None = None
    color: str | None = None
    scope: str | None = None
    project_id: int | None = None
    creation_time: str | None = None
    update_time: str | None = None


def label_doc(label: LabelRecord) -> Label:
    return Label(
        id=label.id,
        name=label.name,
        description=label.description,
        color=label.color,
        scope=label.scope,
        project_id=label.project_id,
        creation_time=harbor_time(label.created),
        update_time=harbor_time(label.updated),
    )


def allowed(actor: Principal, project: str, resource: str, action: str) -> bool:
    """Whether ``actor`` holds Harbor's ``resource``/``action`` policy in ``project``."""
    return policy(resource, action) in actor.permissions(project)


def refusal(actor: Principal) -> Exception:
    """What a caller without the permission is told: sign in (anonymous), or no."""
    if not actor.authenticated:
        return Unauthorized("authentication required")
    return Forbidden("permission denied")


async def require_label_access(
    request: web.Request, actor: Principal, label: LabelRecord, action: str
) -> str:
    """Refuse unless ``actor`` may ``action`` the label: a global one needs a system
    admin, a project's the project's label permission. The project's name ("" for a
    global label)."""
    if label.scope == GLOBAL:
        require_admin(actor)
        return ""
    project = None
    if known_id(label.project_id):
        project = await auth_of(request).store.get_project_by_id(label.project_id)
    if project is None or not allowed(actor, project.name, "label", action):
        if actor.sysadmin:
            raise NotFound(f"project {label.project_id} not found")
        raise refusal(actor)
    return project.name


async def existing_label(request: web.Request) -> LabelRecord:
    raw = request.match_info["label_id"]
    found = int(raw) if raw.isdigit() else None
    label = await request.config_dict[STORE].label(found) if known_id(found) else None
    if label is None:
        raise NotFound(f"label {raw} not found")
    return label


def checked_name(name: str | None) -> str:
    if not name:
        raise BadRequest("the label name cannot be empty")
    if len(name) > MAX_NAME:
        raise BadRequest(f"the label name is longer than {MAX_NAME} characters")
    return name


LABEL_FIELDS: Fields[LabelRecord] = Fields(
    filters={
        "name": lambda label: label.name,
        "id": lambda label: label.id,
        "color": lambda label: label.color,
        "description": lambda label: label.description,
        "creation_time": lambda label: label.created,
        "update_time": lambda label: label.updated,
    },
    sorts={
        "name": lambda label: label.name,
        "id": lambda label: label.id,
        "creation_time": lambda label: label.created,
        "update_time": lambda label: label.updated,
    },
    default=(Sort("id"),),
)

api = Api("label")
LABEL_ID = Param("label_id", "path", int, "The label's id", required=True)


@api.operation(
    "ListLabels",
    "GET",
    "/labels",
    summary="List the global labels, or one project's",
    params=(
        *LISTING,
        Param("name", "query", str, "Part of the label name"),
        Param("scope", "query", str, "g: global labels, p: a project's (with project_id)"),
        Param("project_id", "query", int, "The project of the labels (scope p)"),
    ),
    replies={200: Reply("The labels", list[Label], PAGE_HEADERS)},
    errors=(400, 403),
)
@authenticated
async def list_labels(request: web.Request, actor: Principal) -> web.StreamResponse:
    query = list_query(request)
    scope = request.query.get("scope", "")
    if scope not in (GLOBAL, PROJECT):
        raise BadRequest(f"invalid scope: {scope}")
    project_id = None
    if scope == PROJECT:
        raw = request.query.get("project_id", "")
        project_id = int(raw) if raw.lstrip("-").isdigit() else 0
        if project_id == 0:
            raise BadRequest("must with project ID when to query project labels")
        project = None
        if known_id(project_id):
            project = await auth_of(request).store.get_project_by_id(project_id)
        if project is None or not allowed(actor, project.name, "label", "list"):
            if actor.sysadmin:
                raise NotFound(f"project {project_id} not found")
            raise refusal(actor)
    labels = await request.config_dict[STORE].labels(scope, project_id)
    name = request.query.get("name")
    if name:
        labels = [label for label in labels if name.lower() in label.name.lower()]
    kept = select(labels, query, LABEL_FIELDS)
    docs = [label_doc(label) for label in page_of(kept, query)]
    return paged(request, docs, len(kept), query)


@api.operation(
    "CreateLabel",
    "POST",
    "/labels",
    summary="Create a global label (system admins) or a project's",
    body=Label,
    replies={201: Reply("Created", headers=("Location",))},
    errors=(400, 403, 409),
)
@authenticated
async def create_label(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, Label)
    scope = req.scope or ""
    if scope not in (GLOBAL, PROJECT):
        raise BadRequest(f"invalid scope: {scope}")
    project_id = 0 if scope == GLOBAL else (req.project_id or 0)
    if scope == PROJECT and project_id <= 0:
        raise BadRequest(f"invalid project_id: {project_id}")
    label = LabelRecord(
        checked_name(req.name),
        scope,
        project_id,
        req.description or "",
        req.color or "",
    )
    project = await require_label_access(request, actor, label, "create")
    try:
        label = await content_of(request).labels.create(label, event_actor(request, actor), project)
    except LabelExists:
        raise AlreadyExists(f"label {label.name} already exists") from None
    return created_here(request, label.id, str(label.id))


@api.operation(
    "GetLabelByID",
    "GET",
    "/labels/{label_id}",
    summary="One label",
    params=(LABEL_ID,),
    replies={200: Reply("The label", Label)},
    errors=(403, 404),
)
@authenticated
async def get_label(request: web.Request, actor: Principal) -> web.StreamResponse:
    label = await existing_label(request)
    await require_label_access(request, actor, label, "read")
    return json_response(label_doc(label))


class LabelUpdate(Model):
    name: str | None = None
    description: str | None = None
    color: str | None = None


@api.operation(
    "UpdateLabel",
    "PUT",
    "/labels/{label_id}",
    summary="Change a label's name, description and color",
    params=(LABEL_ID,),
    body=LabelUpdate,
    replies={200: Reply("Updated")},
    errors=(400, 403, 404, 409),
)
@authenticated
async def update_label(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, LabelUpdate)
    label = await existing_label(request)
    project = await require_label_access(request, actor, label, "update")
    changed = LabelRecord(
        checked_name(req.name),
        label.scope,
        label.project_id,
        req.description or "",
        req.color or "",
        label.created,
        label.updated,
        label.id,
    )
    try:
        updated = await content_of(request).labels.update(
            changed, event_actor(request, actor), project
        )
    except LabelExists:
        raise AlreadyExists(f"label {changed.name} already exists") from None
    if not updated:
        raise NotFound(f"label {label.id} not found")
    return ok()


@api.operation(
    "DeleteLabel",
    "DELETE",
    "/labels/{label_id}",
    summary="Delete a label (and detach it from every artifact)",
    params=(LABEL_ID,),
    replies={200: Reply("Deleted")},
    errors=(400, 403, 404),
)
@authenticated
async def delete_label(request: web.Request, actor: Principal) -> web.StreamResponse:
    label = await existing_label(request)
    project = await require_label_access(request, actor, label, "delete")
    if not await content_of(request).labels.delete(label, event_actor(request, actor), project):
        raise NotFound(f"label {label.id} not found")
    return ok()
