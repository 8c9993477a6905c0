"""Harbor's /usergroups: list, search, create (an LDAP group by DN, an OIDC group by
name), read, rename, delete."""

from __future__ import annotations

from aiohttp import web

from wharf.auth.errors import BadRequest
from wharf.auth.models import UserGroup
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import (
    PREFIX,
    auth_of,
    authenticated,
    created,
    json_response,
    ok,
    paged,
    parse_int,
    requested_page,
)
from wharf.registry.http.harbor.spec import (
    PAGE,
    PAGE_HEADERS,
    PAGE_SIZE,
    Api,
    Model,
    Param,
    Reply,
    read_body,
)

api = Api("usergroup")
GROUP_ID = Param("group_id", "path", int, "The group's id", required=True)


class UserGroupSearchItem(Model):
    id: int
    group_name: str
    group_type: int  # 1 LDAP, 2 HTTP, 3 OIDC


class UserGroupDoc(UserGroupSearchItem):
    """Harbor's UserGroup."""

    ldap_group_dn: str


class UserGroupReq(Model):
    """Harbor's UserGroup as a request: a group to create, or a new name."""

    group_name: str | None = None
    group_type: int | None = None
    ldap_group_dn: str | None = None


def group_doc(group: UserGroup) -> UserGroupDoc:
    return UserGroupDoc(
        id=group.id,
        group_name=group.name,
        group_type=group.group_type,
        ldap_group_dn=group.ldap_dn,
    )


def group_id_of(request: web.Request) -> int:
    return parse_int(request.match_info["group_id"], "group_id")


@api.operation(
    "listUserGroups",
    "GET",
    "/usergroups",
    summary="User groups (system admins)",
    params=(
        PAGE,
        PAGE_SIZE,
        Param("ldap_group_dn", "query", str, "An LDAP group DN"),
        Param("group_name", "query", str, "Part of the name"),
    ),
    replies={200: Reply("The groups", list[UserGroupDoc], PAGE_HEADERS)},
    errors=(400, 401, 403),
)
@authenticated
async def list_groups(request: web.Request, actor: Principal) -> web.StreamResponse:
    page = requested_page(request)
    groups, total = await auth_of(request).usergroups.listing(
        actor, request.query.get("group_name"), request.query.get("ldap_group_dn"), page
    )
    return paged(request, [group_doc(g) for g in groups], total, page)


@api.operation(
    "searchUserGroups",
    "GET",
    "/usergroups/search",
    summary="Groups by name (signed-in users)",
    params=(PAGE, PAGE_SIZE, Param("groupname", "query", str, "Part of the name", required=True)),
    replies={200: Reply("The groups", list[UserGroupSearchItem], PAGE_HEADERS)},
    errors=(400, 401),
)
@authenticated
async def search_groups(request: web.Request, actor: Principal) -> web.StreamResponse:
    page = requested_page(request)
    groups, total = await auth_of(request).usergroups.search(
        actor, request.query.get("groupname", ""), page
    )
    items = [
        UserGroupSearchItem(id=g.id, group_name=g.name, group_type=g.group_type) for g in groups
    ]
    return paged(request, items, total, page)


@api.operation(
    "createUserGroup",
    "POST",
    "/usergroups",
    summary="Create a group: an LDAP DN (type 1) or a name (system admins)",
    params=(),
    body=UserGroupReq,
    replies={201: Reply("Created", headers=("Location",))},
    errors=(400, 401, 403, 404, 409),
)
@authenticated
async def create_group(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await read_body(request, UserGroupReq)
    if body.group_type is None:
        raise BadRequest("group_type must be 1 (LDAP), 2 (HTTP) or 3 (OIDC)")
    group = await auth_of(request).usergroups.create(
        actor, body.group_name or "", body.group_type, body.ldap_group_dn or ""
    )
    return created(f"{PREFIX}/usergroups/{group.id}")


@api.operation(
    "getUserGroup",
    "GET",
    "/usergroups/{group_id}",
    summary="One group (system admins)",
    params=(GROUP_ID,),
    replies={200: Reply("The group", UserGroupDoc)},
    errors=(400, 401, 403, 404),
)
@authenticated
async def get_group(request: web.Request, actor: Principal) -> web.StreamResponse:
    group = await auth_of(request).usergroups.get(actor, group_id_of(request))
    return json_response(group_doc(group))


@api.operation(
    "updateUserGroup",
    "PUT",
    "/usergroups/{group_id}",
    summary="Rename a group (system admins)",
    params=(GROUP_ID,),
    body=UserGroupReq,
    replies={200: Reply("Renamed")},
    errors=(400, 401, 403, 404),
)
@authenticated
async def update_group(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await read_body(request, UserGroupReq)
    await auth_of(request).usergroups.rename(actor, group_id_of(request), body.group_name or "")
    return ok()


@api.operation(
    "deleteUserGroup",
    "DELETE",
    "/usergroups/{group_id}",
    summary="Delete a group and its memberships (system admins)",
    params=(GROUP_ID,),
    replies={200: Reply("Deleted")},
    errors=(400, 401, 403, 404),
)
@authenticated
async def delete_group(request: web.Request, actor: Principal) -> web.StreamResponse:
    await auth_of(request).usergroups.delete(actor, group_id_of(request))
    return ok()
