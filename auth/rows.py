"""Rows of the auth tables and the models they hold, shared by the SQLite and the
PostgreSQL auth stores (the same columns, the same encodings)."""

from __future__ import annotations

import json
from typing import Any

from wharf.auth.models import (
    AuditEvent,
    Member,
    OidcMeta,
    Project,
    Robot,
    Role,
    User,
    UserGroup,
    highest,
)

USER_COLUMNS = (
    "id, username, email, realname, password_hash, sysadmin, enabled, comment, created, updated, "
    "auth_source, external_id, group_admin, external_checked"
)
GROUP_COLUMNS = "id, group_name, group_type, ldap_group_dn, created, updated"
OIDC_COLUMNS = "user_id, subject, issuer, secret, token, checked, created, updated"
PROJECT_COLUMNS = "id, name, public, owner_id, created, updated, metadata, registry_id"
ROBOT_COLUMNS = (
    "id, name, project, description, secret_hash, permissions, expires_at, disabled, creator, "
    "created, updated"
)
EVENT_COLUMNS = (
    "id, time, username, operation, resource_type, resource, project, client_ip, result, detail"
)


def row_fields(columns: str, row: Any) -> dict[str, Any]:
    """A row of ``SELECT {columns}`` by column name (the columns are named as the fields)."""
    return dict(zip(columns.split(", "), row, strict=True))


def user_from_row(row: Any) -> User:
    f = row_fields(USER_COLUMNS, row)
    return User(
        **{
            **f,
            "sysadmin": bool(f["sysadmin"]),
            "enabled": bool(f["enabled"]),
            "group_admin": bool(f["group_admin"]),
        }
    )


def user_values(user: User) -> tuple[Any, ...]:
    """The user's columns after ``id``, in USER_COLUMNS order (inserts and updates)."""
    return (
        user.username,
        user.email,
        user.realname,
        user.password_hash,
        int(user.sysadmin),
        int(user.enabled),
        user.comment,
        user.created,
        user.updated,
        user.auth_source,
        user.external_id,
        int(user.group_admin),
        user.external_checked,
    )


def group_from_row(row: Any) -> UserGroup:
    f = row_fields(GROUP_COLUMNS, row)
    return UserGroup(
        id=f["id"],
        name=f["group_name"],
        group_type=f["group_type"],
        ldap_dn=f["ldap_group_dn"],
        created=f["created"],
        updated=f["updated"],
    )


def oidc_from_row(row: Any) -> OidcMeta:
    f = row_fields(OIDC_COLUMNS, row)
    return OidcMeta(
        user_id=f["user_id"],
        subject=f["subject"],
        issuer=f["issuer"],
        secret_sealed=f["secret"],
        token_sealed=f["token"],
        checked=f["checked"],
        created=f["created"],
        updated=f["updated"],
    )


def member_from_row(row: Any) -> Member:
    """A row of MEMBER_SELECT."""
    return Member(
        id=row[0],
        project_id=row[1],
        user_id=row[2],
        role=Role(row[3]),
        username=row[4] if row[2] is not None else row[6],
        group_id=row[5],
        group_type=row[7] or 0,
    )


# every member of a project, users' and groups' rows alike (append a WHERE on m.)
MEMBER_SELECT = (
    "SELECT m.id, m.project_id, m.user_id, m.role_id, u.username, m.group_id, g.group_name, "
    "g.group_type FROM project_members m LEFT JOIN users u ON u.id = m.user_id "
    "LEFT JOIN user_groups g ON g.id = m.group_id"
)
# project name, role of every membership a user holds, directly or through a group
# (one parameter, twice: the user id)
ROLES_OF_USER = (
    "SELECT p.name, m.role_id FROM project_members m JOIN projects p ON p.id = m.project_id "
    "WHERE m.user_id = {0} UNION ALL "
    "SELECT p.name, m.role_id FROM project_members m JOIN projects p ON p.id = m.project_id "
    "JOIN user_group_members ug ON ug.group_id = m.group_id WHERE ug.user_id = {1}"
)


def strongest_roles(rows: Any) -> dict[str, Role]:
    """project → the highest role among (project, role_id) rows."""
    roles: dict[str, Role] = {}
    for name, role_id in rows:
        current = roles.get(name)
        roles[name] = highest(current, Role(role_id))
    return roles


def project_from_row(row: Any) -> Project:
    f = row_fields(PROJECT_COLUMNS, row)
    return Project(**{**f, "public": bool(f["public"]), "metadata": json.loads(f["metadata"])})


def robot_from_row(row: Any) -> Robot:
    f = row_fields(ROBOT_COLUMNS, row)
    perms = {p: frozenset(a) for p, a in json.loads(f["permissions"]).items()}
    return Robot(**{**f, "permissions": perms, "disabled": bool(f["disabled"])})


def event_from_row(row: Any) -> AuditEvent:
    return AuditEvent(**row_fields(EVENT_COLUMNS, row))


def metadata_json(metadata: dict[str, str]) -> str:
    return json.dumps(dict(sorted(metadata.items())))


def permissions_json(perms: dict[str, frozenset[str]]) -> str:
    return json.dumps({p: sorted(a) for p, a in sorted(perms.items())})


def like_pattern(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
