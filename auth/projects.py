"""Managing projects: create, read, list, change visibility, delete (empty ones only)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from wharf.auth.access import project_with, require_signed_in
from wharf.auth.audit import AuditLog
from wharf.auth.errors import AlreadyExists, BadRequest, Forbidden, NotFound, Precondition
from wharf.auth.models import PROJECT, Member, Project, Role, now, policy
from wharf.auth.options import AuthOptions
from wharf.auth.principals import SYSTEM, USER, Principal
from wharf.auth.store import AuthStore, Conflict, Page, ProjectNotEmpty

# Harbor's project names: one lower-case component, stricter than a repository name's.
PROJECT_NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
NOT_EMPTY = "the project still holds repositories; delete them first"
PROJECT_READ = policy("project", "read")
METADATA_LIST = policy("metadata", "list")
METADATA_READ = policy("metadata", "read")
METADATA_CREATE = policy("metadata", "create")
METADATA_UPDATE = policy("metadata", "update")
METADATA_DELETE = policy("metadata", "delete")
PUBLIC = "public"
# Harbor's project metadata keys settable one at a time, by the kind of value they take
BOOLEAN_KEYS = frozenset(
    {
        PUBLIC,
        "enable_content_trust",
        "enable_content_trust_cosign",
        "auto_sbom_generation",
        "prevent_vul",
        "auto_scan",
        "reuse_sys_cve_allowlist",
        "proxy_cache_local_on_not_found",
        "proxy_referrer_api",
    }
)
SEVERITIES = frozenset({"none", "low", "medium", "high", "critical"})
PROXY_FILTER_KEYS = frozenset({"proxy_cache_filter_pattern", "proxy_cache_filter_kind"})
GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
INT32 = re.compile(r"^[+-]?[0-9]+$")
ALL_ROWS = 1_000_000  # "every row" for the in-memory filters of the HTTP layer


def valid_project_name(name: str) -> bool:
    return 1 <= len(name) <= 255 and PROJECT_NAME_RE.match(name) is not None


def metadata_value(key: str, value: str) -> str:
    """``value`` of Harbor's metadata ``key`` in its canonical form ("true"/"false" for the
    flags, a lower-case CVSS v3 severity, a decimal number): BadRequest for unknown keys,
    values not of the key's kind, and the proxy-cache filters (Harbor takes them only on
    proxy-cache projects; Wharf's proxy cache has no repository filters)."""
    if key in BOOLEAN_KEYS:
        if value in GO_TRUE:
            return "true"
        if value in GO_FALSE:
            return "false"
        raise BadRequest(f"invalid value: {value}")
    if key == "severity":
        severity = "none" if value.lower() == "negligible" else value.lower()
        if severity not in SEVERITIES:
            raise BadRequest(f"invalid value: {value}")
        return severity
    if key in ("proxy_speed_kb", "max_upstream_conn"):
        number = int(value) if INT32.match(value) else None
        if number is None or not -(2**31) <= number < 2**31:
            raise BadRequest(f"invalid value: {value}")
        if key == "max_upstream_conn" and number <= 0 and number != -1:
            raise BadRequest(f"invalid value for {key}: {number}")
        return str(number)
    if key in PROXY_FILTER_KEYS:
        raise BadRequest("can not update the normal project with proxy cache filter metadata")
    raise BadRequest(f"invalid key: {key}")


def single_pair(metadata: Mapping[str, str]) -> tuple[str, str]:
    if len(metadata) != 1:
        raise BadRequest("only allow one key/value pair")
    ((key, value),) = metadata.items()
    return key, value


def metadata_of(project: Project) -> dict[str, str]:
    """All of a project's metadata as Harbor lists it (``public`` included)."""
    return {**project.metadata, PUBLIC: "true" if project.public else "false"}


