"""The auth store on the process's ``SQLiteDatabase``, the one the metadata store uses
(same file, same threads). Every method is one ``database.read`` or ``database.write``
call: one thread hop, one transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

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
from wharf.auth.rows import (
    EVENT_COLUMNS,
    GROUP_COLUMNS,
    MEMBER_SELECT,
    OIDC_COLUMNS,
    PROJECT_COLUMNS,
    ROBOT_COLUMNS,
    ROLES_OF_USER,
    USER_COLUMNS,
    event_from_row,
    group_from_row,
    like_pattern,
    member_from_row,
    metadata_json,
    oidc_from_row,
    permissions_json,
    project_from_row,
    robot_from_row,
    strongest_roles,
    user_from_row,
    user_values,
)
from wharf.auth.store import (
    AuditPurge,
    AuditQuery,
    AuthStore,
    Conflict,
    Page,
    ProjectNotEmpty,
    PurgeCursor,
)
from wharf.db.sqlite import SQLiteDatabase

T = TypeVar("T")


class SQLiteAuthStore(AuthStore):
    def __init__(self, database: SQLiteDatabase) -> None:
        self.database = database

    async def open(self) -> None:
        await self.database.open()  # the first opener migrates the schema

    async def close(self) -> None:
        await self.database.close()

    @staticmethod
    def _insert(db: sqlite3.Connection, sql: str, args: tuple[Any, ...], name: str) -> int:
        """Run an INSERT; the new row's id. Conflict(name) when a unique key is taken."""
        try:
            cur = db.execute(sql, args)
        except sqlite3.IntegrityError as exc:
            raise Conflict(name) from exc
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def _one(self, sql: str, args: tuple[Any, ...], row_to: Callable[[Any], T]) -> T | None:
        row = await self.database.read(lambda db: db.execute(sql, args).fetchone())
        return None if row is None else row_to(row)

    async def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        return await self.database.read(lambda db: db.execute(sql, args).fetchall())

    async def _change(self, sql: str, args: tuple[Any, ...]) -> int:
        """One statement in its own write transaction; how many rows it changed."""
        return await self.database.write(lambda db: db.execute(sql, args).rowcount)

    async def _page(self, sql: str, args: tuple[Any, ...], page: Page) -> tuple[list[Any], int]:
        """One page of rows and the total, from one snapshot."""

        def query(db: sqlite3.Connection) -> tuple[list[Any], int]:
            total = db.execute(f"SELECT COUNT(*) FROM ({sql}) AS q", args).fetchone()[0]
            rows = db.execute(f"{sql} LIMIT ? OFFSET ?", (*args, page.limit, page.offset))
            return rows.fetchall(), int(total)

        return await self.database.read(query, snapshot=True)

    # --- users ---------------------------------------------------------------
    def _insert_user(self, db: sqlite3.Connection, user: User) -> User:
        columns = USER_COLUMNS.split(", ", 1)[1]
        marks = ", ".join("?" * len(columns.split(", ")))
        user.id = self._insert(
            db,
            f"INSERT INTO users ({columns}) VALUES ({marks})",
            user_values(user),
            user.username,
        )
        return user

    async def create_user(self, user: User) -> User:
        return await self.database.write(lambda db: self._insert_user(db, user))

    async def create_first_admin(self, user: User) -> bool:
        def change(db: sqlite3.Connection) -> bool:
            if db.execute("SELECT 1 FROM users WHERE sysadmin = 1 LIMIT 1").fetchone():
                return False
            if db.execute("SELECT 1 FROM users WHERE username = ?", (user.username,)).fetchone():
                return False
            self._insert_user(db, user)
            return True

        return await self.database.write(change)

    async def get_user(self, username: str) -> User | None:
        return await self._one(
            f"SELECT {USER_COLUMNS} FROM users WHERE username = ?", (username,), user_from_row
        )

    async def get_user_by_id(self, user_id: int) -> User | None:
        return await self._one(
            f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,), user_from_row
        )

    async def list_users(self, query: str | None, page: Page) -> tuple[list[User], int]:
        sql = f"SELECT {USER_COLUMNS} FROM users"
        args: tuple[Any, ...] = ()
        if query:
            sql += " WHERE username LIKE ? ESCAPE '\\'"
            args = ("%" + like_pattern(query) + "%",)
        rows, total = await self._page(sql + " ORDER BY id", args, page)
        return [user_from_row(r) for r in rows], total

    async def update_user(self, user: User) -> None:
        await self._change(
            "UPDATE users SET email = ?, realname = ?, password_hash = ?, sysadmin = ?, "
            "enabled = ?, comment = ?, updated = ?, auth_source = ?, external_id = ?, "
            "group_admin = ?, external_checked = ? WHERE id = ?",
            (
                user.email,
                user.realname,
                user.password_hash,
                int(user.sysadmin),
                int(user.enabled),
                user.comment,
                user.updated,
                user.auth_source,
                user.external_id,
                int(user.group_admin),
                user.external_checked,
                user.id,
            ),
        )

    async def delete_user(self, user_id: int) -> bool:
        return await self._change("DELETE FROM users WHERE id = ?", (user_id,)) > 0

    async def get_user_by_external(self, auth_source: str, external_id: str) -> User | None:
        return await self._one(
            f"SELECT {USER_COLUMNS} FROM users WHERE auth_source = ? AND external_id = ?",
            (auth_source, external_id),
            user_from_row,
        )

    async def rename_user(self, user_id: int, username: str) -> None:
        try:
            await self._change("UPDATE users SET username = ? WHERE id = ?", (username, user_id))
        except sqlite3.IntegrityError as exc:
            raise Conflict(username) from exc

    # --- user groups ---------------------------------------------------------
    @staticmethod
    def _insert_group(db: sqlite3.Connection, group: UserGroup) -> UserGroup:
        group.id = SQLiteAuthStore._insert(
            db,
            "INSERT INTO user_groups (group_name, group_type, group_key, ldap_group_dn, "
            "created, updated) VALUES (?, ?, ?, ?, ?, ?)",
            (group.name, group.group_type, group.key, group.ldap_dn, group.created, group.updated),
            group.key,
        )
        return group

    async def create_group(self, group: UserGroup) -> UserGroup:
        return await self.database.write(lambda db: self._insert_group(db, group))

    async def get_group(self, group_id: int) -> UserGroup | None:
        return await self._one(
            f"SELECT {GROUP_COLUMNS} FROM user_groups WHERE id = ?", (group_id,), group_from_row
        )

    async def list_groups(
        self, name: str | None, ldap_dn: str | None, page: Page
    ) -> tuple[list[UserGroup], int]:
        where: list[str] = []
        args: list[Any] = []
        if name:
            where.append("lower(group_name) LIKE lower(?) ESCAPE '\\'")
            args.append("%" + like_pattern(name) + "%")
        if ldap_dn:
            where.append("group_type = 1 AND group_key = ?")
            args.append(ldap_dn.strip().lower())
        sql = f"SELECT {GROUP_COLUMNS} FROM user_groups"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows, total = await self._page(sql + " ORDER BY id", tuple(args), page)
        return [group_from_row(r) for r in rows], total

    async def rename_group(self, group_id: int, name: str, updated: float) -> bool:
        sql = "UPDATE user_groups SET group_name = ?, updated = ? WHERE id = ?"
        return await self._change(sql, (name, updated, group_id)) > 0

    async def delete_group(self, group_id: int) -> bool:
        return await self._change("DELETE FROM user_groups WHERE id = ?", (group_id,)) > 0

    async def ensure_groups(self, groups: list[UserGroup]) -> list[UserGroup]:
        def change(db: sqlite3.Connection) -> list[UserGroup]:
            found: list[UserGroup] = []
            for group in groups:
                row = db.execute(
                    f"SELECT {GROUP_COLUMNS} FROM user_groups WHERE group_type = ? "
                    "AND group_key = ?",
                    (group.group_type, group.key),
                ).fetchone()
                found.append(group_from_row(row) if row else self._insert_group(db, group))
            return found

        return await self.database.write(change)

    async def set_user_groups(
        self, user_id: int, group_ids: list[int], *, group_admin: bool, checked: float
    ) -> None:
        def change(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM user_group_members WHERE user_id = ?", (user_id,))
            db.executemany(
                "INSERT INTO user_group_members (user_id, group_id) VALUES (?, ?) "
                "ON CONFLICT DO NOTHING",
                [(user_id, g) for g in group_ids],
            )
            db.execute(
                "UPDATE users SET group_admin = ?, external_checked = ? WHERE id = ?",
                (int(group_admin), checked, user_id),
            )

        await self.database.write(change)

    async def groups_of_user(self, user_id: int) -> list[UserGroup]:
        rows = await self._all(
            f"SELECT {', '.join('g.' + c for c in GROUP_COLUMNS.split(', '))} FROM user_groups g "
            "JOIN user_group_members ug ON ug.group_id = g.id WHERE ug.user_id = ? ORDER BY g.id",
            (user_id,),
        )
        return [group_from_row(r) for r in rows]

    # --- OIDC users ----------------------------------------------------------
    async def get_oidc_meta(self, user_id: int) -> OidcMeta | None:
        return await self._one(
            f"SELECT {OIDC_COLUMNS} FROM oidc_users WHERE user_id = ?", (user_id,), oidc_from_row
        )

    async def put_oidc_meta(self, meta: OidcMeta) -> None:
        def change(db: sqlite3.Connection) -> None:
            try:
                db.execute(
                    f"INSERT INTO oidc_users ({OIDC_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (user_id) DO UPDATE SET subject = excluded.subject, "
                    "issuer = excluded.issuer, secret = excluded.secret, token = excluded.token, "
                    "checked = excluded.checked, updated = excluded.updated",
                    (
                        meta.user_id,
                        meta.subject,
                        meta.issuer,
                        meta.secret_sealed,
                        meta.token_sealed,
                        meta.checked,
                        meta.created,
                        meta.updated,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(meta.subject) from exc

        await self.database.write(change)

    async def user_by_oidc_subject(self, issuer: str, subject: str) -> User | None:
        columns = ", ".join("u." + c for c in USER_COLUMNS.split(", "))
        return await self._one(
            f"SELECT {columns} FROM users u JOIN oidc_users o ON o.user_id = u.id "
            "WHERE o.issuer = ? AND o.subject = ?",
            (issuer, subject),
            user_from_row,
        )

    # --- settings ------------------------------------------------------------
    async def configuration(self) -> dict[str, str]:
        rows = await self._all("SELECT name, value FROM configurations")
        return {str(name): str(value) for name, value in rows}

    async def put_configuration(self, values: dict[str, str], updated: float) -> None:
        await self.database.write(
            lambda db: db.executemany(
                "INSERT INTO configurations (name, value, updated) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
                "updated = excluded.updated",
                [(name, value, updated) for name, value in values.items()],
            )
        )

    # --- projects ------------------------------------------------------------
    async def create_project(self, project: Project) -> Project:
        project.id = await self.database.write(
            lambda db: self._insert(
                db,
                "INSERT INTO projects "
                "(name, public, owner_id, created, updated, metadata, registry_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    project.name,
                    int(project.public),
                    project.owner_id,
                    project.created,
                    project.updated,
                    metadata_json(project.metadata),
                    project.registry_id,
                ),
                project.name,
            )
        )
        return project

    async def get_project(self, name: str) -> Project | None:
        return await self._one(
            f"SELECT {PROJECT_COLUMNS} FROM projects WHERE name = ?", (name,), project_from_row
        )

    async def get_project_by_id(self, project_id: int) -> Project | None:
        return await self._one(
            f"SELECT {PROJECT_COLUMNS} FROM projects WHERE id = ?", (project_id,), project_from_row
        )

    async def list_projects(
        self, name: str | None, visible_to: frozenset[str] | None, page: Page
    ) -> tuple[list[Project], int]:
        where: list[str] = []
        args: list[Any] = []
        if name:
            where.append("name LIKE ? ESCAPE '\\'")
            args.append("%" + like_pattern(name) + "%")
        if visible_to is not None:
            marks = ",".join("?" * len(visible_to))
            where.append(f"(public = 1 OR name IN ({marks}))" if visible_to else "public = 1")
            args.extend(sorted(visible_to))
        sql = f"SELECT {PROJECT_COLUMNS} FROM projects"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows, total = await self._page(sql + " ORDER BY name", tuple(args), page)
        return [project_from_row(r) for r in rows], total

    async def update_project(self, project: Project) -> None:
        await self._change(
            "UPDATE projects SET public = ?, owner_id = ?, updated = ?, metadata = ? WHERE id = ?",
            (
                int(project.public),
                project.owner_id,
                project.updated,
                metadata_json(project.metadata),
                project.id,
            ),
        )

    async def delete_project(self, project_id: int) -> bool:
        return await self.database.write(lambda db: _delete_project(db, project_id))

    async def public_projects(self) -> frozenset[str]:
        rows = await self._all("SELECT name FROM projects WHERE public = 1")
        return frozenset(name for (name,) in rows)

    async def user_access(
        self, username: str
    ) -> tuple[User, dict[str, Role], frozenset[str]] | None:
        def query(db: sqlite3.Connection) -> tuple[User, dict[str, Role], frozenset[str]] | None:
            row = db.execute(
                f"SELECT {USER_COLUMNS} FROM users WHERE username = ?", (username,)
            ).fetchone()
            if row is None:
                return None
            user = user_from_row(row)
            roles = strongest_roles(
                db.execute(ROLES_OF_USER.format("?", "?"), (user.id, user.id)).fetchall()
            )
            public = frozenset(
                n for (n,) in db.execute("SELECT name FROM projects WHERE public = 1")
            )
            return user, roles, public

        return await self.database.read(query, snapshot=True)

    async def existing_projects(self, names: set[str]) -> frozenset[str]:
        if not names:
            return frozenset()
        marks = ",".join("?" * len(names))
        rows = await self._all(f"SELECT name FROM projects WHERE name IN ({marks})", tuple(names))
        return frozenset(name for (name,) in rows)

    # --- members -------------------------------------------------------------
    async def add_member(self, member: Member) -> Member:
        member.id = await self.database.write(
            lambda db: self._insert(
                db,
                "INSERT INTO project_members (project_id, user_id, group_id, role_id) "
                "VALUES (?, ?, ?, ?)",
                (member.project_id, member.user_id, member.group_id, int(member.role)),
                str(member.entity_id),
            )
        )
        return member

    async def get_member(self, project_id: int, member_id: int) -> Member | None:
        return await self._one(
            f"{MEMBER_SELECT} WHERE m.project_id = ? AND m.id = ?",
            (project_id, member_id),
            member_from_row,
        )

    async def list_members(self, project_id: int) -> list[Member]:
        rows = await self._all(
            f"{MEMBER_SELECT} WHERE m.project_id = ? ORDER BY m.id", (project_id,)
        )
        return [member_from_row(r) for r in rows]

    async def update_member(self, member: Member) -> None:
        await self._change(
            "UPDATE project_members SET role_id = ? WHERE id = ?", (int(member.role), member.id)
        )

    async def delete_member(self, project_id: int, member_id: int) -> bool:
        sql = "DELETE FROM project_members WHERE project_id = ? AND id = ?"
        return await self._change(sql, (project_id, member_id)) > 0

    async def memberships(self, user_id: int) -> dict[str, Role]:
        rows = await self._all(ROLES_OF_USER.format("?", "?"), (user_id, user_id))
        return strongest_roles(rows)

    # --- robots --------------------------------------------------------------
    async def create_robot(self, robot: Robot) -> Robot:
        robot.id = await self.database.write(
            lambda db: self._insert(
                db,
                "INSERT INTO robots (name, project, description, secret_hash, permissions, "
                "expires_at, disabled, creator, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    robot.name,
                    robot.project,
                    robot.description,
                    robot.secret_hash,
                    permissions_json(robot.permissions),
                    robot.expires_at,
                    int(robot.disabled),
                    robot.creator,
                    robot.created,
                    robot.updated,
                ),
                robot.name,
            )
        )
        return robot

    async def get_robot(self, name: str) -> Robot | None:
        return await self._one(
            f"SELECT {ROBOT_COLUMNS} FROM robots WHERE name = ?", (name,), robot_from_row
        )

    async def get_robot_by_id(self, robot_id: int) -> Robot | None:
        return await self._one(
            f"SELECT {ROBOT_COLUMNS} FROM robots WHERE id = ?", (robot_id,), robot_from_row
        )

    async def list_robots(self, project: str | None, page: Page) -> tuple[list[Robot], int]:
        sql = f"SELECT {ROBOT_COLUMNS} FROM robots"
        args: tuple[Any, ...] = ()
        if project is not None:
            sql += " WHERE project = ?"
            args = (project,)
        rows, total = await self._page(sql + " ORDER BY id", args, page)
        return [robot_from_row(r) for r in rows], total

    async def update_robot(self, robot: Robot) -> None:
        await self._change(
            "UPDATE robots SET description = ?, secret_hash = ?, permissions = ?, "
            "expires_at = ?, disabled = ?, updated = ? WHERE id = ?",
            (
                robot.description,
                robot.secret_hash,
                permissions_json(robot.permissions),
                robot.expires_at,
                int(robot.disabled),
                robot.updated,
                robot.id,
            ),
        )

    async def delete_robot(self, robot_id: int) -> bool:
        return await self._change("DELETE FROM robots WHERE id = ?", (robot_id,)) > 0

    async def configuration_default(self, name: str, value: str, updated: float) -> str:
        def change(db: sqlite3.Connection) -> str:
            db.execute(
                "INSERT INTO configurations (name, value, updated) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (name, value, updated),
            )
            row = db.execute("SELECT value FROM configurations WHERE name = ?", (name,))
            return str(row.fetchone()[0])

        return await self.database.write(change)

    # --- audit ---------------------------------------------------------------
    async def add_events(self, events: list[AuditEvent]) -> None:
        await self.database.write(
            lambda db: db.executemany(
                "INSERT INTO audit_events (time, username, operation, resource_type, resource, "
                "project, client_ip, result, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.time,
                        e.username,
                        e.operation,
                        e.resource_type,
                        e.resource,
                        e.project,
                        e.client_ip,
                        e.result,
                        e.detail,
                    )
                    for e in events
                ],
            )
        )

    async def purge_events(self, before: float) -> int:
        return await self._change("DELETE FROM audit_events WHERE time < ?", (before,))

    async def count_purgeable_events(self, purge: AuditPurge) -> int:
        if purge.empty:
            return 0
        where, args = _purge_where(purge)
        rows = await self._all(f"SELECT COUNT(*) FROM audit_events WHERE {where}", args)
        return int(rows[0][0])

    async def purge_events_batch(
        self, purge: AuditPurge, limit: int, after: PurgeCursor | None = None
    ) -> tuple[int, PurgeCursor | None]:
        if purge.empty or limit <= 0:
            return 0, None
        where, args = _purge_where(purge)
        if after is not None:
            where += " AND (time, id) > (?, ?)"
            args = (*args, after.time, after.id)
        rows = await self._all(
            f"SELECT id, time FROM audit_events WHERE {where} ORDER BY time, id LIMIT ?",
            (*args, limit),
        )
        if not rows:
            return 0, None
        went = await self._change(
            "DELETE FROM audit_events WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps([row[0] for row in rows]),),
        )
        last = rows[-1]
        return went, PurgeCursor(last[1], last[0]) if len(rows) == limit else None

    async def list_events(self, query: AuditQuery, page: Page) -> tuple[list[AuditEvent], int]:
        where: list[str] = []
        args: list[Any] = []
        for column, value in (
            ("project", query.project),
            ("username", query.username),
            ("operation", query.operation),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.resource is not None:
            where.append("resource LIKE ? ESCAPE '\\'")
            args.append("%" + like_pattern(query.resource) + "%")
        if query.since is not None:
            where.append("time >= ?")
            args.append(query.since)
        if query.until is not None:
            where.append("time <= ?")
            args.append(query.until)
        for cond in query.conditions:
            if cond.op == "in":
                values = tuple(cond.value) if isinstance(cond.value, tuple) else (cond.value,)
                if not values:
                    where.append("0 = 1")
                    continue
                where.append(f"{cond.column} IN ({', '.join('?' * len(values))})")
                args.extend(values)
            elif cond.op == "like":
                where.append(f"{cond.column} LIKE ? ESCAPE '\\'")
                args.append("%" + like_pattern(str(cond.value)) + "%")
            else:
                where.append(f"{cond.column} {cond.op} ?")
                args.append(cond.value)
        sql = f"SELECT {EVENT_COLUMNS} FROM audit_events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows, total = await self._page(sql + " ORDER BY time DESC, id DESC", tuple(args), page)
        return [event_from_row(r) for r in rows], total

    # --- keys ----------------------------------------------------------------
    async def add_signing_key(self, key: SigningKey) -> None:
        await self._change(
            "INSERT INTO signing_keys (kid, algorithm, private_key, public_key, created, "
            "active) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kid) DO NOTHING",
            (key.kid, key.algorithm, key.private_pem, key.public_pem, key.created, int(key.active)),
        )

    async def signing_keys(self) -> list[SigningKey]:
        rows = await self._all(
            "SELECT kid, algorithm, private_key, public_key, created, active FROM signing_keys "
            "ORDER BY created DESC"
        )
        return [SigningKey(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]


def _delete_project(db: sqlite3.Connection, project_id: int) -> bool:
    """Delete the project unless a repository of the registry's tables lives in it; the
    check and the delete share one write transaction, so no push can slip in between
    (a push creating the project's first repository checks the project in its own)."""
    row = db.execute("SELECT name FROM projects WHERE id = ?", (project_id,)).fetchone()
    if row is None:
        return False
    name: str = row[0]
    # "p/" <= name < "p0" ('0' follows '/'): exactly the names under "p/", on the index
    inside = db.execute(
        "SELECT 1 FROM repositories WHERE name = ? OR (name >= ? AND name < ?) LIMIT 1",
        (name, name + "/", name + "0"),
    ).fetchone()
    if inside is not None:
        raise ProjectNotEmpty(name)
    return db.execute("DELETE FROM projects WHERE id = ?", (project_id,)).rowcount > 0


def _purge_where(purge: AuditPurge) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause (and its arguments) of the events ``purge`` selects."""
    if purge.everything:
        return "time < ?", (purge.before,)
    args: list[Any] = [purge.before]
    alternatives: list[str] = []
    if purge.operations:
        alternatives.append(f"lower(operation) IN ({', '.join('?' * len(purge.operations))})")
        args.extend(op.lower() for op in purge.operations)
    for operation, resource_type in purge.event_types:
        alternatives.append("(lower(operation) = ? AND lower(resource_type) = ?)")
        args.extend((operation.lower(), resource_type.lower()))
    return f"time < ? AND ({' OR '.join(alternatives)})", tuple(args)
