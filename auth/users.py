"""Managing users: create, read, list, update, change passwords, delete."""

from __future__ import annotations

import re

from wharf.auth.access import require_admin, require_signed_in
from wharf.auth.audit import AuditLog
from wharf.auth.errors import AlreadyExists, BadRequest, Forbidden, NotFound
from wharf.auth.models import ROBOT_PREFIX, User, now
from wharf.auth.passwords import (
    hash_password,
    password_acceptable,
    verify_password,
)
from wharf.auth.principals import Principal
from wharf.auth.store import AuthStore, Conflict, Page

USERNAME_RE = re.compile(r"^[^\s,\"~#%$:]{1,255}$")
# Harbor's check of an email address
EMAIL_RE = re.compile(
    r"^(([^<>()\[\]\\.,;:\s@\"]+(\.[^<>()\[\]\\.,;:\s@\"]+)*)|(\".+\"))@"
    r"((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\])|(([a-zA-Z\-0-9]+\.)+[a-zA-Z]{2,}))$"
)
ILLEGAL_NAME_CHARS = ',"~#%$'


def check_profile(email: str, realname: str, comment: str) -> None:
    """Harbor's rules for a user's profile: an email, a real name, a short comment."""
    if not email:
        raise BadRequest("email can't be empty")
    if not EMAIL_RE.match(email):
        raise BadRequest("email with illegal format")
    if not 1 <= len(realname) <= 255:
        raise BadRequest("realname with illegal length")
    if any(c in ILLEGAL_NAME_CHARS for c in realname):
        raise BadRequest("realname contains illegal characters")
    if len(comment) > 30:
        raise BadRequest("comment with illegal length")


WEAK_SECRET = (
    "the password or secret must be 8-128, inclusively, characters long with at least "
    "1 uppercase letter, 1 lowercase letter and 1 number"
)


class Users:
    def __init__(self, store: AuthStore, audit_log: AuditLog) -> None:
        self.store = store
        self.audit_log = audit_log

    async def create(
        self,
        actor: Principal,
        username: str,
        password: str,
        *,
        email: str = "",
        realname: str = "",
        comment: str = "",
        sysadmin: bool = False,
        check: bool = True,
    ) -> User:
        """A new local user; ``check`` applies Harbor's profile rules (the CLI and the
        bootstrap create users without an email)."""
        require_admin(actor)
        if not USERNAME_RE.match(username) or username.startswith(ROBOT_PREFIX):
            raise BadRequest("invalid username")
        if check:
            check_profile(email, realname, comment)
        if password_acceptable(password):
            raise BadRequest(WEAK_SECRET)
        user = User(
            username,
            email=email,
            realname=realname,
            comment=comment,
            password_hash=hash_password(password),
            sysadmin=sysadmin,
        )
        try:
            await self.store.create_user(user)
        except Conflict:
            raise AlreadyExists(f"user {username} already exists") from None
        await self.audit_log.record_change(actor, "create", "user", username)
        return user

    async def get(self, actor: Principal, user_id: int) -> User:
        if actor.user_id != user_id:
            require_admin(actor)
        user = await self.store.get_user_by_id(user_id)
        if user is None:
            raise NotFound("no such user")
        return user

    async def find(self, actor: Principal, username: str) -> User:
        user = await self.store.get_user(username)
        if user is None:
            raise NotFound(f"no user {username}")
        return await self.get(actor, user.id)

    async def every(self, actor: Principal) -> list[User]:
        """Every user (system admins), for the HTTP layer's filters."""
        require_admin(actor)
        users, _ = await self.store.list_users(None, Page(0, 1_000_000))
        return users

    async def search(
        self, actor: Principal, query: str | None, page: Page
    ) -> tuple[list[User], int]:
        require_admin(actor)
        return await self.store.list_users(query, page)

    async def delete(self, actor: Principal, user_id: int) -> None:
        require_admin(actor)
        if actor.user_id == user_id or user_id == 1:
            raise Forbidden(f"User with ID {user_id} cannot be deleted")
        user = await self.store.get_user_by_id(user_id)
        if user is None:
            raise NotFound("no such user")
        await self.store.delete_user(user_id)
        await self.audit_log.record_change(actor, "delete", "user", user.username)

    async def set_password(
        self, actor: Principal, user_id: int, new_password: str, old_password: str | None = None
    ) -> None:
        if actor.user_id != user_id:
            require_admin(actor)
        user = await self.store.get_user_by_id(user_id)
        if user is None:
            raise NotFound("no such user")
        if actor.user_id == user_id and not verify_password(old_password or "", user.password_hash):
            raise Forbidden("Current password is incorrect")
        if password_acceptable(new_password):
            raise BadRequest(WEAK_SECRET)
        if verify_password(new_password, user.password_hash):
            raise BadRequest("New password is identical to old password")
        user.password_hash = hash_password(new_password)
        user.updated = now()
        await self.store.update_user(user)
        await self.audit_log.record_change(actor, "update", "user", f"{user.username} password")

    async def update(
        self,
        actor: Principal,
        user_id: int,
        *,
        sysadmin: bool | None = None,
        enabled: bool | None = None,
        email: str | None = None,
        realname: str | None = None,
        comment: str | None = None,
    ) -> User:
        if sysadmin is not None or enabled is not None:
            require_admin(actor)
        user = await self.get(actor, user_id)
        if email is not None or realname is not None or comment is not None:
            check_profile(email or "", realname or "", comment or "")
        if sysadmin is not None:
            user.sysadmin = sysadmin
        if enabled is not None:
            user.enabled = enabled
        user.email = user.email if email is None else email
        user.realname = user.realname if realname is None else realname
        user.comment = user.comment if comment is None else comment
        user.updated = now()
        await self.store.update_user(user)
        await self.audit_log.record_change(actor, "update", "user", user.username)
        return user

    async def search_names(self, actor: Principal, name: str, page: Page) -> tuple[list[User], int]:
        """Users whose name contains ``name``: any signed-in caller (to add members)."""
        require_signed_in(actor)
        return await self.store.list_users(name, page)

    async def id_of(self, username: str) -> int | None:
        user = await self.store.get_user(username)
        return None if user is None else user.id

    async def username_of(self, user_id: int) -> str | None:
        user = await self.store.get_user_by_id(user_id)
        return user.username if user else None
