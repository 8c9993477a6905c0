"""Harbor's /projects/{project}/members: list, read, add, change role, remove."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wharf.auth.errors import BadRequest, NotFound
from wharf.auth.models import ROLE_NAMES, Member, Role
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import (
    PREFIX,
    auth_of,
    authenticated,
    created,
    json_body,
    json_response,
    ok,
    page_slice,
    paged,
    parse_int,
    project_ref,
    requested_page,
)


def member_doc(member: Member) -> dict[str, Any]:
    return {
        "id": member.id,
        "project_id": member.project_id,
        "entity_name": member.username,
        "entity_id": member.user_id,
        "entity_type": "u",
        "role_id": int(member.role),
        "role_name": ROLE_NAMES[member.role],
    }


def role_of(value: Any) -> Role:
    try:
        return Role(int(value))
    except (TypeError, ValueError):
        raise BadRequest(
            "role_id must be 1 (project admin), 2 (developer), 3 (guest), "
            "4 (maintainer) or 5 (limited guest)"
        ) from None


def member_id_of(request: web.Request) -> int:
    return parse_int(request.match_info["mid"], "member id")


@authenticated
async def list_members(request: web.Request, actor: Principal) -> web.StreamResponse:
    members = await auth_of(request).members.of(actor, project_ref(request))
    name = request.query.get("entityname")
    if name:
        members = [m for m in members if name in m.username]
    page = requested_page(request)
    return paged(request, [member_doc(m) for m in page_slice(members, page)], len(members), page)


@authenticated
async def get_member(request: web.Request, actor: Principal) -> web.StreamResponse:
    member_id = member_id_of(request)
    for member in await auth_of(request).members.of(actor, project_ref(request)):
        if member.id == member_id:
            return json_response(member_doc(member))
    raise NotFound("no such member")


@authenticated
async def add_member(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await json_body(request)
    role = role_of(body.get("role_id"))
    member_user = body.get("member_user") or {}
    username = member_user.get("username") if isinstance(member_user, dict) else None
    auth = auth_of(request)
    if not username and isinstance(member_user, dict) and member_user.get("user_id"):
        username = await auth.users.username_of(int(member_user["user_id"]))
    if not isinstance(username, str) or not username:
        raise BadRequest("member_user.username is required")
    member = await auth.members.add(actor, project_ref(request), username, role)
    return created(f"{PREFIX}/projects/{request.match_info['project']}/members/{member.id}")


@authenticated
async def update_member(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await json_body(request)
    await auth_of(request).members.set_role(
        actor, project_ref(request), member_id_of(request), role_of(body.get("role_id"))
    )
    return ok()


@authenticated
async def delete_member(request: web.Request, actor: Principal) -> web.StreamResponse:
    await auth_of(request).members.remove(actor, project_ref(request), member_id_of(request))
    return ok()


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/projects/{project}/members", list_members)
    router.add_post("/projects/{project}/members", add_member)
    router.add_get("/projects/{project}/members/{mid}", get_member)
    router.add_put("/projects/{project}/members/{mid}", update_member)
    router.add_delete("/projects/{project}/members/{mid}", delete_member)
