"""Sign-in through an OpenID provider (``auth.mode: oidc``), as in Harbor:

- the browser flow: ``begin`` sends the browser to the provider with ``state``, a
  ``nonce`` and a PKCE challenge, all kept sealed in a short-lived cookie; ``callback``
  checks ``state``, exchanges the code (with the PKCE verifier), verifies the ID token,
  reads the username (``oidc_user_claim``, else ``name``), e-mail and groups
  (``oidc_groups_claim``, filtered by ``oidc_group_filter``; ``oidc_admin_group`` makes a
  system admin), then signs the user in — onboarding them first, automatically with
  ``oidc_auto_onboard``, else once they chose a username (``onboard``);
- registry clients can't do that: each OIDC user has a CLI secret (shown in
  ``GET /api/v2.0/users/current``, reset with ``PUT /users/{id}/cli_secret``), which
  ``docker login`` uses as the password. On its use Wharf asks the provider, with the
  user's refresh token, whether they are still valid (at most every
  ``oidc_cli_check_interval`` seconds), and takes their groups from the fresh ID token.

Secrets (the CLI secret, the provider's tokens) are stored sealed (``sealing``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

from wharf.auth.access import require_admin
from wharf.auth.audit import CLIENT_IP, AuditLog
from wharf.auth.authenticators import Authenticator
from wharf.auth.configuration import Configuration
from wharf.auth.errors import BadRequest, NotFound, Precondition, Unavailable
from wharf.auth.models import OIDC_AUTH, OIDC_GROUP, AuditEvent, OidcMeta, User, UserGroup, now
from wharf.auth.oidc import OidcProvider, ProviderUnavailable, TokenRefused, TokenSet, pkce_pair
from wharf.auth.onboarding import Onboarding, OnboardingRefused
from wharf.auth.passwords import password_acceptable
from wharf.auth.principals import Principal
from wharf.auth.sealing import Sealer, Unsealable
from wharf.auth.settings import ExternalAuthSettings
from wharf.auth.store import AuthStore, Conflict
from wharf.auth.users import WEAK_SECRET

log = logging.getLogger("wharf.auth.oidc")

LOGIN_SECONDS = 600  # a browser has this long from /c/oidc/login to the callback
ONBOARD_SECONDS = 600  # and this long to choose a username
SESSION_SECONDS = 3600  # a browser session (the `sid` cookie) lasts this long
_ILLEGAL = re.compile(r'[\s,"~#%$:]')
_SECRET_ALPHABET = string.ascii_letters + string.digits


class LoginRefused(Exception):
    """The browser flow failed for a reason the user may see (no secret in it)."""


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in."""

    issuer: str
    subject: str
    username: str  # the suggested (or, with oidc_user_claim, the fixed) username
    email: str = ""
    groups: tuple[str, ...] = ()
    admin: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "iss": self.issuer,
            "sub": self.subject,
            "username": self.username,
            "email": self.email,
            "groups": list(self.groups),
            "admin": self.admin,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Identity:
        return cls(
            str(data["iss"]),
            str(data["sub"]),
            str(data.get("username", "")),
            str(data.get("email", "")),
            tuple(str(g) for g in data.get("groups", [])),
            bool(data.get("admin", False)),
        )


@dataclass
class Outcome:
    """What the callback decided: a signed-in ``user``, or a username to choose
    (``pending`` is the sealed state the onboarding page posts back with)."""

    redirect_url: str
    user: User | None = None
    suggested: str = ""
    pending: str = ""
    events: list[str] = field(default_factory=list)


def groups_from(claims: dict[str, Any], settings: ExternalAuthSettings) -> tuple[str, ...]:
    """The groups claim (a list, or one string as some providers send), filtered."""
    if not settings.oidc_groups_claim:
        return ()
    value = claims.get(settings.oidc_groups_claim)
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    pattern = re.compile(settings.oidc_group_filter) if settings.oidc_group_filter else None
    return tuple(
        str(n) for n in names if isinstance(n, str) and (pattern is None or pattern.search(n))
    )


