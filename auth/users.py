"""Managing users: create, read, list, update, change passwords, delete."""

from __future__ import annotations

import re

from wharf.auth.access import require_admin
from wharf.auth.audit import AuditLog
from wharf.auth.errors import AlreadyExists, BadRequest, Forbidden, NotFound
from wharf.auth.models import ROBOT_PREFIX, User, now
from wharf.auth.passwords import hash_password, password_acceptable, verify_password
from wharf.auth.principals import Principal
from wharf.auth.store import AuthStore, Conflict, Page

USERNAME_RE = re.compile(r"^[^\s,\"~#%$:]{1,255}$")


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
    ) -> User:
        require_admin(actor)
        if not USERNAME_RE.match(username) or username.startswith(ROBOT_PREFIX):
            raise BadRequest("invalid username")
        problem = password_acceptable(password)
        if problem:
            raise BadRequest(problem)
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
        user = await self.store.get_user_by_id(user_id)
        if user is None or not (actor.sysadmin or actor.user_id == user_id):
            if actor.sysadmin:
                raise NotFound("no such user")
            raise Forbidden("only system admins may read other users")
        return user

    async def find(self, actor: Principal, username: str) -> User:
        user = await self.store.get_user(username)
        if user is None:
            raise NotFound(f"no user {username}")
        return await self.get(actor, user.id)

    async def search(
        self, actor: Principal, query: str | None, page: Page
    ) -> tuple[list[User], int]:
        require_admin(actor)
        return await self.store.list_users(query, page)

    async def delete(self, actor: Principal, user_id: int) -> None:
        require_admin(actor)
        user = await self.store.get_user_by_id(user_id)
        if user is None:
            raise NotFound("no such user")
        if actor.user_id == user_id:
            raise Forbidden("you cannot delete yourself")
        await self.store.delete_user(user_id)
        await self.audit_log.record_change(actor, "delete", "user", user.username)

    async def set_password(
        self, actor: Principal, user_id: int, new_password: str, old_password: str | None = None
    ) -> None:
        user = await self.store.get_user_by_id(user_id)
        if user is None:
            raise NotFound("no such user")
        if not actor.sysadmin:
            if actor.user_id != user_id:
                raise Forbidden("you may only change your own password")
            if old_password is None or not verify_password(old_password, user.password_hash):
                raise BadRequest("the old password is wrong")
        problem = password_acceptable(new_password)
        if problem:
            raise BadRequest(problem)
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
        user = await self.get(actor, user_id)
        if (sysadmin is not None or enabled is not None) and not actor.sysadmin:
            raise Forbidden("only system admins may change this")
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

    async def username_of(self, user_id: int) -> str | None:
        user = await self.store.get_user_by_id(user_id)
        return user.username if user else None
