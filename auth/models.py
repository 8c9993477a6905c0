"""Identities, projects, roles and the one role → permission table."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import IntEnum

# Registry actions (the token `access[].actions` vocabulary).
PULL = "pull"
PUSH = "push"
DELETE = "delete"
REGISTRY_ACTIONS = frozenset({PULL, PUSH, DELETE})

# Coarse project permissions the registry side asks about (catalog, token grants) and the
# management services use; each follows from Harbor's policies below.
LIST = "list"  # list repositories/artifacts of the project, appear in the catalog
MEMBERS = "members"  # change members
LOGS = "logs"  # read the project's audit log
ROBOTS = "robots"  # manage the project's robot accounts
PROJECT = "project"  # change or delete the project itself


class Role(IntEnum):
    """Harbor's role ids."""

    PROJECT_ADMIN = 1
    DEVELOPER = 2
    GUEST = 3
    MAINTAINER = 4
    LIMITED_GUEST = 5


def policy(resource: str, action: str) -> str:
    """One of Harbor's project policies, ``resource:action`` (resource ``project`` is the
    project itself, Harbor's empty "self" resource)."""
    return f"{resource}:{action}"


def _policies(table: str) -> frozenset[str]:
    """``"member: read list; log: list"`` → the policies it names."""
    found: set[str] = set()
    for entry in table.split(";"):
        resource, _, actions = entry.partition(":")
        found |= {policy(resource.strip(), a) for a in actions.split()}
    return frozenset(found)


# Harbor 2.15's project RBAC (src/common/rbac/project/rbac_role.go), per role.
_GUEST_COMMON = (
    "project: read; quota: read; repository: list read pull; configuration: read; "
    "scan: read; sbom: read; scanner: read; tag: list; accessory: list; "
    "artifact: read list; artifact-addition: read"
)
ROLE_POLICIES: dict[Role, frozenset[str]] = {
    Role.LIMITED_GUEST: _policies(_GUEST_COMMON),
    Role.GUEST: _policies(
        _GUEST_COMMON + "; member: read list; label: read list; robot: read list"
    ),
    Role.DEVELOPER: _policies(
        _GUEST_COMMON + "; member: read list; label: read list; robot: read list; "
        "repository: create update push; tag-retention: create read update delete list operate; "
        "artifact: create; tag: create; artifact-label: create delete; "
        "export-cve: create read list"
    ),
    Role.MAINTAINER: _policies(
        _GUEST_COMMON + "; member: read list; metadata: read; robot: read list; "
        "label: create read update delete list; "
        "repository: create update delete push; "
        "tag-retention: create read update delete list operate; "
        "immutable-tag: create update delete list; notification-policy: read list; "
        "scan: create stop; sbom: create stop; artifact: create delete; tag: create delete; "
        "artifact-label: create delete; export-cve: create read list"
    ),
    Role.PROJECT_ADMIN: _policies(
        _GUEST_COMMON + "; project: update delete; member: create read update delete list; "
        "metadata: create read update delete; log: list; "
        "label: create read update delete list; "
        "repository: create update delete push; "
        "tag-retention: create read update delete list operate; "
        "immutable-tag: create update delete list; configuration: update; "
        "robot: create read update delete list; "
        "notification-policy: create update delete list read; scan: create stop; "
        "sbom: create stop; scanner: create; artifact: create delete; tag: create delete; "
        "artifact-label: create delete; preheat-policy: create read update delete list; "
        "export-cve: create read list"
    ),
}
# What anyone, even anonymous, may do in a public project (Harbor's public policies).
PUBLIC_POLICIES = _policies(
    "project: read; label: read list; repository: list pull; scan: read; scanner: read; "
    "tag: list; artifact: read list; artifact-addition: read; accessory: list"
)
# The policies a robot account may be given in a project (Harbor's robot permission
# provider for the project scope).
ROBOT_POLICIES = _policies(
    "artifact: read create list delete; preheat-policy: read create delete list update; "
    "notification-policy: read create delete list update; scan: create read stop; "
    "artifact-label: create delete; sbom: create stop read; "
    "immutable-tag: create delete list update; label: read create delete list update; "
    "project: read delete update; metadata: read create delete list update; "
    "scanner: create read; quota: read; log: list; tag: create list delete; "
    "repository: read update delete list pull push; accessory: list; "
    "tag-retention: read create delete list update; artifact-addition: read; "
    "robot: create read list delete; export-cve: create read; "
    "member: create read update list delete"
)

# The coarse permissions each policy implies.
COARSE: dict[str, str] = {
    policy("repository", "pull"): PULL,
    policy("repository", "push"): PUSH,
    policy("repository", "delete"): DELETE,
    policy("artifact", "delete"): DELETE,
    policy("repository", "list"): LIST,
    policy("artifact", "list"): LIST,
    policy("member", "create"): MEMBERS,
    policy("log", "list"): LOGS,
    policy("robot", "create"): ROBOTS,
    policy("project", "update"): PROJECT,
}
# and the policies a robot's registry actions stand for (robots made before the policies)
ACTION_POLICIES: dict[str, frozenset[str]] = {
    PULL: frozenset({policy("repository", "pull")}),
    PUSH: frozenset({policy("repository", "push")}),
    DELETE: frozenset({policy("artifact", "delete")}),
}


def with_coarse(policies: frozenset[str]) -> frozenset[str]:
    """``policies`` with the coarse permissions they imply (and the policies implied by
    bare registry actions)."""
    extra = {COARSE[p] for p in policies if p in COARSE}
    for action in policies & REGISTRY_ACTIONS:
        extra |= ACTION_POLICIES[action]
    return policies | extra


