"""Harbor's /users: create, list, search, read (and the caller itself, with its
permissions), update the profile, delete, password, sysadmin flag, the CLI secret, and
the Wharf extension ``PUT /users/{user_id}/enabled``."""

from __future__ import annotations

import re

from aiohttp import web

from wharf.auth.errors import BadRequest, Forbidden, Precondition
from wharf.auth.models import ROLE_POLICIES, User
from wharf.auth.principals import Principal
from wharf.auth.robots import SYSTEM_POLICIES
from wharf.auth.settings import MODE_NAMES
from wharf.registry.http.harbor.common import (
    auth_of,
    authenticated,
    created_here,
    harbor_time,
    json_response,
    ok,
    paged,
)
from wharf.registry.http.harbor.query import Fields, Sort, list_query, page_of, select
from wharf.registry.http.harbor.spec import (
    LISTING,
    PAGE,
    PAGE_HEADERS,
    PAGE_SIZE,
    RESOURCE_NAME_IN_LOCATION,
    Api,
    Model,
    Param,
    Reply,
    as_bool,
    read_body,
)

api = Api("user")

USER_ID = Param("user_id", "path", int, "The user's id", required=True)
USER_ERRORS = (401, 403, 404)


class OIDCUserInfo(Model):
    id: int
    user_id: int
    subiss: str
    secret: str
    creation_time: str | None
    update_time: str | None


class UserResp(Model):
    user_id: int
    username: str
    email: str
    realname: str
    comment: str
    sysadmin_flag: bool
    admin_role_in_auth: bool
    enabled: bool  # Wharf's: whether the user may sign in
    creation_time: str | None
    update_time: str | None
    # OIDC users, to themselves and system admins: their CLI secret
    oidc_user_meta: OIDCUserInfo | None = None


class UserCreationReq(Model):
    username: str | None = None
    password: str | None = None
    email: str | None = None
    realname: str | None = None
    comment: str | None = None


class UserProfile(Model):
    email: str | None = None
    realname: str | None = None
    comment: str | None = None


class PasswordReq(Model):
    old_password: str | None = None
    new_password: str | None = None


class UserSysAdminFlag(Model):
    sysadmin_flag: bool | None = None


class UserEnabledFlag(Model):
    enabled: bool | None = None


class OIDCCliSecretReq(Model):
    secret: str | None = None


class UserSearchRespItem(Model):
    user_id: int
    username: str


class Permission(Model):
    resource: str
    action: str


def user_doc(user: User) -> UserResp:
    return UserResp(
        user_id=user.id,
        username=user.username,
        email=user.email,
        realname=user.realname,
        comment=user.comment,
        sysadmin_flag=user.sysadmin,
        # granted by the authentication source (LDAP/OIDC admin groups)
        admin_role_in_auth=user.group_admin,
        enabled=user.enabled,
        creation_time=harbor_time(user.created),
        update_time=harbor_time(user.updated),
    )


USER_FIELDS: Fields[User] = Fields(
    filters={
        "username": lambda u: u.username,
        "email": lambda u: u.email,
        "realname": lambda u: u.realname,
        "user_id": lambda u: u.id,
        "sysadmin_flag": lambda u: u.sysadmin,
        "creation_time": lambda u: u.created,
        "update_time": lambda u: u.updated,
    },
    sorts={
        "username": lambda u: u.username,
        "email": lambda u: u.email,
        "user_id": lambda u: u.id,
        "creation_time": lambda u: u.created,
        "update_time": lambda u: u.updated,
    },
    default=(Sort("user_id"),),
)


def user_id_of(request: web.Request) -> int:
    return int(request.match_info["user_id"])


@api.operation(
    "createUser",
    "POST",
    "/users",
    summary="Create a local user (system admins)",
    params=(RESOURCE_NAME_IN_LOCATION,),
    body=UserCreationReq,
    replies={201: Reply("Created", headers=("Location",))},
    errors=(400, 403, 409),
)
@authenticated
async def create_user(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, UserCreationReq)
    user = await auth_of(request).users.create(
        actor,
        req.username or "",
        req.password or "",
        email=req.email or "",
        realname=req.realname or "",
        comment=req.comment or "",
    )
    return created_here(request, user.id, user.username)


