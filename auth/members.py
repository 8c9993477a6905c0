"""Managing project members and their roles."""

from __future__ import annotations

from wharf.auth.access import project_with
from wharf.auth.audit import AuditLog
from wharf.auth.errors import AlreadyExists, NotFound
from wharf.auth.models import MEMBERS, Member, Role, UserGroup, policy
from wharf.auth.principals import Principal
from wharf.auth.store import AuthStore, Conflict


class Members:
    def __init__(self, store: AuthStore, audit_log: AuditLog) -> None:
        self.store = store
        self.audit_log = audit_log

    async def of(self, actor: Principal, project: str | int, action: str = "list") -> list[Member]:
        """The members (Harbor's ``member`` ``list`` or ``read`` policy: project members
        from guest up, not limited guests, not the public)."""
        found = await project_with(self.store, actor, project, policy("member", action))
        return await self.store.list_members(found.id)

    async def add(self, actor: Principal, project: str | int, username: str, role: Role) -> Member:
        found = await project_with(self.store, actor, project, MEMBERS)
        user = await self.store.get_user(username)
        if user is None:
            raise NotFound(f"no user {username}")
        try:
            member = await self.store.add_member(Member(found.id, user.id, role, username))
        except Conflict:
            raise AlreadyExists(f"{username} is already a member of {found.name}") from None
        await self.audit_log.record_change(
            actor, "create", "member", f"{username} as {role.name.lower()}", project=found.name
        )
        return member

    async def add_group(
        self, actor: Principal, project: str | int, group: UserGroup, role: Role
    ) -> Member:
        """A user group as a member: everyone in it gets ``role`` (or keeps a stronger
        one of their own)."""
        found = await project_with(self.store, actor, project, MEMBERS)
        member = Member(found.id, None, role, group.name, group_id=group.id)
        member.group_type = group.group_type
        try:
            member = await self.store.add_member(member)
        except Conflict:
            raise AlreadyExists(f"group {group.name} is already a member of {found.name}") from None
        await self.audit_log.record_change(
            actor,
            "create",
            "member",
            f"group {group.name} as {role.name.lower()}",
            project=found.name,
        )
        return member

    async def set_role(
        self, actor: Principal, project: str | int, member_id: int, role: Role
    ) -> None:
        found = await project_with(self.store, actor, project, MEMBERS)
        member = await self.store.get_member(found.id, member_id)
        if member is None:
            raise NotFound("no such member")
        member.role = role
        await self.store.update_member(member)
        await self.audit_log.record_change(
            actor,
            "update",
            "member",
            f"{member.username} as {role.name.lower()}",
            project=found.name,
        )

    async def remove(self, actor: Principal, project: str | int, member_id: int) -> None:
        found = await project_with(self.store, actor, project, MEMBERS)
        member = await self.store.get_member(found.id, member_id)
        if member is None:
            raise NotFound("no such member")
        await self.store.delete_member(found.id, member_id)
        await self.audit_log.record_change(
            actor, "delete", "member", member.username, project=found.name
        )
