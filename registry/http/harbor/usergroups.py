"""Harbor's /usergroups: list, search, create (an LDAP group by DN, an OIDC group by
name), read, rename, delete."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wharf.auth.errors import BadRequest
from wharf.auth.models import UserGroup
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import (
    PREFIX,
    auth_of,
    authenticated,
    created,
    json_body,
    json_response,
    ok,
    paged,
    parse_int,
    requested_page,
)


def group_doc(group: UserGroup) -> dict[str, Any]:
    return {
        "id": group.id,
        "group_name": group.name,
        "group_type": group.group_type,
        "ldap_group_dn": group.ldap_dn,
    }


def group_id_of(request: web.Request) -> int:
    return parse_int(request.match_info["group_id"], "group_id")


@authenticated
async def list_groups(request: web.Request, actor: Principal) -> web.StreamResponse:
    page = requested_page(request)
    groups, total = await auth_of(request).usergroups.listing(
        actor, request.query.get("group_name"), request.query.get("ldap_group_dn"), page
    )
    return paged(request, [group_doc(g) for g in groups], total, page)


@authenticated
async def search_groups(request: web.Request, actor: Principal) -> web.StreamResponse:
    page = requested_page(request)
    groups, total = await auth_of(request).usergroups.search(
        actor, request.query.get("groupname", ""), page
    )
    items = [{"id": g.id, "group_name": g.name, "group_type": g.group_type} for g in groups]
    return paged(request, items, total, page)


@authenticated
async def create_group(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await json_body(request)
    group_type = body.get("group_type")
    if not isinstance(group_type, int) or isinstance(group_type, bool):
        raise BadRequest("group_type must be 1 (LDAP), 2 (HTTP) or 3 (OIDC)")
    group = await auth_of(request).usergroups.create(
        actor,
        str(body.get("group_name") or ""),
        group_type,
        str(body.get("ldap_group_dn") or ""),
    )
    return created(f"{PREFIX}/usergroups/{group.id}")


@authenticated
async def get_group(request: web.Request, actor: Principal) -> web.StreamResponse:
    group = await auth_of(request).usergroups.get(actor, group_id_of(request))
    return json_response(group_doc(group))


@authenticated
async def update_group(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await json_body(request)
    await auth_of(request).usergroups.rename(
        actor, group_id_of(request), str(body.get("group_name") or "")
    )
    return ok()


@authenticated
async def delete_group(request: web.Request, actor: Principal) -> web.StreamResponse:
    await auth_of(request).usergroups.delete(actor, group_id_of(request))
    return ok()


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/usergroups", list_groups)
    router.add_post("/usergroups", create_group)
    router.add_get("/usergroups/search", search_groups)
    router.add_get("/usergroups/{group_id}", get_group)
    router.add_put("/usergroups/{group_id}", update_group)
    router.add_delete("/usergroups/{group_id}", delete_group)
