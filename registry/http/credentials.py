"""Who is calling: the credentials of a request (Bearer token, HTTP Basic, none), the
client's address and the Bearer challenge. Shared by every API surface; it imports none
of them, and raises its own `BadCredentials` that each surface renders in its own format."""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from dataclasses import dataclass

from aiohttp import web

from wharf.auth.models import PULL
from wharf.auth.principals import Principal
from wharf.auth.tokens import Claims, InvalidToken
from wharf.registry.http.keys import AUTH, COORDINATION, SETTINGS

log = logging.getLogger("wharf.auth")

TOKEN_PATH = "/service/token"
# a browser's session after an OIDC sign-in (Harbor's cookie names); unsafe methods must
# also echo the CSRF cookie in the header (double submit)
SESSION_COOKIE = "sid"
CSRF_COOKIE = "__csrf"
CSRF_HEADER = "X-Harbor-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BadCredentials(Exception):
    """The request carried credentials that do not check out. ``error`` is the RFC 6750
    error code for a Bearer challenge (``invalid_token``), or None."""

    def __init__(self, error: str | None = None) -> None:
        super().__init__(error or "invalid credentials")
        self.error = error


class TooManyLogins(BadCredentials):
    """Too many failed logins for this username from this address: answered with 429
    (surfaces that do not know it refuse with their 401)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__()
        self.retry_after = max(1, int(retry_after + 0.999))


@dataclass(frozen=True)
class Caller:
    principal: Principal
    claims: Claims | None = None  # set for Bearer callers
    basic: bool = False

    @property
    def signed_in(self) -> bool:
        return self.principal.authenticated or self.claims is not None

    def actions(self, repo: str) -> frozenset[str]:
        """What this request may do on ``repo``: a token's grants (narrowed to the
        subject's current rights when the subject was re-validated), or the rights."""
        if self.claims is None:
            return self.principal.repo_actions(repo)
        granted = self.claims.actions("repository", repo)
        if self.principal.kind != "external":
            granted &= self.principal.repo_actions(repo)
        return granted

    def can_pull(self, repo: str) -> bool:
        if PULL in self.actions(repo):
            return True
        return self.principal.kind != "external" and self.principal.can_pull(repo)


def client_ip(request: web.Request) -> str:
    return request.remote or ""


def realm(request: web.Request) -> str:
    base = request.config_dict[SETTINGS].external_url or f"{request.scheme}://{request.host}"
    return base + TOKEN_PATH


def bearer_challenge(request: web.Request, scope: str | None, error: str | None = None) -> str:
    service = request.config_dict[SETTINGS].auth.service
    parts = [f'Bearer realm="{realm(request)}"', f'service="{service}"']
    if scope:
        parts.append(f'scope="{scope}"')
    if error:
        parts.append(f'error="{error}"')
    return ",".join(parts)


def parse_basic(value: str) -> tuple[str, str]:
    """(username, password) of a Basic credential; ("", "") when it does not decode."""
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    username, _, password = decoded.partition(":")
    return username, password


async def login(request: web.Request, username: str, password: str) -> Principal | None:
    """Check a username and password under the failed-login limit; None when refused.
    Raises TooManyLogins while the caller is over the limit (the password is not even
    checked then)."""
    auth = request.config_dict[AUTH]
    ip = client_ip(request)
    limiter = request.config_dict[COORDINATION].login_limiter
    wait = await limiter.blocked(username, ip)
    if wait is not None:
        log.info("login refused: too many failures", extra={"user": username[:255], "ip": ip})
        raise TooManyLogins(wait)
    found = await auth.login(username, password, ip)
    if found is None:
        await limiter.failed(username, ip)
    return found


def csrf_ok(request: web.Request) -> bool:
    expected = request.cookies.get(CSRF_COOKIE, "")
    given = request.headers.get(CSRF_HEADER, "")
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


async def authenticate(
    request: web.Request, *, basic_allowed: bool = True, cookie_allowed: bool = False
) -> Caller:
    """The caller of a request; anonymous when it carries no credentials. Raises
    BadCredentials for credentials that don't check out (or Basic where it is refused).
    With ``cookie_allowed`` (the Harbor API) a browser session cookie counts too."""
    auth = request.config_dict[AUTH]
    if cookie_allowed and "Authorization" not in request.headers:
        sealed = request.cookies.get(SESSION_COOKIE)
        username = auth.oidc.session_user(sealed) if sealed else None
        if username is not None:
            if request.method not in SAFE_METHODS and not csrf_ok(request):
                log.info(
                    "session refused: CSRF header missing or wrong",
                    extra={"ip": client_ip(request)},
                )
                raise BadCredentials()
            principal = await auth.principal_for_subject(username)
            if principal is None or not principal.authenticated:
                raise BadCredentials()
            return Caller(principal)
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        try:
            claims = await auth.tokens.verify(value)
        except InvalidToken as exc:
            log.info("token refused", extra={"reason": str(exc), "ip": client_ip(request)})
            raise BadCredentials("invalid_token") from None
        if claims.ours and auth.options.revalidate_tokens:
            principal = await auth.principal_for_subject(claims.subject)
            if principal is None:
                raise BadCredentials("invalid_token")
        else:
            principal = Principal("external", claims.subject)
        return Caller(principal, claims)
    if scheme == "basic" and value:
        if not basic_allowed:
            raise BadCredentials()
        username, password = parse_basic(value)
        found = await login(request, username, password)
        if found is None:
            raise BadCredentials()
        return Caller(found, basic=True)
    return Caller(await auth.anonymous())
