"""Harbor's /system/oidc/ping (v2.15 swagger, tag ``oidc``, ``pingOIDC``): test an OpenID
provider's endpoint before saving it — its discovery document fetched within a bounded
time and checked as Wharf's sign-in would use it. System admins only (Harbor: update of
the configuration); any failure is a 400 with Harbor's message, the reason logged."""

from __future__ import annotations

import logging

from aiohttp import web

from wharf.auth.access import require_admin
from wharf.auth.errors import BadRequest
from wharf.auth.oidc import ProviderUnavailable, ping_endpoint
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import auth_of, authenticated, ok
from wharf.registry.http.harbor.spec import Api, Model, Reply, read_body

api = Api("oidc")
log = logging.getLogger("wharf.harbor")


class OIDCEndpoint(Model):
    url: str | None = None
    verify_cert: bool | None = None


@api.operation(
    "pingOIDC",
    "POST",
    "/system/oidc/ping",
    summary="Test an OIDC endpoint: its discovery document (system admins)",
    body=OIDCEndpoint,
    replies={200: Reply("The endpoint answers a valid discovery document")},
    errors=(400, 403),
)
@authenticated
async def ping(request: web.Request, actor: Principal) -> web.StreamResponse:
    require_admin(actor)
    body = await read_body(request, OIDCEndpoint)
    url = (body.url or "").strip()
    verify = bool(body.verify_cert)  # absent: false, as Go decodes it in Harbor
    settings = await auth_of(request).configuration.current()
    try:
        await ping_endpoint(url, verify, ca_file=settings.oidc_ca_file)
    except ProviderUnavailable as exc:
        log.info("OIDC endpoint test failed", extra={"url": url, "error": str(exc)})
        raise BadRequest("failed to verify connection") from None
    return ok()
