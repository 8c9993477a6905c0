"""Harbor's /projects/{project_name_or_id}/members: list, read, add, change role, remove."""

from __future__ import annotations

from aiohttp import web

from wharf.auth.errors import BadRequest, NotFound
from wharf.auth.models import ROLE_NAMES, Member, Role
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import (
    auth_of,
    authenticated,
    created_here,
    json_response,
    ok,
    paged,
    project_ref,
)
from wharf.registry.http.harbor.query import list_query, page_of
from wharf.registry.http.harbor.spec import (
    IS_RESOURCE_NAME,
    PAGE,
    PAGE_HEADERS,
    PAGE_SIZE,
    PROJECT_NAME_OR_ID,
    RESOURCE_NAME_IN_LOCATION,
    Api,
    Model,
    Param,
    Reply,
    read_body,
)

api = Api("member")

MID = Param("mid", "path", int, "The member's id", required=True)
PROJECT = (IS_RESOURCE_NAME, PROJECT_NAME_OR_ID)
ERRORS = (400, 401, 403, 404)


class ProjectMemberEntity(Model):
    id: int
    project_id: int
    entity_name: str
    role_name: str
    role_id: int
    entity_id: int
    entity_type: str


class UserEntity(Model):
    user_id: int | None = None
    username: str | None = None


class UserGroupEntity(Model):
    id: int | None = None
    group_name: str | None = None
    group_type: int | None = None
    ldap_group_dn: str | None = None


class ProjectMember(Model):
    role_id: int | None = None
    member_user: UserEntity | None = None
    member_group: UserGroupEntity | None = None


class RoleRequest(Model):
    role_id: int | None = None


def member_doc(member: Member) -> ProjectMemberEntity:
    return ProjectMemberEntity(
        id=member.id,
        project_id=member.project_id,
        entity_name=member.username,
        entity_id=member.entity_id,
        entity_type=member.entity_type,
        role_id=int(member.role),
        role_name=ROLE_NAMES[member.role],
    )


def role_of(value: int | None) -> Role:
    try:
        return Role(value if value is not None else 0)
    except ValueError:
        raise BadRequest(
            "role_id must be 1 (project admin), 2 (developer), 3 (guest), "
            "4 (maintainer) or 5 (limited guest)"
        ) from None


def member_id_of(request: web.Request) -> int:
    return int(request.match_info["mid"])


@api.operation(
    "listProjectMembers",
    "GET",
    "/projects/{project_name_or_id}/members",
    summary="The project's members (members from guest up)",
    params=(
        *PROJECT,
        PAGE,
        PAGE_SIZE,
        Param("entityname", "query", str, "Part of the member's name"),
    ),
    replies={200: Reply("The members", list[ProjectMemberEntity], PAGE_HEADERS)},
    errors=ERRORS,
)
@authenticated
async def list_members(request: web.Request, actor: Principal) -> web.StreamResponse:
    query = list_query(request)
    members = await auth_of(request).members.of(actor, project_ref(request))
    name = request.query.get("entityname")
    if name:
        members = [m for m in members if name.lower() in m.username.lower()]
    docs = [member_doc(m) for m in page_of(members, query)]
    return paged(request, docs, len(members), query)


@api.operation(
    "getProjectMember",
    "GET",
    "/projects/{project_name_or_id}/members/{mid}",
    summary="One member",
    params=(*PROJECT, MID),
    replies={200: Reply("The member", ProjectMemberEntity)},
    errors=ERRORS,
)
@authenticated
async def get_member(request: web.Request, actor: Principal) -> web.StreamResponse:
    member_id = member_id_of(request)
    for member in await auth_of(request).members.of(actor, project_ref(request), "read"):
        if member.id == member_id:
            return json_response(member_doc(member))
    raise NotFound(f"member {member_id} not found")


@api.operation(
    "createProjectMember",
    "POST",
    "/projects/{project_name_or_id}/members",
    summary="Add a user or a user group to the project with a role (project admins)",
    params=(*PROJECT, RESOURCE_NAME_IN_LOCATION),
    body=ProjectMember,
    replies={201: Reply("Created", headers=("Location",))},
    errors=(*ERRORS, 409),
)
@authenticated
async def add_member(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, ProjectMember)
    role = role_of(req.role_id)
    user = req.member_user or UserEntity()
    auth = auth_of(request)
    if req.member_group is not None and req.member_user is None:
        wanted = req.member_group
        group = await auth.usergroups.find_for_member(
            wanted.id, wanted.group_name or "", wanted.ldap_group_dn or ""
        )
        member = await auth.members.add_group(actor, project_ref(request), group, role)
        return created_here(request, member.id, group.name)
    username = user.username
    if not username and user.user_id:
        username = await auth.users.username_of(user.user_id)
        if username is None:
            raise NotFound(f"user {user.user_id} not found")
    if not username:
        raise BadRequest("member_user.username or member_user.user_id is required")
    member = await auth.members.add(actor, project_ref(request), username, role)
    return created_here(request, member.id, username)


@api.operation(
    "updateProjectMember",
    "PUT",
    "/projects/{project_name_or_id}/members/{mid}",
    summary="Change a member's role (project admins)",
    params=(*PROJECT, MID),
    body=RoleRequest,
    replies={200: Reply("Updated")},
    errors=ERRORS,
)
@authenticated
async def update_member(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, RoleRequest)
    await auth_of(request).members.set_role(
        actor, project_ref(request), member_id_of(request), role_of(req.role_id)
    )
    return ok()


@api.operation(
    "deleteProjectMember",
    "DELETE",
    "/projects/{project_name_or_id}/members/{mid}",
    summary="Remove a member (project admins)",
    params=(*PROJECT, MID),
    replies={200: Reply("Removed")},
    errors=ERRORS,
)
@authenticated
async def delete_member(request: web.Request, actor: Principal) -> web.StreamResponse:
    await auth_of(request).members.remove(actor, project_ref(request), member_id_of(request))
    return ok()
