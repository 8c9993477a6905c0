"""Harbor's /configurations: the sign-in settings (``auth_mode``, ``ldap_*``, ``oidc_*``)
as ``{key: {"value": …, "editable": …}}``, changed with ``PUT`` (system admins only).
Secrets are write-only; settings fixed by the configuration file or the environment
are shown ``editable: false`` and refused (``wharf.auth.configuration``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import auth_of, authenticated, json_body, json_response, ok
from wharf.registry.http.harbor.spec import Api, Reply

api = Api("configure")


@api.operation(
    "getConfigurations",
    "GET",
    "/configurations",
    summary="The sign-in settings, {key: {value, editable}} (system admins; no secrets)",
    replies={200: Reply("The settings", dict[str, Any])},
    errors=(401, 403),
)
@authenticated
async def get_configurations(request: web.Request, actor: Principal) -> web.StreamResponse:
    return json_response(await auth_of(request).configuration.read(actor))


@api.operation(
    "updateConfigurations",
    "PUT",
    "/configurations",
    summary="Change sign-in settings not fixed by the file or environment (system admins)",
    replies={200: Reply("Changed")},
    errors=(400, 401, 403),
)
@authenticated
async def put_configurations(request: web.Request, actor: Principal) -> web.StreamResponse:
    await auth_of(request).configuration.update(actor, await json_body(request))
    return ok()
