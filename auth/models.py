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
    project_id: int
    user_id: int
    role: Role
    username: str = ""
    id: int = 0


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