class Projects:
    def __init__(self, store: AuthStore, options: AuthOptions, audit_log: AuditLog) -> None:
        self.store = store
        self.options = options
        self.audit_log = audit_log

    async def create(
        self,
        actor: Principal,
        name: str,
        *,
        public: bool,
        metadata: Mapping[str, str] | None = None,
        registry_id: int | None = None,
    ) -> Project:
        """A new project; with ``registry_id``, a proxy cache of that remote registry (only
        system admins create those; the caller checks the registry exists)."""
        require_signed_in(actor)
        if actor.kind not in (USER, SYSTEM):
            raise Forbidden("Only system level robot can create project")
        if self.options.project_creation == "adminonly" and not actor.sysadmin:
            raise Forbidden("only system admins may create projects")
        if not valid_project_name(name):
            raise BadRequest("invalid project name")
        if registry_id is not None and not actor.sysadmin:
            raise Forbidden("Only system admin can create proxy cache project")
        project = Project(
            name,
            public=public,
            owner_id=actor.user_id,
            metadata=dict(metadata or {}),
            registry_id=registry_id,
        )
        try:
            await self.store.create_project(project)
        except Conflict:
            raise AlreadyExists(f"project {name} already exists") from None
        if actor.user_id is not None:
            await self.store.add_member(Member(project.id, actor.user_id, Role.PROJECT_ADMIN))
        await self.audit_log.record_change(actor, "create", "project", name, project=name)
        return project

    async def proxy_projects(self) -> dict[str, int]:
        """Every proxy-cache project: its name -> the registry it mirrors."""
        projects, _ = await self.store.list_projects(None, None, Page(0, ALL_ROWS))
        return {p.name: p.registry_id for p in projects if p.registry_id is not None}

    async def exists(self, actor: Principal, name: str) -> bool:
        """Whether the name is taken: for signed-in callers."""
        require_signed_in(actor)
        return await self.store.get_project(name) is not None

    async def get(self, actor: Principal, name_or_id: str | int) -> Project:
        """A project the caller may read (public, or one it is a member of)."""
        return await project_with(self.store, actor, name_or_id, PROJECT_READ)

    async def require(self, actor: Principal, name_or_id: str | int, permission: str) -> Project:
        """The project, when ``actor`` holds ``permission`` in it (Forbidden/NotFound else)."""
        return await project_with(self.store, actor, name_or_id, permission)

    async def visible(self, actor: Principal, public: bool | None = None) -> list[Project]:
        """Every project ``actor`` may see, as Harbor lists them: all for system admins
        (and robots covering every project), else the public ones and those it is a
        member of (robots: those named in its permissions); ``public`` keeps only public
        (True) or private (False) ones — anonymous callers see no private project."""
        if not actor.authenticated and public is False:
            return []
        if actor.sysadmin or "*" in actor.robot_permissions:
            shown: frozenset[str] | None = None
        else:
            shown = frozenset(actor.roles) | frozenset(actor.robot_permissions)
        projects, _ = await self.store.list_projects(None, shown, Page(0, ALL_ROWS))
        if public is not None:
            projects = [p for p in projects if p.public == public]
        return projects

    async def update(
        self,
        actor: Principal,
        name_or_id: str | int,
        *,
        public: bool | None,
        metadata: Mapping[str, str],
    ) -> Project:
        """Change visibility and other metadata (merged into what is there)."""
        project = await self.require(actor, name_or_id, PROJECT)
        if public is not None:
            project.public = public
        project.metadata = {**project.metadata, **metadata}
        return await self.save(actor, project)

    async def metadata(
        self, actor: Principal, name_or_id: str | int, key: str | None = None
    ) -> dict[str, str]:
        """The project's metadata (Harbor's list needs ``metadata:list``), or the one
        ``key`` of it (``metadata:read``; empty when it is not set)."""
        wanted = METADATA_LIST if key is None else METADATA_READ
        project = await self.require(actor, name_or_id, wanted)
        found = metadata_of(project)
        if key is None:
            return found
        return {key: found[key]} if key in found else {}

    async def add_metadata(
        self, actor: Principal, name_or_id: str | int, metadata: Mapping[str, str]
    ) -> Project:
        """Set one metadata key that is not set yet (Conflict when it is)."""
        project = await self.require(actor, name_or_id, METADATA_CREATE)
        key, value = single_pair(metadata)
        value = metadata_value(key, value)
        if key in metadata_of(project):
            raise AlreadyExists(f"metadata {key} of project {project.name} already exists")
        return await self.store_metadata(actor, project, key, value)

    async def update_metadata(
        self, actor: Principal, name_or_id: str | int, key: str, value: str
    ) -> Project:
        """Change one metadata key; as Harbor, a key that is not set stays unset."""
        project = await self.require(actor, name_or_id, METADATA_UPDATE)
        value = metadata_value(key, value)
        if key not in metadata_of(project):
            return project
        return await self.store_metadata(actor, project, key, value)

    async def delete_metadata(self, actor: Principal, name_or_id: str | int, key: str) -> Project:
        """Remove one metadata key (removing ``public`` makes the project private, as a
        Harbor project without the key is)."""
        project = await self.require(actor, name_or_id, METADATA_DELETE)
        if key == PUBLIC:
            project.public = False
        else:
            project.metadata = {k: v for k, v in project.metadata.items() if k != key}
        return await self.save(actor, project)

    async def store_metadata(
        self, actor: Principal, project: Project, key: str, value: str
    ) -> Project:
        if key == PUBLIC:
            project.public = value == "true"
        else:
            project.metadata = {**project.metadata, key: value}
        return await self.save(actor, project)

    async def save(self, actor: Principal, project: Project) -> Project:
        """Store a changed project, audited as an update (as ``update`` is)."""
        project.updated = now()
        await self.store.update_project(project)
        await self.audit_log.record_change(
            actor, "update", "project", project.name, project=project.name
        )
        return project

    async def delete(self, actor: Principal, project: Project, *, has_repositories: bool) -> bool:
        """Delete ``project`` (the caller checked ``actor`` may, with ``require``): refused
        with Precondition while it holds repositories; False when it was already gone."""
        if has_repositories:
            raise Precondition(NOT_EMPTY)
        try:
            removed = await self.store.delete_project(project.id)
        except ProjectNotEmpty:
            raise Precondition(NOT_EMPTY) from None
        if removed:
            await self.audit_log.record_change(
                actor, "delete", "project", project.name, project=project.name
            )
        return removed

    async def name_if_exists(self, project_id: int) -> str | None:
        project = await self.store.get_project_by_id(project_id)
        return None if project is None else project.name

    async def name_of(self, project_id: int) -> str:
        project = await self.store.get_project_by_id(project_id)
        if project is None:
            raise NotFound("no such project")
        return project.name