# THE role table. Everything that decides "may X do Y in project P" reads this.
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    role: with_coarse(policies) for role, policies in ROLE_POLICIES.items()
}
# a system admin may do anything in any project, also what no role but a robot may be
# given (e.g. listing a project's metadata)
ALL_PERMISSIONS: frozenset[str] = frozenset().union(
    *ROLE_PERMISSIONS.values(), with_coarse(ROBOT_POLICIES)
)
PUBLIC_PERMISSIONS = with_coarse(PUBLIC_POLICIES)

ROLE_NAMES: dict[Role, str] = {
    Role.PROJECT_ADMIN: "projectAdmin",
    Role.DEVELOPER: "developer",
    Role.GUEST: "guest",
    Role.MAINTAINER: "maintainer",
    Role.LIMITED_GUEST: "limitedGuest",
}

ROBOT_PREFIX = "robot$"

# "The highest of the user's own role and their groups' roles": roles by power.
ROLE_RANK: dict[Role, int] = {
    Role.PROJECT_ADMIN: 5,
    Role.MAINTAINER: 4,
    Role.DEVELOPER: 3,
    Role.GUEST: 2,
    Role.LIMITED_GUEST: 1,
}


def highest(a: Role | None, b: Role) -> Role:
    """The stronger of two roles (``a`` may be None: no role yet)."""
    return b if a is None or ROLE_RANK[b] > ROLE_RANK[a] else a


# Where a user's identity comes from (``User.auth_source``).
DB_AUTH = "db"
LDAP_AUTH = "ldap"
OIDC_AUTH = "oidc"

# Harbor's user group types.
LDAP_GROUP = 1
HTTP_GROUP = 2
OIDC_GROUP = 3


def project_of(repo: str) -> str:
    """`library/nginx` → `library`; a name without a slash is its own project."""
    return repo.split("/", 1)[0]


def now() -> float:
    return time.time()


@dataclass(slots=True)
class User:
    username: str
    email: str = ""
    realname: str = ""
    password_hash: str = ""
    sysadmin: bool = False
    enabled: bool = True
    comment: str = ""
    created: float = field(default_factory=now)
    updated: float = field(default_factory=now)
    id: int = 0
    auth_source: str = DB_AUTH  # db, ldap or oidc: who vouches for this user
    # the directory's or provider's stable id of the person (LDAP entryUUID or DN, OIDC
    # issuer + subject); follows renames
    external_id: str | None = None
    group_admin: bool = False  # a system admin through a group (LDAP/OIDC admin group)
    external_checked: float = 0.0  # when the directory last confirmed user and groups

    @property
    def is_admin(self) -> bool:
        return self.sysadmin or self.group_admin


@dataclass(slots=True)
class UserGroup:
    """A group of users known to an external authority (Harbor's user group)."""

    name: str
    group_type: int  # LDAP_GROUP, HTTP_GROUP or OIDC_GROUP
    ldap_dn: str = ""  # LDAP groups: the group's DN
    created: float = field(default_factory=now)
    updated: float = field(default_factory=now)
    id: int = 0

    @property
    def key(self) -> str:
        """What identifies the group within its type: the DN (case-insensitive) for LDAP
        groups, the name for the others."""
        return group_key(self.group_type, self.ldap_dn or self.name)


def group_key(group_type: int, dn_or_name: str) -> str:
    return dn_or_name.strip().lower() if group_type == LDAP_GROUP else dn_or_name


@dataclass(slots=True)
class OidcMeta:
    """What Wharf keeps of an OIDC user: who they are at the provider, their CLI secret
    and the provider's tokens (both sealed at rest)."""

    user_id: int
    subject: str
    issuer: str
    secret_sealed: str
    token_sealed: str
    checked: float = 0.0  # when the provider last confirmed the user (refresh token)
    created: float = field(default_factory=now)
    updated: float = field(default_factory=now)


@dataclass(slots=True)
class Robot:
    name: str  # full name: robot$<project>+<name>
    secret_hash: str
    permissions: dict[str, frozenset[str]]  # project → registry actions
    project: str | None = None  # the owning project (level "project")
    description: str = ""
    expires_at: float | None = None  # None: never
    disabled: bool = False
    creator: str = ""
    created: float = field(default_factory=now)
    updated: float = field(default_factory=now)
    id: int = 0

    def expired(self, at: float | None = None) -> bool:
        return self.expires_at is not None and (at or now()) >= self.expires_at


@dataclass(slots=True)
class Project:
    name: str
    public: bool = False
    owner_id: int | None = None
    created: float = field(default_factory=now)
    updated: float = field(default_factory=now)
    id: int = 0
    # Harbor's other project metadata (auto_scan, severity, …; "public" is the column above)
    metadata: dict[str, str] = field(default_factory=dict)
    # a proxy-cache project mirrors this remote registry (replication's registries)
    registry_id: int | None = None


@dataclass(slots=True)
class Member:
    """A user (``user_id``) or a user group (``group_id``) with a role in a project."""

    project_id: int
    user_id: int | None
    role: Role
    username: str = ""  # the user's name, or the group's name
    id: int = 0
    group_id: int | None = None
    group_type: int = 0

    @property
    def entity_type(self) -> str:
        return "g" if self.group_id is not None else "u"

    @property
    def entity_id(self) -> int:
        return self.group_id if self.group_id is not None else (self.user_id or 0)


@dataclass(slots=True)
class AuditEvent:
    username: str
    operation: str  # pull, push, delete, create, update, login, …
    resource_type: str  # artifact, repository, project, user, member, robot, token
    resource: str
    project: str = ""
    client_ip: str = ""
    result: str = "success"  # success, failure, denied
    detail: str = ""
    time: float = field(default_factory=now)
    id: int = 0


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    algorithm: str
    private_pem: str
    public_pem: str
    created: float
    active: bool = True