def identity_from(
    claims: dict[str, Any], extra: dict[str, Any] | None, settings: ExternalAuthSettings
) -> Identity:
    """Merge the ID token's claims with userinfo's (the subject must agree)."""
    merged = dict(claims)
    if extra:
        if extra.get("sub") != claims.get("sub"):
            raise TokenRefused("userinfo answered for another subject")
        merged = {**extra, **claims} | {
            k: extra[k] for k in ("email", settings.oidc_groups_claim) if k and k in extra
        }
    if settings.oidc_user_claim:
        username = merged.get(settings.oidc_user_claim)
        if not isinstance(username, str) or not username:
            username = ""
            log.warning(
                "OIDC: the user claim is missing or not a string",
                extra={"claim": settings.oidc_user_claim},
            )
    else:
        name = merged.get("name") or merged.get("preferred_username") or ""
        username = str(name)
    groups = groups_from(merged, settings)
    email = merged.get("email")
    return Identity(
        issuer=str(claims["iss"]),
        subject=str(claims["sub"]),
        username=username.replace(" ", "_")[:255],
        email=email if isinstance(email, str) else "",
        groups=groups,
        admin=bool(settings.oidc_admin_group) and settings.oidc_admin_group in groups,
    )


def new_cli_secret() -> str:
    """32 random letters and digits (with at least one of each kind Harbor requires)."""
    while True:
        candidate = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(32))
        if password_acceptable(candidate) is None:
            return candidate


def _local_path(url: str) -> bool:
    return url.startswith("/") and not url.startswith("//") and "\\" not in url


