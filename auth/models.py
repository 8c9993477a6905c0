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

# Project-level permissions beyond the registry actions (management API).
LIST = "list"  # list repositories/artifacts of the project, appear in the catalog
MEMBERS = "members"  # read and change members
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


# THE role table. Everything that decides "may X do Y in project P" reads this.
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.PROJECT_ADMIN: frozenset({PULL, PUSH, DELETE, LIST, MEMBERS, LOGS, ROBOTS, PROJECT}),
    Role.MAINTAINER: frozenset({PULL, PUSH, DELETE, LIST, LOGS}),
    Role.DEVELOPER: frozenset({PULL, PUSH, LIST}),
    Role.GUEST: frozenset({PULL, LIST}),
    Role.LIMITED_GUEST: frozenset({PULL}),
}
ALL_PERMISSIONS: frozenset[str] = frozenset().union(*ROLE_PERMISSIONS.values())
# What anyone, even anonymous, may do in a public project.
PUBLIC_PERMISSIONS = frozenset({PULL, LIST})

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
