"""Harbor's /users: create, list, read, update, delete, password, sysadmin flag, and the
Wharf extension ``PUT /users/{id}/enabled``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wharf.auth.errors import Forbidden
from wharf.auth.models import User
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import (
    PREFIX,
    auth_of,
    authenticated,
    body_bool,
    created,
    harbor_time,
    json_body,
    json_response,
    ok,
    paged,
    parse_int,
    requested_page,
)


def user_doc(user: User) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "username": user.username,
        "email": user.email,
        "realname": user.realname,
        "comment": user.comment,
        "sysadmin_flag": user.sysadmin,
        "enabled": user.enabled,
        "creation_time": harbor_time(user.created),
        "update_time": harbor_time(user.updated),
    }


def user_id_of(request: web.Request) -> int:
    return parse_int(request.match_info["user_id"], "user_id")


@authenticated
async def create_user(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await json_body(request)
    user = await auth_of(request).users.create(
        actor,
        str(body.get("username", "")),
        str(body.get("password", "")),
        email=str(body.get("email") or ""),
        realname=str(body.get("realname") or ""),
        comment=str(body.get("comment") or ""),
    )
    return created(f"{PREFIX}/users/{user.id}")


@authenticated
async def list_users(request: web.Request, actor: Principal) -> web.StreamResponse:
    page = requested_page(request)
    q = request.query.get("q", "")
    name = (
        q.split("=", 1)[1].lstrip("~")
        if q.startswith("username=")
        else request.query.get("username")
    )
    users, total = await auth_of(request).users.search(actor, name, page)
    return paged(request, [user_doc(u) for u in users], total, page)


@authenticated
async def current_user(request: web.Request, actor: Principal) -> web.StreamResponse:
    if actor.user_id is None:
        raise Forbidden("not a user")
    return json_response(user_doc(await auth_of(request).users.get(actor, actor.user_id)))


@authenticated
async def get_user(request: web.Request, actor: Principal) -> web.StreamResponse:
    return json_response(user_doc(await auth_of(request).users.get(actor, user_id_of(request))))


@authenticated
async def update_user(request: web.Request, actor: Principal) -> web.StreamResponse:
    user_id = user_id_of(request)
    body = await json_body(request)
    await auth_of(request).users.update(
        actor,
        user_id,
        email=body.get("email"),
        realname=body.get("realname"),
        comment=body.get("comment"),
    )
    return ok()


@authenticated
async def delete_user(request: web.Request, actor: Principal) -> web.StreamResponse:
    await auth_of(request).users.delete(actor, user_id_of(request))
    return ok()


@authenticated
async def set_password(request: web.Request, actor: Principal) -> web.StreamResponse:
    body = await json_body(request)
    old = body.get("old_password")
    await auth_of(request).users.set_password(
        actor,
        user_id_of(request),
        str(body.get("new_password", "")),
        old_password=old if isinstance(old, str) else None,
    )
    return ok()


@authenticated
async def set_sysadmin(request: web.Request, actor: Principal) -> web.StreamResponse:
    flag = body_bool(await json_body(request), "sysadmin_flag")
    await auth_of(request).users.update(actor, user_id_of(request), sysadmin=flag)
    return ok()


@authenticated
async def set_enabled(request: web.Request, actor: Principal) -> web.StreamResponse:
    """Wharf extension: PUT /users/{id}/enabled {"enabled": false} disables a user."""
    flag = body_bool(await json_body(request), "enabled")
    await auth_of(request).users.update(actor, user_id_of(request), enabled=flag)
    return ok()


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/users", list_users)
    router.add_post("/users", create_user)
    router.add_get("/users/current", current_user)
    router.add_get("/users/{user_id}", get_user)
    router.add_put("/users/{user_id}", update_user)
    router.add_delete("/users/{user_id}", delete_user)
    router.add_put("/users/{user_id}/password", set_password)
    router.add_put("/users/{user_id}/sysadmin", set_sysadmin)
    router.add_put("/users/{user_id}/enabled", set_enabled)