class OidcLogins:
    def __init__(
        self,
        store: AuthStore,
        configuration: Configuration,
        onboarding: Onboarding,
        audit_log: AuditLog,
    ) -> None:
        self.store = store
        self.configuration = configuration
        self.onboarding = onboarding
        self.audit_log = audit_log
        self.sealer: Sealer | None = None
        self._provider: OidcProvider | None = None
        self._built_from: tuple[object, ...] | None = None
        self._refreshing: dict[int, asyncio.Lock] = {}

    def use_sealer(self, sealer: Sealer) -> None:
        self.sealer = sealer

    def _seal(self) -> Sealer:
        if self.sealer is None:
            raise Unavailable("OIDC is not ready yet")
        return self.sealer

    async def settings(self) -> ExternalAuthSettings:
        settings = await self.configuration.current()
        if settings.mode != OIDC_AUTH:
            raise Precondition(f"the auth mode is {settings.mode}, not oidc")
        problem = settings.oidc_problem()
        if problem:
            log.warning("OIDC unavailable: %s", problem)
            raise Unavailable("OIDC is not configured")
        return settings

    async def provider(self) -> OidcProvider:
        settings = await self.settings()
        key = tuple(
            getattr(settings, k)
            for k in (
                "oidc_endpoint",
                "oidc_client_id",
                "oidc_client_secret",
                "oidc_verify_cert",
                "oidc_ca_file",
            )
        )
        if self._provider is None or self._built_from != key:
            if self._provider is not None:
                await self._provider.close()
            self._provider, self._built_from = OidcProvider(settings), key
        self._provider.settings = settings
        return self._provider

    @staticmethod
    def _unavailable(exc: ProviderUnavailable) -> Unavailable:
        log.warning("OIDC provider unavailable: %s", exc)
        return Unavailable("the OIDC provider is unavailable")

    # --- sealed cookies --------------------------------------------------------
    def seal_state(self, kind: str, data: dict[str, Any], lifetime: float) -> str:
        return self._seal().seal(json.dumps({**data, "exp": time.time() + lifetime}), kind)

    def open_state(self, kind: str, sealed: str | None) -> dict[str, Any] | None:
        if not sealed:
            return None
        try:
            data = json.loads(self._seal().open(sealed, kind))
        except (Unsealable, ValueError):
            return None
        if not isinstance(data, dict) or float(data.get("exp", 0)) < time.time():
            return None
        return data

    def session_cookie(self, user: User) -> str:
        return self.session_for(user.username, user.id)

    def session_for(self, username: str, user_id: int | None) -> str:
        """The sealed ``sid`` of a browser session (OIDC, or the sign-in form's)."""
        return self.seal_state("session", {"u": username, "id": user_id}, SESSION_SECONDS)

    def session_user(self, sealed: str | None) -> str | None:
        data = self.open_state("session", sealed)
        return str(data["u"]) if data else None

    # --- the browser flow ------------------------------------------------------
    async def begin(self, redirect_uri: str, redirect_url: str) -> tuple[str, str]:
        """(the provider's authorization URL, the sealed login state for the cookie)."""
        if redirect_url and not _local_path(redirect_url):
            raise BadRequest("redirect_url must be a path on this site")
        provider = await self.provider()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier, challenge = pkce_pair()
        try:
            url = await provider.authorization_url(redirect_uri, state, nonce, challenge)
        except ProviderUnavailable as exc:
            raise self._unavailable(exc) from None
        sealed = self.seal_state(
            "login",
            {"state": state, "nonce": nonce, "verifier": verifier, "next": redirect_url or "/"},
            LOGIN_SECONDS,
        )
        return url, sealed

    async def callback(
        self, query: dict[str, str], login_cookie: str | None, redirect_uri: str
    ) -> Outcome:
        pending = self.open_state("login", login_cookie)
        if pending is None:
            raise LoginRefused("no login in progress (or it expired): start again")
        if not secrets.compare_digest(str(query.get("state", "")), str(pending["state"])):
            log.warning("OIDC callback refused: state mismatch", extra={"ip": CLIENT_IP.get()})
            raise LoginRefused("state mismatch")
        if query.get("error"):
            error = query.get("error", "")[:100]
            log.info("OIDC provider returned an error", extra={"error": error})
            raise LoginRefused(f"the provider refused the login: {error}")
        code = query.get("code", "")
        if not code:
            raise LoginRefused("no authorization code")
        provider = await self.provider()
        settings = provider.settings
        try:
            tokens = await provider.exchange(code, str(pending["verifier"]), redirect_uri)
            claims = await provider.verify_id_token(tokens.id_token, str(pending["nonce"]))
            identity = identity_from(claims, await provider.userinfo(tokens.access_token), settings)
        except ProviderUnavailable as exc:
            raise self._unavailable(exc) from None
        except TokenRefused as exc:
            log.warning("OIDC login refused: %s", exc, extra={"ip": CLIENT_IP.get()})
            await self._audit_failure("", str(exc))
            raise LoginRefused("the provider's answer did not verify") from None
        target = str(pending.get("next") or "/")
        user = await self.store.user_by_oidc_subject(identity.issuer, identity.subject)
        if user is None:
            if settings.oidc_auto_onboard:
                if not identity.username:
                    raise LoginRefused("the provider gave no username to onboard with")
                user = await self._onboard(identity, tokens, identity.username)
            else:
                sealed = self.seal_state(
                    "onboard",
                    {"identity": identity.as_dict(), "tokens": tokens.to_json(), "next": target},
                    ONBOARD_SECONDS,
                )
                return Outcome(target, suggested=identity.username, pending=sealed)
        else:
            await self._signed_in(user, identity, tokens)
        if not user.enabled:
            await self._audit_failure(user.username, "user disabled")
            raise LoginRefused("this user is disabled")
        await self._audit_success(user.username)
        return Outcome(target, user=user)

    async def onboard(self, pending_cookie: str | None, username: str) -> tuple[User, str]:
        """Onboard with the username the user chose; (user, where to go next)."""
        pending = self.open_state("onboard", pending_cookie)
        if pending is None:
            raise BadRequest("no onboarding in progress (or it expired): sign in again")
        if not 1 <= len(username) <= 255 or _ILLEGAL.search(username):
            raise BadRequest('the username must be 1 to 255 characters, none of ,"~#%$: or space')
        identity = Identity.from_dict(pending["identity"])
        tokens = TokenSet.from_json(str(pending["tokens"]))
        if await self.store.user_by_oidc_subject(identity.issuer, identity.subject):
            raise BadRequest("this identity is onboarded already: sign in again")
        user = await self._onboard(identity, tokens, username)
        await self._audit_success(user.username)
        return user, str(pending.get("next") or "/")

    async def _onboard(self, identity: Identity, tokens: TokenSet, username: str) -> User:
        try:
            user = await self.onboarding.user(
                OIDC_AUTH,
                f"{identity.issuer}#{identity.subject}",
                username,
                email=identity.email,
                realname=username,
                comment="Onboarded via OIDC provider",
            )
        except OnboardingRefused as exc:
            log.warning("OIDC onboarding refused: %s", exc)
            raise LoginRefused(f"the username {username} is taken") from None
        sealer = self._seal()
        meta = OidcMeta(
            user.id,
            identity.subject,
            identity.issuer,
            sealer.seal(new_cli_secret(), f"cli:{user.id}"),
            sealer.seal(tokens.to_json(), f"tokens:{user.id}"),
            checked=time.time(),
        )
        try:
            await self.store.put_oidc_meta(meta)
        except Conflict:
            raise LoginRefused("this identity is onboarded already") from None
        await self._groups(user, identity)
        return user

    async def _signed_in(self, user: User, identity: Identity, tokens: TokenSet) -> None:
        """A known user signed in again: fresh tokens, e-mail and groups."""
        meta = await self.store.get_oidc_meta(user.id)
        if meta is None:
            raise LoginRefused("this user has no OIDC record")
        meta.token_sealed = self._seal().seal(tokens.to_json(), f"tokens:{user.id}")
        meta.checked = meta.updated = time.time()
        await self.store.put_oidc_meta(meta)
        if identity.email and identity.email != user.email:
            user.email = identity.email
            user.updated = now()
            await self.store.update_user(user)
        await self._groups(user, identity)

    async def _groups(self, user: User, identity: Identity) -> None:
        groups = [UserGroup(name, OIDC_GROUP) for name in identity.groups]
        await self.onboarding.groups(user, groups, admin=identity.admin)

    async def _audit_success(self, username: str) -> None:
        await self.audit_log.record(
            AuditEvent(
                username,
                "login",
                "user",
                username,
                client_ip=CLIENT_IP.get(),
                detail="mode oidc (browser)",
            )
        )

    async def _audit_failure(self, username: str, reason: str) -> None:
        await self.audit_log.record(
            AuditEvent(
                username or "unknown",
                "login",
                "user",
                username or "unknown",
                client_ip=CLIENT_IP.get(),
                result="failure",
                detail=f"{reason[:200]} (mode oidc, browser)",
            )
        )

    # --- the CLI secret ----------------------------------------------------------
    async def cli_secret(self, user: User) -> tuple[OidcMeta, str] | None:
        """The user's OIDC record and CLI secret (None for users who aren't OIDC's)."""
        meta = await self.store.get_oidc_meta(user.id)
        if meta is None:
            return None
        try:
            return meta, self._seal().open(meta.secret_sealed, f"cli:{user.id}")
        except Unsealable:
            log.error(
                "a CLI secret does not unseal (was auth.secret_key changed?)",
                extra={"user": user.username},
            )
            return None

    async def set_cli_secret(self, actor: Principal, user_id: int, secret: str) -> str:
        """Harbor's ``PUT /users/{id}/cli_secret``: the user themself or a system admin;
        an empty ``secret`` draws a new random one. Returns the secret now in force."""
        if actor.user_id != user_id:
            require_admin(actor)
        user = await self.store.get_user_by_id(user_id)
        if user is None:
            raise NotFound("no such user")
        meta = await self.store.get_oidc_meta(user_id)
        if meta is None:
            raise Precondition("only users who signed in through OIDC have a CLI secret")
        secret = secret or new_cli_secret()
        if password_acceptable(secret):
            raise BadRequest(WEAK_SECRET)
        meta.secret_sealed = self._seal().seal(secret, f"cli:{user_id}")
        meta.updated = time.time()
        await self.store.put_oidc_meta(meta)
        await self.audit_log.record_change(actor, "update", "user", f"{user.username} cli secret")
        return secret

    async def check_cli_secret(self, username: str, secret: str) -> User | None:
        """The OIDC user when ``secret`` is their CLI secret and the provider still
        vouches for them (asked at most every ``oidc_cli_check_interval``)."""
        user = await self.store.get_user(username)
        if user is None or user.auth_source != OIDC_AUTH or not secret:
            return None
        found = await self.cli_secret(user)
        if found is None:
            return None
        meta, expected = found
        if not secrets.compare_digest(secret.encode(), expected.encode()):
            return None
        settings = await self.settings()
        if time.time() - meta.checked < settings.oidc_cli_check_interval:
            return user
        lock = self._refreshing.setdefault(user.id, asyncio.Lock())
        async with lock:  # one refresh at a time per user (rotating refresh tokens)
            fresh = await self.store.get_oidc_meta(user.id)
            if fresh is not None and time.time() - fresh.checked < settings.oidc_cli_check_interval:
                return user
            return user if await self._still_valid(user, fresh or meta) else None

    async def _still_valid(self, user: User, meta: OidcMeta) -> bool:
        sealer = self._seal()
        try:
            tokens = TokenSet.from_json(sealer.open(meta.token_sealed, f"tokens:{user.id}"))
        except (Unsealable, ValueError):
            log.error("OIDC tokens do not unseal", extra={"user": user.username})
            return False
        if not tokens.refresh_token:
            log.warning(
                "OIDC user has no refresh token: the CLI secret can't be checked "
                "(add offline_access to oidc_scope)",
                extra={"user": user.username},
            )
            return False
        provider = await self.provider()
        try:
            fresh = await provider.refresh(tokens.refresh_token)
            identity = None
            if fresh.id_token:
                claims = await provider.verify_id_token(fresh.id_token, None)
                if claims.get("sub") != meta.subject:
                    raise TokenRefused("the refreshed ID token is for another subject")
                identity = identity_from(claims, None, provider.settings)
        except ProviderUnavailable as exc:
            raise self._unavailable(exc) from None
        except TokenRefused as exc:
            log.info(
                "OIDC user no longer valid at the provider: %s", exc, extra={"user": user.username}
            )
            return False
        kept = TokenSet(
            fresh.id_token or tokens.id_token,
            fresh.access_token,
            fresh.refresh_token or tokens.refresh_token,  # a provider may not rotate it
            fresh.expires_at,
        )
        meta.token_sealed = sealer.seal(kept.to_json(), f"tokens:{user.id}")
        meta.checked = meta.updated = time.time()
        await self.store.put_oidc_meta(meta)
        if identity is not None and provider.settings.oidc_groups_claim:
            await self._groups(user, identity)
        return True

    async def close(self) -> None:
        if self._provider is not None:
            await self._provider.close()


class OidcCliAuthenticator(Authenticator):
    """``docker login -u USER -p CLI_SECRET`` in the OIDC mode."""

    mode = OIDC_AUTH

    def __init__(self, logins: OidcLogins) -> None:
        self.logins = logins

    async def authenticate(self, username: str, password: str) -> User | None:
        try:
            return await self.logins.check_cli_secret(username, password)
        except Precondition:
            return None
