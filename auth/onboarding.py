"""Users and groups vouched for by an external authority (LDAP, OIDC) become Wharf users
and user groups: created at first sign-in (Harbor's "onboarding"), kept in step at each
later one (e-mail, name, a rename in the directory, the groups they are in)."""

from __future__ import annotations

import logging
import time

from wharf.auth.audit import AuditLog
from wharf.auth.models import DB_AUTH, AuditEvent, User, UserGroup
from wharf.auth.store import AuthStore, Conflict

log = logging.getLogger("wharf.auth")


class OnboardingRefused(Exception):
    """The external identity cannot become (or stay) this Wharf user; the message says
    why (logged, never shown to the caller)."""


class Onboarding:
    def __init__(self, store: AuthStore, audit_log: AuditLog) -> None:
        self.store = store
        self.audit_log = audit_log

    async def user(
        self,
        source: str,
        external_id: str,
        username: str,
        *,
        email: str = "",
        realname: str = "",
        comment: str = "",
    ) -> User:
        """The Wharf user of the person the authority knows as ``external_id``, created
        on first sign-in and renamed when the authority renamed them. A local user (with
        a password) of the same name is never taken over."""
        user = await self.store.get_user_by_external(source, external_id)
        if user is not None:
            if user.username != username:
                await self._rename(user, username)
            changed = False
            if email and user.email != email:
                user.email, changed = email, True
            if realname and user.realname != realname:
                user.realname, changed = realname, True
            if changed:
                user.updated = time.time()
                await self.store.update_user(user)
            return user
        same_name = await self.store.get_user(username)
        if same_name is not None:
            if same_name.auth_source == DB_AUTH:
                raise OnboardingRefused(
                    f"a local user named {username!r} exists; it is not taken over by {source}"
                )
            # the authority's name now belongs to another person (their old id is gone
            # or renamed): the old record goes to them only if that id is really gone,
            # which the authority alone knows; refuse rather than merge two people
            raise OnboardingRefused(
                f"user {username!r} belongs to another {source} identity ({same_name.external_id})"
            )
        user = User(
            username,
            email=email,
            realname=realname or username,
            comment=comment or f"from {source.upper()}",
            auth_source=source,
            external_id=external_id,
        )
        try:
            await self.store.create_user(user)
        except Conflict:
            # another replica onboarded the same person at the same moment
            found = await self.store.get_user_by_external(source, external_id)
            if found is None:
                raise OnboardingRefused(f"user {username!r} was taken meanwhile") from None
            return found
        await self.audit_log.record(
            AuditEvent(username, "create", "user", username, detail=f"onboarded from {source}")
        )
        return user

    async def _rename(self, user: User, username: str) -> None:
        holder = await self.store.get_user(username)
        if holder is not None and holder.id != user.id:
            raise OnboardingRefused(
                f"renamed to {username!r} in {user.auth_source}, but that name is taken here"
            )
        old = user.username
        try:
            await self.store.rename_user(user.id, username)
        except Conflict:
            raise OnboardingRefused(f"cannot rename {old!r} to {username!r}") from None
        user.username = username
        log.info("user renamed by the directory", extra={"old": old, "new": username})
        await self.audit_log.record(
            AuditEvent(username, "update", "user", f"{old} renamed to {username}")
        )

    async def groups(
        self, user: User, groups: list[UserGroup], *, admin: bool, checked: float | None = None
    ) -> None:
        """The user's groups as the authority says now (created when new), and whether
        that makes them a system admin. Nothing is written when that is what is stored
        and it was confirmed within the last minute (logins stay read-only)."""
        when = time.time() if checked is None else checked
        stored_now = await self.store.groups_of_user(user.id)
        wanted = {(g.group_type, g.key) for g in groups}
        unchanged = {(g.group_type, g.key) for g in stored_now} == wanted
        if unchanged and user.group_admin == admin and when - user.external_checked < 60:
            return
        known = {(g.group_type, g.key): g for g in stored_now}
        missing = [g for g in groups if (g.group_type, g.key) not in known]
        created = await self.store.ensure_groups(missing) if missing else []
        ids = sorted({g.id for g in [*known.values(), *created] if (g.group_type, g.key) in wanted})
        await self.store.set_user_groups(user.id, ids, group_admin=admin, checked=when)
        user.group_admin = admin
        user.external_checked = when
