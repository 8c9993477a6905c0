"""Managing user groups (Harbor's ``/usergroups``): LDAP groups are named by their DN,
which must exist in the directory (its name read from there unless one is given); OIDC
groups by the name the provider's groups claim carries. Groups are also created at
sign-in, for every group a user turns out to be in."""

from __future__ import annotations

from wharf.auth.access import require_admin
from wharf.auth.audit import AuditLog
from wharf.auth.configuration import Configuration
from wharf.auth.errors import AlreadyExists, BadRequest, NotFound, Unavailable
from wharf.auth.ldap import DirectoryUnavailable, is_dn, normalize_dn
from wharf.auth.ldap_auth import LdapAuthenticator
from wharf.auth.models import HTTP_GROUP, LDAP_GROUP, OIDC_GROUP, UserGroup, now
from wharf.auth.principals import Principal
from wharf.auth.store import AuthStore, Conflict, Page


class UserGroups:
    def __init__(
        self,
        store: AuthStore,
        audit_log: AuditLog,
        configuration: Configuration,
        ldap: LdapAuthenticator,
    ) -> None:
        self.store = store
        self.audit_log = audit_log
        self.configuration = configuration
        self.ldap = ldap

    async def create(
        self, actor: Principal, name: str, group_type: int, ldap_dn: str = ""
    ) -> UserGroup:
        require_admin(actor)
        if group_type not in (LDAP_GROUP, HTTP_GROUP, OIDC_GROUP):
            raise BadRequest("group_type must be 1 (LDAP), 2 (HTTP) or 3 (OIDC)")
        if group_type == LDAP_GROUP:
            name, ldap_dn = await self._ldap_group(name, ldap_dn)
        elif not name:
            raise BadRequest("group_name is required")
        group = UserGroup(name[:255], group_type, ldap_dn=ldap_dn if group_type == 1 else "")
        try:
            await self.store.create_group(group)
        except Conflict:
            raise AlreadyExists("this group exists already") from None
        await self.audit_log.record_change(actor, "create", "user_group", group.name)
        return group

    async def _ldap_group(self, name: str, dn: str) -> tuple[str, str]:
        """(name, DN) of an LDAP group, checked against the directory."""
        if not dn or not is_dn(dn):
            raise BadRequest("ldap_group_dn must be the group's DN")
        settings = await self.configuration.current()
        if settings.mode != "ldap":
            raise BadRequest("LDAP groups need auth_mode ldap_auth")
        directory = await self.ldap.directory()
        try:
            found = await directory.search_groups(dn=dn)
        except DirectoryUnavailable as exc:
            raise Unavailable(f"the LDAP directory is unavailable: {exc}") from None
        match = [g for g in found if normalize_dn(g.dn) == normalize_dn(dn)]
        if not match:
            raise NotFound(f"no group {dn} in the directory (under the group base DN)")
        return name or match[0].name, match[0].dn

    async def get(self, actor: Principal, group_id: int) -> UserGroup:
        require_admin(actor)
        group = await self.store.get_group(group_id)
        if group is None:
            raise NotFound(f"no user group {group_id}")
        return group

    async def listing(
        self, actor: Principal, name: str | None, ldap_dn: str | None, page: Page
    ) -> tuple[list[UserGroup], int]:
        require_admin(actor)
        return await self.store.list_groups(name, ldap_dn, page)

    async def search(self, actor: Principal, name: str, page: Page) -> tuple[list[UserGroup], int]:
        """Open to every signed-in user (to pick a group to add to a project)."""
        if not actor.authenticated:
            raise BadRequest("sign in to search groups")
        if not name:
            raise BadRequest("groupname is required")
        return await self.store.list_groups(name, None, page)

    async def rename(self, actor: Principal, group_id: int, name: str) -> None:
        require_admin(actor)
        if not name:
            raise BadRequest("group_name is required")
        if not await self.store.rename_group(group_id, name[:255], now()):
            raise NotFound(f"no user group {group_id}")
        await self.audit_log.record_change(actor, "update", "user_group", name[:255])

    async def delete(self, actor: Principal, group_id: int) -> None:
        require_admin(actor)
        group = await self.store.get_group(group_id)
        if group is None or not await self.store.delete_group(group_id):
            raise NotFound(f"no user group {group_id}")
        await self.audit_log.record_change(actor, "delete", "user_group", group.name)

    async def find_for_member(self, group_id: int | None, name: str, ldap_dn: str) -> UserGroup:
        """The group ``member_group`` of ``POST /projects/{p}/members`` names: by id, by
        LDAP DN (onboarded from the directory when new, as in Harbor) or by name."""
        if group_id:
            group = await self.store.get_group(group_id)
            if group is None:
                raise NotFound(f"no user group {group_id}")
            return group
        if ldap_dn:
            groups, _ = await self.store.list_groups(None, ldap_dn, Page(0, 1))
            if groups:
                return groups[0]
            name, dn = await self._ldap_group(name, ldap_dn)
            stored = await self.store.ensure_groups([UserGroup(name, LDAP_GROUP, ldap_dn=dn)])
            return stored[0]
        if name:
            groups, _ = await self.store.list_groups(name, None, Page(0, 100))
            exact = [g for g in groups if g.name == name]
            if len(exact) == 1:
                return exact[0]
            if len(exact) > 1:
                raise BadRequest(f"several groups are named {name}: give the id")
            settings = await self.configuration.current()
            if settings.mode == "oidc":  # Harbor onboards OIDC groups by name
                return (await self.store.ensure_groups([UserGroup(name, OIDC_GROUP)]))[0]
            raise NotFound(f"no user group {name}")
        raise BadRequest("member_group needs an id, an ldap_group_dn or a group_name")
