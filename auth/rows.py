"""Rows of the auth tables and the models they hold, shared by the SQLite and the
PostgreSQL auth stores (the same columns, the same encodings)."""

from __future__ import annotations

import json
from typing import Any

from wharf.auth.models import AuditEvent, Project, Robot, User

USER_COLUMNS = (
    "id, username, email, realname, password_hash, sysadmin, enabled, comment, created, updated, "
    "cli_secret_hash"
)
PROJECT_COLUMNS = "id, name, public, owner_id, created, updated, metadata"
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
    return User(**{**f, "sysadmin": bool(f["sysadmin"]), "enabled": bool(f["enabled"])})


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
