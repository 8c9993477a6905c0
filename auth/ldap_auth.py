"""Sign-in through the LDAP directory (``auth.mode: ldap``): search-then-bind, onboarding
at first sign-in, the user's groups (nested ones included) re-read at each sign-in and,
for requests carrying a token, whenever the last reading is older than
``ldap_group_refresh`` — so a user removed from a group or from the directory loses what
it gave them within that time."""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import ValidationError

from wharf.auth.access import require_admin
from wharf.auth.authenticators import Authenticator
from wharf.auth.configuration import Configuration
from wharf.auth.errors import BadRequest, NotFound, Unavailable
from wharf.auth.ldap import (
    DirectoryGroup,
    DirectoryUnavailable,
    DirectoryUser,
    LdapDirectory,
    Membership,
    directory_for,
    is_dn,
)
from wharf.auth.models import LDAP_AUTH, LDAP_GROUP, User, UserGroup
from wharf.auth.onboarding import Onboarding, OnboardingRefused
from wharf.auth.principals import Principal
from wharf.auth.settings import ExternalAuthSettings
from wharf.auth.store import AuthStore

log = logging.getLogger("wharf.auth.ldap")

# the settings that shape the connection pool: a change of any rebuilds it
_CONNECTION_KEYS = (
    "ldap_url",
    "ldap_search_dn",
    "ldap_search_password",
    "ldap_timeout",
    "ldap_verify_cert",
    "ldap_ca_file",
    "ldap_starttls",
    "ldap_pool_size",
)


class LdapAuthenticator(Authenticator):
    mode = LDAP_AUTH

    def __init__(
        self, store: AuthStore, configuration: Configuration, onboarding: Onboarding
    ) -> None:
        self.store = store
        self.configuration = configuration
        self.onboarding = onboarding
        self._directory: LdapDirectory | None = None
        self._built_from: tuple[object, ...] | None = None

    async def directory(self) -> LdapDirectory:
        """The process's pool for the settings in force (rebuilt when they change)."""
        settings = await self.configuration.current()
        key = tuple(getattr(settings, k) for k in _CONNECTION_KEYS)
        if self._directory is None or self._built_from != key:
            try:
                fresh = LdapDirectory(settings)
            except DirectoryUnavailable as exc:
                raise self._unavailable(exc) from None
            if self._directory is not None:
                self._directory.close()
            self._directory, self._built_from = fresh, key
        else:
            self._directory.settings = settings  # searches follow the other settings
        return self._directory

    @staticmethod
    def _unavailable(exc: DirectoryUnavailable) -> Unavailable:
        log.warning("LDAP directory unavailable: %s", exc)
        return Unavailable("the LDAP directory is unavailable")

    async def authenticate(self, username: str, password: str) -> User | None:
        if not username or not password:
            return None
        directory = await self.directory()
        try:
            entry = await directory.find_user(username)
            if entry is None:
                return None
            if not await directory.check_password(entry, password):
                return None
            membership = await directory.membership(entry)
        except DirectoryUnavailable as exc:
            raise self._unavailable(exc) from None
        try:
            user = await self._onboard(entry)
        except OnboardingRefused as exc:
            log.warning("LDAP sign-in refused: %s", exc, extra={"user": username[:255]})
            return None
        await self._sync_groups(user, membership, directory.settings)
        return user

    async def _onboard(self, entry: DirectoryUser) -> User:
        return await self.onboarding.user(
            LDAP_AUTH,
            entry.uuid,
            entry.username,
            email=entry.email,
            realname=entry.realname,
            comment="from LDAP",
        )

    async def _sync_groups(
        self, user: User, membership: Membership, settings: ExternalAuthSettings
    ) -> None:
        groups = [UserGroup(g.name, LDAP_GROUP, ldap_dn=g.dn) for g in membership.groups]
        await self.onboarding.groups(user, groups, admin=membership.admin)

    async def refresh(self, user: User) -> bool:
        """Re-read a signed-in user's entry and groups when older than
        ``ldap_group_refresh``; False when the directory no longer has them (gone,
        renamed, or no longer matching ``ldap_filter``). A directory that can't be asked
        leaves the last reading in force (logged): tokens keep working through an
        outage, sign-ins with a password don't."""
        settings = await self.configuration.current()
        if time.time() - user.external_checked < settings.ldap_group_refresh:
            return True
        try:
            directory = await self.directory()
            entry = await directory.find_user(user.username)
            if entry is None or entry.uuid != user.external_id:
                log.info("LDAP user gone from the directory", extra={"user": user.username})
                return False
            membership = await directory.membership(entry)
        except (DirectoryUnavailable, Unavailable) as exc:
            log.warning(
                "LDAP groups not refreshed (kept as last read): %s",
                exc,
                extra={"user": user.username},
            )
            return True
        await self._sync_groups(user, membership, settings)
        return True

    async def import_user(self, username: str) -> User:
        """Onboard a directory user before their first sign-in (``/ldap/users/import``)."""
        directory = await self.directory()
        try:
            entry = await directory.find_user(username)
            if entry is None:
                raise NotFound(f"{username} is not in the directory")
            membership = await directory.membership(entry)
        except DirectoryUnavailable as exc:
            raise self._unavailable(exc) from None
        try:
            user = await self._onboard(entry)
        except OnboardingRefused as exc:
            raise NotFound(str(exc)) from None
        await self._sync_groups(user, membership, directory.settings)
        return user

    # --- Harbor's /ldap endpoints (system admins) --------------------------------
    async def ping(self, actor: Principal, overrides: dict[str, Any]) -> tuple[bool, str]:
        """Try the settings in force with ``overrides`` (an LdapConf; the search password
        left out means the current one): (success, message)."""
        require_admin(actor)
        current = await self.configuration.current()
        merged = current.model_dump()
        for key, value in overrides.items():
            name = "ldap_timeout" if key == "ldap_connection_timeout" else key
            if name in merged and name.startswith("ldap_") and value is not None:
                merged[name] = value
        try:
            settings = ExternalAuthSettings.model_validate(merged)
        except ValidationError as exc:
            raise BadRequest("; ".join(str(e["msg"]) for e in exc.errors())) from None
        try:
            with directory_for(settings) as directory:
                await directory.ping()
        except DirectoryUnavailable as exc:
            log.info("LDAP ping failed: %s", exc)
            return False, str(exc)
        return True, "success"

    async def search_users(self, actor: Principal, username: str) -> list[DirectoryUser]:
        require_admin(actor)
        directory = await self.directory()
        try:
            return await directory.search_users(username)
        except DirectoryUnavailable as exc:
            raise self._unavailable(exc) from None

    async def search_groups(self, actor: Principal, name: str, dn: str) -> list[DirectoryGroup]:
        require_admin(actor)
        if dn and not is_dn(dn):
            raise BadRequest("groupdn is not a DN")
        directory = await self.directory()
        try:
            return await directory.search_groups(name=name, dn=dn)
        except DirectoryUnavailable as exc:
            raise self._unavailable(exc) from None

    async def import_users(self, actor: Principal, uids: list[str]) -> list[tuple[str, str]]:
        """Onboard directory users ahead of their first sign-in; the (uid, why) of those
        that could not be."""
        require_admin(actor)
        failed: list[tuple[str, str]] = []
        for uid in uids:
            try:
                user = await self.import_user(uid)
            except NotFound as exc:
                failed.append((uid, exc.message))
                continue
            await self.onboarding.audit_log.record_change(actor, "create", "user", user.username)
        return failed

    def close(self) -> None:
        if self._directory is not None:
            self._directory.close()
            self._directory = None