@api.operation(
    "listUsers",
    "GET",
    "/users",
    summary="List users (system admins)",
    params=(
        *LISTING,
        Param("username", "query", str, "Part of the username"),
        Param("email", "query", str, "Part of the email"),
    ),
    replies={200: Reply("The users", list[UserResp], PAGE_HEADERS)},
    errors=(400, 403),
)
@authenticated
async def list_users(request: web.Request, actor: Principal) -> web.StreamResponse:
    query = list_query(request, fuzzy=("username", "email"))
    users = await auth_of(request).users.every(actor)
    found = select(users, query, USER_FIELDS)
    return paged(request, [user_doc(u) for u in page_of(found, query)], len(found), query)


@api.operation(
    "searchUsers",
    "GET",
    "/users/search",
    summary="Find users by name (any signed-in user, to add members)",
    params=(
        PAGE,
        PAGE_SIZE,
        Param("username", "query", str, "Part of the username", required=True),
    ),
    replies={200: Reply("Matching users", list[UserSearchRespItem], PAGE_HEADERS)},
)
@authenticated
async def search_users(request: web.Request, actor: Principal) -> web.StreamResponse:
    query = list_query(request)
    users, total = await auth_of(request).users.search_names(
        actor, request.query["username"], query.window
    )
    docs = [UserSearchRespItem(user_id=u.id, username=u.username) for u in users]
    return paged(request, docs, total, query)


@api.operation(
    "getCurrentUserInfo",
    "GET",
    "/users/current",
    summary="The signed-in user",
    replies={200: Reply("The user", UserResp)},
    errors=(412,),
)
@authenticated
async def current_user(request: web.Request, actor: Principal) -> web.StreamResponse:
    if not actor.authenticated:
        raise Forbidden("authentication required")
    if actor.user_id is None:
        raise Precondition(f"get current user not available for security context: {actor.kind}")
    auth = auth_of(request)
    user = await auth.users.get(actor, actor.user_id)
    doc = user_doc(user)
    found = await auth.oidc.cli_secret(user)
    if found is not None:
        meta, secret = found
        doc.oidc_user_meta = OIDCUserInfo(
            id=meta.user_id,
            user_id=meta.user_id,
            subiss=meta.subject + meta.issuer,
            secret=secret,
            creation_time=harbor_time(meta.created),
            update_time=harbor_time(meta.updated),
        )
    return json_response(doc)


PROJECT_SCOPE = re.compile(r"^/project/([0-9]+)$")


@api.operation(
    "getCurrentUserPermissions",
    "GET",
    "/users/current/permissions",
    summary="What the signed-in caller may do in a scope (/system or /project/{id})",
    params=(
        Param("scope", "query", str, "The scope, e.g. /project/1"),
        Param("relative", "query", bool, "Resources relative to the scope"),
    ),
    replies={200: Reply("The permissions", list[Permission])},
)
@authenticated
async def current_permissions(request: web.Request, actor: Principal) -> web.StreamResponse:
    if not actor.authenticated:
        raise Forbidden("authentication required")
    scope = request.query.get("scope", "")
    relative = as_bool(request.query.get("relative", "false"))
    held: list[tuple[str, str]] = []  # (resource relative to the scope, action)
    if scope == "/system":
        if actor.sysadmin:
            for item in sorted(SYSTEM_POLICIES):
                resource, action = item.split(":", 1)
                held.append((resource, action))
    elif match := PROJECT_SCOPE.match(scope):
        name = await auth_of(request).projects.name_if_exists(int(match.group(1)))
        if name is not None:
            perms = actor.permissions(name)
            universe = frozenset().union(*ROLE_POLICIES.values())
            for item in sorted(universe):
                if item in perms:
                    resource, action = item.split(":", 1)
                    held.append(("." if resource == "project" else resource, action))
    docs = []
    for resource, action in held:
        if not relative:
            resource = scope if resource == "." else f"{scope}/{resource}"
        docs.append(Permission(resource=resource, action=action))
    return json_response(docs)


