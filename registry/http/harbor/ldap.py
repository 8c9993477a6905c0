"""Harbor's /ldap: ping a directory (the settings in force, or ones under test), search
its users and groups, import users ahead of their first sign-in. System admins only."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from wharf.auth.errors import BadRequest
from wharf.auth.models import LDAP_GROUP
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import auth_of, authenticated, json_body, json_response, ok
from wharf.registry.http.harbor.spec import Api, Model, Param, Reply, read_body

api = Api("Ldap")


class LdapPingResult(Model):
    success: bool
    message: str


class LdapUser(Model):
    username: str
    realname: str
    email: str


class LdapImportUsers(Model):
    ldap_uid_list: list[str]


class LdapGroup(Model):
    """A directory group (Harbor's UserGroup; no id: it is not onboarded)."""

    group_name: str
    group_type: int  # 1: LDAP
    ldap_group_dn: str


ERRORS = (400, 401, 403)


@api.operation(
    "pingLdap",
    "POST",
    "/ldap/ping",
    summary="Try the LDAP settings in force, or some under test (system admins)",
    replies={200: Reply("The result", LdapPingResult)},
    errors=ERRORS,
)
@authenticated
async def ping(request: web.Request, actor: Principal) -> web.StreamResponse:
    body: dict[str, Any] = {}
    if (await request.read()).strip():
        body = await json_body(request)
    success, message = await auth_of(request).ldap.ping(actor, body)
    return json_response(LdapPingResult(success=success, message=message))


@api.operation(
    "searchLdapUser",
    "GET",
    "/ldap/users/search",
    summary="Users of the directory (system admins)",
    params=(Param("username", "query", str, "The user id (ldap_uid)"),),
    replies={200: Reply("The users", list[LdapUser])},
    errors=ERRORS,
)
@authenticated
async def search_users(request: web.Request, actor: Principal) -> web.StreamResponse:
    users = await auth_of(request).ldap.search_users(actor, request.query.get("username", ""))
    return json_response(
        [LdapUser(username=u.username, realname=u.realname, email=u.email) for u in users]
    )


@api.operation(
    "searchLdapGroup",
    "GET",
    "/ldap/groups/search",
    summary="Groups of the directory, by name or DN (system admins)",
    params=(
        Param("groupname", "query", str, "The group's name"),
        Param("groupdn", "query", str, "The group's DN"),
    ),
    replies={200: Reply("The groups", list[LdapGroup])},
    errors=ERRORS,
)
@authenticated
async def search_groups(request: web.Request, actor: Principal) -> web.StreamResponse:
    groups = await auth_of(request).ldap.search_groups(
        actor, request.query.get("groupname", ""), request.query.get("groupdn", "")
    )
    return json_response(
        [LdapGroup(group_name=g.name, group_type=LDAP_GROUP, ldap_group_dn=g.dn) for g in groups]
    )


@api.operation(
    "importLdapUser",
    "POST",
    "/ldap/users/import",
    summary="Onboard directory users before their first sign-in (system admins)",
    body=LdapImportUsers,
    replies={
        200: Reply("Imported"),
        404: Reply("Some could not be: [{uid, error}]", list[dict[str, str]]),
    },
    errors=ERRORS,
)
@authenticated
async def import_users(request: web.Request, actor: Principal) -> web.StreamResponse:
    uids = (await read_body(request, LdapImportUsers)).ldap_uid_list
    if not uids or not all(uids):
        raise BadRequest("ldap_uid_list must be a list of user ids")
    failed = await auth_of(request).ldap.import_users(actor, uids)
    if failed:
        return web.Response(
            status=404,
            body=orjson.dumps([{"uid": uid, "error": why} for uid, why in failed]),
            content_type="application/json",
        )
    return ok()
