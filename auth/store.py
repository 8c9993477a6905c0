"""The storage interface of the auth layer. SQLite implementation in ``sqlite_store``;
a PostgreSQL one sits behind the same methods."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from wharf.auth.models import (
    AuditEvent,
    Member,
    OidcMeta,
    Project,
    Robot,
    Role,
    SigningKey,
    User,
    UserGroup,
)


@dataclass(frozen=True, slots=True)
class Page:
    offset: int = 0
    limit: int = 10


AUDIT_COLUMNS = frozenset({"username", "operation", "resource_type", "resource", "project", "time"})
AUDIT_OPS = frozenset({"=", "like", "in", ">=", "<="})


@dataclass(frozen=True, slots=True)
class Condition:
    """One more filter on audit events: ``column op value``; ``like`` is a case-insensitive
    substring match, ``in`` takes a tuple. Columns and operators: AUDIT_COLUMNS, AUDIT_OPS."""

    column: str
    op: str
    value: str | float | tuple[str, ...]

    def __post_init__(self) -> None:
        if self.column not in AUDIT_COLUMNS or self.op not in AUDIT_OPS:
            raise ValueError(f"no audit filter {self.column} {self.op}")


@dataclass(frozen=True, slots=True)
class AuditQuery:
    project: str | None = None
    username: str | None = None
    operation: str | None = None
    resource: str | None = None
    since: float | None = None
    until: float | None = None
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditPurge:
    """Which audit events a purge removes: those older than ``before`` (epoch seconds)
    whose operation is one of ``operations`` (any resource type), or whose operation
    and resource type are one of ``event_types`` (Harbor's ``create_artifact``: operation
    ``create``, resource type ``artifact``). Operations compare case-insensitively; with
    neither list, nothing matches — unless ``everything`` (the retention purge: every
    event older than ``before``)."""

    before: float
    operations: tuple[str, ...] = ()
    event_types: tuple[tuple[str, str], ...] = ()
    everything: bool = False

    @property
    def empty(self) -> bool:
        return not self.everything and not self.operations and not self.event_types


@dataclass(frozen=True, slots=True)
class PurgeCursor:
    """Where a batched purge goes on: after this event in (time, id) order."""

    time: float
    id: int


class Conflict(Exception):
    """A unique name is already taken."""


class ProjectNotEmpty(Exception):
    """A project still holds repositories (``delete_project``); nothing was deleted."""

    def __init__(self, project: str) -> None:
        super().__init__(f"project {project!r} still holds repositories")
        self.project = project


class AuthStore(ABC):
    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    # --- users ---------------------------------------------------------------
    @abstractmethod
    async def create_user(self, user: User) -> User:
        """Raises Conflict when the username is taken."""

    @abstractmethod
    async def create_first_admin(self, user: User) -> bool:
        """Create ``user`` (a system admin) only when no system admin exists; atomic."""

    @abstractmethod
    async def get_user(self, username: str) -> User | None: ...

    @abstractmethod
    async def get_user_by_id(self, user_id: int) -> User | None: ...

    @abstractmethod
    async def list_users(self, query: str | None, page: Page) -> tuple[list[User], int]: ...

    @abstractmethod
    async def update_user(self, user: User) -> None: ...

    @abstractmethod
    async def delete_user(self, user_id: int) -> bool: ...

    @abstractmethod
    async def get_user_by_external(self, auth_source: str, external_id: str) -> User | None:
        """The user an external authority knows by ``external_id`` (follows renames)."""

    @abstractmethod
    async def rename_user(self, user_id: int, username: str) -> None:
        """Raises Conflict when ``username`` is taken."""

    # --- user groups ---------------------------------------------------------
    @abstractmethod
    async def create_group(self, group: UserGroup) -> UserGroup:
        """Raises Conflict when a group of that type and key (DN / name) exists."""

    @abstractmethod
    async def get_group(self, group_id: int) -> UserGroup | None: ...

    @abstractmethod
    async def list_groups(
        self, name: str | None, ldap_dn: str | None, page: Page
    ) -> tuple[list[UserGroup], int]:
        """Groups by id; ``name`` a case-insensitive substring, ``ldap_dn`` exact (any
        case)."""

    @abstractmethod
    async def rename_group(self, group_id: int, name: str, updated: float) -> bool: ...

    @abstractmethod
    async def delete_group(self, group_id: int) -> bool:
        """Deleting a group deletes its project memberships too."""

    @abstractmethod
    async def ensure_groups(self, groups: list[UserGroup]) -> list[UserGroup]:
        """The stored group of each (type, key), created when missing (one transaction;
        an existing group keeps its name)."""

    @abstractmethod
    async def set_user_groups(
        self, user_id: int, group_ids: list[int], *, group_admin: bool, checked: float
    ) -> None:
        """Replace the groups the user belongs to, with their admin-through-a-group flag
        and when the authority confirmed them; one transaction."""

    @abstractmethod
    async def groups_of_user(self, user_id: int) -> list[UserGroup]: ...

    # --- OIDC users ----------------------------------------------------------
    @abstractmethod
    async def get_oidc_meta(self, user_id: int) -> OidcMeta | None: ...

    @abstractmethod
    async def put_oidc_meta(self, meta: OidcMeta) -> None:
        """Insert or replace the user's OIDC record. Conflict when another user has the
        same issuer and subject."""

    @abstractmethod
    async def user_by_oidc_subject(self, issuer: str, subject: str) -> User | None: ...

    # --- settings changed through the API -----------------------------------
    @abstractmethod
    async def configuration(self) -> dict[str, str]:
        """Every stored setting, name → JSON-encoded value."""

    @abstractmethod
    async def put_configuration(self, values: dict[str, str], updated: float) -> None:
        """Insert or replace settings (one transaction)."""

    @abstractmethod
    async def configuration_default(self, name: str, value: str, updated: float) -> str:
        """The stored value of ``name``, storing ``value`` first when there is none (two
        processes racing both get the one that was stored)."""

    # --- projects ------------------------------------------------------------
    @abstractmethod
    async def create_project(self, project: Project) -> Project:
        """Raises Conflict when the name is taken."""

    @abstractmethod
    async def get_project(self, name: str) -> Project | None: ...

    @abstractmethod
    async def get_project_by_id(self, project_id: int) -> Project | None: ...

    @abstractmethod
    async def list_projects(
        self, name: str | None, visible_to: frozenset[str] | None, page: Page
    ) -> tuple[list[Project], int]:
        """Projects (substring ``name`` filter); with ``visible_to``, only public ones and
        those named in it."""

    @abstractmethod
    async def update_project(self, project: Project) -> None: ...

    @abstractmethod
    async def delete_project(self, project_id: int) -> bool:
        """Delete the project; False when there is none. Raises ProjectNotEmpty, deleting
        nothing, when a repository (the project's name or a name under ``project/``)
        exists: the check and the delete are one transaction."""

    @abstractmethod
    async def public_projects(self) -> frozenset[str]: ...

    async def user_access(
        self, username: str
    ) -> tuple[User, dict[str, Role], frozenset[str]] | None:
        """What re-validating a user's token needs: the user, their memberships (project
        name → role, groups' included, as ``memberships``) and the public projects; None
        when there is no such user. Stores override this to answer in one query (it runs
        on every authenticated request)."""
        user = await self.get_user(username)
        if user is None:
            return None
        return user, await self.memberships(user.id), await self.public_projects()

    @abstractmethod
    async def existing_projects(self, names: set[str]) -> frozenset[str]: ...

    # --- members -------------------------------------------------------------
    @abstractmethod
    async def add_member(self, member: Member) -> Member:
        """A user's (``user_id``) or a group's (``group_id``) membership. Raises Conflict
        when the user or group is already a member."""

    @abstractmethod
    async def get_member(self, project_id: int, member_id: int) -> Member | None: ...

    @abstractmethod
    async def list_members(self, project_id: int) -> list[Member]: ...

    @abstractmethod
    async def update_member(self, member: Member) -> None: ...

    @abstractmethod
    async def delete_member(self, project_id: int, member_id: int) -> bool: ...

    @abstractmethod
    async def memberships(self, user_id: int) -> dict[str, Role]:
        """project name → the user's role there: the highest of their own and those of
        the groups they belong to."""

    # --- robots --------------------------------------------------------------
    @abstractmethod
    async def create_robot(self, robot: Robot) -> Robot:
        """Raises Conflict when the name is taken."""

    @abstractmethod
    async def get_robot(self, name: str) -> Robot | None: ...

    @abstractmethod
    async def get_robot_by_id(self, robot_id: int) -> Robot | None: ...

    @abstractmethod
    async def list_robots(self, project: str | None, page: Page) -> tuple[list[Robot], int]: ...

    @abstractmethod
    async def update_robot(self, robot: Robot) -> None: ...

    @abstractmethod
    async def delete_robot(self, robot_id: int) -> bool: ...

    # --- audit ---------------------------------------------------------------
    @abstractmethod
    async def add_events(self, events: list[AuditEvent]) -> None:
        """Record several audit events in one transaction."""

    @abstractmethod
    async def purge_events(self, before: float) -> int:
        """Delete events older than ``before`` (epoch seconds); how many went."""

    @abstractmethod
    async def count_purgeable_events(self, purge: AuditPurge) -> int:
        """How many events ``purge`` would delete (a dry run)."""

    @abstractmethod
    async def purge_events_batch(
        self, purge: AuditPurge, limit: int, after: PurgeCursor | None = None
    ) -> tuple[int, PurgeCursor | None]:
        """Delete the next ``limit`` events ``purge`` selects after ``after`` in (time, id)
        order — chosen by a read, then deleted by id in one short write — and answer how
        many went and where the next batch starts (None: none are left). A purge of
        millions of rows is many of these: no writer is held for long, and no batch
        rescans the rows an earlier one passed over."""

    @abstractmethod
    async def list_events(self, query: AuditQuery, page: Page) -> tuple[list[AuditEvent], int]:
        """Newest first."""

    # --- token signing keys --------------------------------------------------
    @abstractmethod
    async def add_signing_key(self, key: SigningKey) -> None:
        """Insert, or do nothing when the kid exists."""

    @abstractmethod
    async def signing_keys(self) -> list[SigningKey]:
        """Every key, newest first."""