@api.operation(
    "getUser",
    "GET",
    "/users/{user_id}",
    summary="One user (system admins, or the user)",
    params=(USER_ID,),
    replies={200: Reply("The user", UserResp)},
    errors=USER_ERRORS,
)
@authenticated
async def get_user(request: web.Request, actor: Principal) -> web.StreamResponse:
    return json_response(user_doc(await auth_of(request).users.get(actor, user_id_of(request))))


@api.operation(
    "updateUserProfile",
    "PUT",
    "/users/{user_id}",
    summary="Change a user's email, real name and comment",
    params=(USER_ID,),
    body=UserProfile,
    replies={200: Reply("Updated")},
    errors=(400, *USER_ERRORS),
)
@authenticated
async def update_user(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, UserProfile)
    await auth_of(request).users.update(
        actor,
        user_id_of(request),
        email=req.email or "",
        realname=req.realname or "",
        comment=req.comment or "",
    )
    return ok()


@api.operation(
    "deleteUser",
    "DELETE",
    "/users/{user_id}",
    summary="Delete a user (system admins)",
    params=(USER_ID,),
    replies={200: Reply("Deleted")},
    errors=USER_ERRORS,
)
@authenticated
async def delete_user(request: web.Request, actor: Principal) -> web.StreamResponse:
    await auth_of(request).users.delete(actor, user_id_of(request))
    return ok()


@api.operation(
    "updateUserPassword",
    "PUT",
    "/users/{user_id}/password",
    summary="Change a password (the user, with the old one; or a system admin)",
    params=(USER_ID,),
    body=PasswordReq,
    replies={200: Reply("Changed")},
    errors=(400, *USER_ERRORS),
)
@authenticated
async def set_password(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, PasswordReq)
    await auth_of(request).users.set_password(
        actor, user_id_of(request), req.new_password or "", old_password=req.old_password
    )
    return ok()


@api.operation(
    "setUserSysAdmin",
    "PUT",
    "/users/{user_id}/sysadmin",
    summary="Grant or revoke system admin (system admins)",
    params=(USER_ID,),
    body=UserSysAdminFlag,
    replies={200: Reply("Changed")},
    errors=USER_ERRORS,
)
@authenticated
async def set_sysadmin(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, UserSysAdminFlag)
    await auth_of(request).users.update(
        actor, user_id_of(request), sysadmin=bool(req.sysadmin_flag)
    )
    return ok()


@api.operation(
    "setCliSecret",
    "PUT",
    "/users/{user_id}/cli_secret",
    summary="Set the CLI secret of a user signing in with OIDC",
    params=(USER_ID,),
    body=OIDCCliSecretReq,
    replies={200: Reply("Set")},
    errors=(400, *USER_ERRORS, 412),
)
@authenticated
async def set_cli_secret(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, OIDCCliSecretReq)
    auth = auth_of(request)
    mode = (await auth.configuration.current()).mode
    if mode != "oidc":
        raise Precondition(f"unable to update CLI secret under authmode: {MODE_NAMES[mode]}")
    await auth.oidc.set_cli_secret(actor, user_id_of(request), req.secret or "")
    return ok()


@api.operation(
    "setUserEnabled",
    "PUT",
    "/users/{user_id}/enabled",
    summary='Wharf extension: {"enabled": false} disables a user (system admins)',
    params=(USER_ID,),
    body=UserEnabledFlag,
    replies={200: Reply("Changed")},
    errors=(400, *USER_ERRORS),
)
@authenticated
async def set_enabled(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, UserEnabledFlag)
    if req.enabled is None:
        raise BadRequest("enabled must be true or false")
    await auth_of(request).users.update(actor, user_id_of(request), enabled=req.enabled)
    return ok()
