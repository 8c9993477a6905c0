"""Harbor's /configurations: the sign-in settings (``auth_mode``, ``ldap_*``, ``oidc_*``)
as ``{key: {"value": …, "editable": …}}``, changed with ``PUT`` (system admins only).
Secrets are write-only; settings fixed by the configuration file or the environment
are shown ``editable: false`` and refused (``wharf.auth.configuration``)."""

from __future__ import annotations

from aiohttp import web

from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import auth_of, authenticated, json_body, json_response, ok


@authenticated
async def get_configurations(request: web.Request, actor: Principal) -> web.StreamResponse:
    return json_response(await auth_of(request).configuration.read(actor))


@authenticated
async def put_configurations(request: web.Request, actor: Principal) -> web.StreamResponse:
    await auth_of(request).configuration.update(actor, await json_body(request))
    return ok()


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/configurations", get_configurations)
    router.add_put("/configurations", put_configurations)
