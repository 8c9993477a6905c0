"""The auth store on PostgreSQL (``PostgresDatabase``), the database the metadata store
uses. Every method is one ``database.read`` (one statement) or one ``database.write`` (one
transaction); unique names are the tables' unique keys, so two replicas creating the same
user or project get one row and one ``Conflict``."""

from __future__ import annotations

from typing import Any

import asyncpg

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
from wharf.db.postgres import Connection, PostgresDatabase


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


class PostgresAuthStore(AuthStore):
    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def _insert(self, sql: str, args: tuple[Any, ...], name: str) -> int:
        """One INSERT ... RETURNING id; Conflict(name) when a unique key is taken (or a
        referenced row is missing, as SQLite's IntegrityError reports both)."""
        try:
            new_id = await self.database.read(lambda db: db.fetchval(sql, *args))
        except asyncpg.exceptions.IntegrityConstraintViolationError as exc:
            raise Conflict(name) from exc
        return int(new_id)

    async def _one(self, sql: str, *args: Any) -> Any:
        return await self.database.read(lambda db: db.fetchrow(sql, *args))

    async def _all(self, sql: str, *args: Any) -> list[Any]:
        return await self.database.read(lambda db: db.fetch(sql, *args))

    async def _change(self, sql: str, *args: Any) -> int:
        """One statement (its own transaction); how many rows it changed."""
        return _count(await self.database.read(lambda db: db.execute(sql, *args)))

    async def _page(
        self, sql: str, order: str, args: list[Any], page: Page
    ) -> tuple[list[Any], int]:
        """One page and the total in one statement (a window count); a second only when the
        page is past the end and so carries no count."""
        n = len(args)
        rows = await self._all(
            f"SELECT *, COUNT(*) OVER () FROM ({sql}) AS q ORDER BY {order} "
            f"LIMIT ${n + 1} OFFSET ${n + 2}",
            *args,
            page.limit,
            page.offset,
        )
        if rows:
            return [tuple(r)[:-1] for r in rows], int(rows[0][-1])
        total = await self.database.read(
            lambda db: db.fetchval(f"SELECT COUNT(*) FROM ({sql}) AS q", *args)
        )
        return [], int(total)

    # --- users ---------------------------------------------------------------
    _USER_FIELDS = USER_COLUMNS.split(", ", 1)[1]
    _USER_MARKS = ", ".join(f"${n}" for n in range(1, len(_USER_FIELDS.split(", ")) + 1))
    _INSERT_USER = f"INSERT INTO users ({_USER_FIELDS}) VALUES ({_USER_MARKS}) RETURNING id"

    @staticmethod
    def _user_args(user: User) -> tuple[Any, ...]:
        return user_values(user)

    async def create_user(self, user: User) -> User:
        user.id = await self._insert(self._INSERT_USER, self._user_args(user), user.username)
        return user

    async def create_first_admin(self, user: User) -> bool:
        # one statement: inserted only when no admin and no such user exists; two replicas
        # racing both see none, the unique username stops the second
        try:
            new_id = await self.database.read(
                lambda db: db.fetchval(
                    f"INSERT INTO users ({self._USER_FIELDS}) "
                    f"SELECT {self._USER_MARKS} WHERE NOT EXISTS "
                    "(SELECT 1 FROM users WHERE sysadmin = 1 OR username = $1) RETURNING id",
                    *self._user_args(user),
                )
            )
        except asyncpg.exceptions.UniqueViolationError:
            return False
        if new_id is None:
            return False
        user.id = int(new_id)
        return True

    async def get_user(self, username: str) -> User | None:
        row = await self._one(f"SELECT {USER_COLUMNS} FROM users WHERE username = $1", username)
        return None if row is None else user_from_row(row)

    async def get_user_by_id(self, user_id: int) -> User | None:
        row = await self._one(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)
        return None if row is None else user_from_row(row)

    async def list_users(self, query: str | None, page: Page) -> tuple[list[User], int]:
        sql = f"SELECT {USER_COLUMNS} FROM users"
        args: list[Any] = []
        if query:
            sql += " WHERE username ILIKE $1 ESCAPE '\\'"
            args.append("%" + like_pattern(query) + "%")
        rows, total = await self._page(sql, "id", args, page)
        return [user_from_row(r) for r in rows], total

    async def update_user(self, user: User) -> None:
        await self._change(
            "UPDATE users SET email = $1, realname = $2, password_hash = $3, sysadmin = $4, "
            "enabled = $5, comment = $6, updated = $7, auth_source = $8, external_id = $9, "
            "group_admin = $10, external_checked = $11 WHERE id = $12",
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
        )

    async def delete_user(self, user_id: int) -> bool:
        return await self._change("DELETE FROM users WHERE id = $1", user_id) > 0

    async def get_user_by_external(self, auth_source: str, external_id: str) -> User | None:
        row = await self._one(
            f"SELECT {USER_COLUMNS} FROM users WHERE auth_source = $1 AND external_id = $2",
            auth_source,
            external_id,
        )
        return None if row is None else user_from_row(row)

    async def rename_user(self, user_id: int, username: str) -> None:
        try:
            await self._change("UPDATE users SET username = $1 WHERE id = $2", username, user_id)
        except asyncpg.exceptions.UniqueViolationError as exc:
            raise Conflict(username) from exc

    # --- user groups ---------------------------------------------------------
    _INSERT_GROUP = (
        "INSERT INTO user_groups (group_name, group_type, group_key, ldap_group_dn, created, "
        "updated) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
    )

    @staticmethod
    def _group_args(group: UserGroup) -> tuple[Any, ...]:
        return (
            group.name,
            group.group_type,
            group.key,
            group.ldap_dn,
            group.created,
            group.updated,
        )

    async def create_group(self, group: UserGroup) -> UserGroup:
        group.id = await self._insert(self._INSERT_GROUP, self._group_args(group), group.key)
        return group

    async def get_group(self, group_id: int) -> UserGroup | None:
        row = await self._one(f"SELECT {GROUP_COLUMNS} FROM user_groups WHERE id = $1", group_id)
        return None if row is None else group_from_row(row)

    async def list_groups(
        self, name: str | None, ldap_dn: str | None, page: Page
    ) -> tuple[list[UserGroup], int]:
        where: list[str] = []
        args: list[Any] = []
        if name:
            args.append("%" + like_pattern(name) + "%")
            where.append(f"group_name ILIKE ${len(args)} ESCAPE '\\'")
        if ldap_dn:
            args.append(ldap_dn.strip().lower())
            where.append(f"group_type = 1 AND group_key = ${len(args)}")
        sql = f"SELECT {GROUP_COLUMNS} FROM user_groups"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows, total = await self._page(sql, "id", args, page)
        return [group_from_row(r) for r in rows], total

    async def rename_group(self, group_id: int, name: str, updated: float) -> bool:
        sql = "UPDATE user_groups SET group_name = $1, updated = $2 WHERE id = $3"
        return await self._change(sql, name, updated, group_id) > 0

    async def delete_group(self, group_id: int) -> bool:
        return await self._change("DELETE FROM user_groups WHERE id = $1", group_id) > 0

    async def ensure_groups(self, groups: list[UserGroup]) -> list[UserGroup]:
        async def change(db: Connection) -> list[UserGroup]:
            found: list[UserGroup] = []
            for group in groups:
                # a concurrent login creating the same group: the loser does nothing here
                # and reads the winner's row
                await db.execute(
                    "INSERT INTO user_groups (group_name, group_type, group_key, ldap_group_dn, "
                    "created, updated) VALUES ($1, $2, $3, $4, $5, $6) "
                    "ON CONFLICT (group_type, group_key) DO NOTHING",
                    *self._group_args(group),
                )
                row = await db.fetchrow(
                    f"SELECT {GROUP_COLUMNS} FROM user_groups WHERE group_type = $1 "
                    "AND group_key = $2",
                    group.group_type,
                    group.key,
                )
                found.append(group_from_row(row))
            return found

        return await self.database.write(change)

    async def set_user_groups(
        self, user_id: int, group_ids: list[int], *, group_admin: bool, checked: float
    ) -> None:
        async def change(db: Connection) -> None:
            await db.execute("DELETE FROM user_group_members WHERE user_id = $1", user_id)
            await db.execute(
                "INSERT INTO user_group_members (user_id, group_id) "
                "SELECT $1, unnest($2::int[]) ON CONFLICT DO NOTHING",
                user_id,
                group_ids,
            )
            await db.execute(
                "UPDATE users SET group_admin = $1, external_checked = $2 WHERE id = $3",
                int(group_admin),
                checked,
                user_id,
            )

        await self.database.write(change)

    async def groups_of_user(self, user_id: int) -> list[UserGroup]:
        rows = await self._all(
            f"SELECT {', '.join('g.' + c for c in GROUP_COLUMNS.split(', '))} FROM user_groups g "
            "JOIN user_group_members ug ON ug.group_id = g.id WHERE ug.user_id = $1 "
            "ORDER BY g.id",
            user_id,
        )
        return [group_from_row(r) for r in rows]

    # --- OIDC users ----------------------------------------------------------
    async def get_oidc_meta(self, user_id: int) -> OidcMeta | None:
        row = await self._one(f"SELECT {OIDC_COLUMNS} FROM oidc_users WHERE user_id = $1", user_id)
        return None if row is None else oidc_from_row(row)

    async def put_oidc_meta(self, meta: OidcMeta) -> None:
        try:
            await self._change(
                f"INSERT INTO oidc_users ({OIDC_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                "ON CONFLICT (user_id) DO UPDATE SET subject = excluded.subject, "
                "issuer = excluded.issuer, secret = excluded.secret, token = excluded.token, "
                "checked = excluded.checked, updated = excluded.updated",
                meta.user_id,
                meta.subject,
                meta.issuer,
                meta.secret_sealed,
                meta.token_sealed,
                meta.checked,
                meta.created,
                meta.updated,
            )
        except asyncpg.exceptions.IntegrityConstraintViolationError as exc:
            raise Conflict(meta.subject) from exc

    async def user_by_oidc_subject(self, issuer: str, subject: str) -> User | None:
        columns = ", ".join("u." + c for c in USER_COLUMNS.split(", "))
        row = await self._one(
            f"SELECT {columns} FROM users u JOIN oidc_users o ON o.user_id = u.id "
            "WHERE o.issuer = $1 AND o.subject = $2",
            issuer,
            subject,
        )
        return None if row is None else user_from_row(row)

    # --- settings ------------------------------------------------------------
    async def configuration(self) -> dict[str, str]:
        rows = await self._all("SELECT name, value FROM configurations")
        return {r[0]: r[1] for r in rows}

    async def put_configuration(self, values: dict[str, str], updated: float) -> None:
        names = list(values)
        await self._change(
            "INSERT INTO configurations (name, value, updated) "
            "SELECT unnest($1::text[]), unnest($2::text[]), $3 "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated = excluded.updated",
            names,
            [values[n] for n in names],
            updated,
        )

    # --- projects ------------------------------------------------------------
    async def create_project(self, project: Project) -> Project:
        project.id = await self._insert(
            "INSERT INTO projects "
            "(name, public, owner_id, created, updated, metadata, registry_id) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
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
        return project

    async def get_project(self, name: str) -> Project | None:
        row = await self._one(f"SELECT {PROJECT_COLUMNS} FROM projects WHERE name = $1", name)
        return None if row is None else project_from_row(row)

    async def get_project_by_id(self, project_id: int) -> Project | None:
        row = await self._one(f"SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1", project_id)
        return None if row is None else project_from_row(row)

    async def list_projects(
        self, name: str | None, visible_to: frozenset[str] | None, page: Page
    ) -> tuple[list[Project], int]:
        where: list[str] = []
        args: list[Any] = []
        if name:
            args.append("%" + like_pattern(name) + "%")
            where.append(f"name ILIKE ${len(args)} ESCAPE '\\'")
        if visible_to is not None:
            args.append(sorted(visible_to))
            where.append(f"(public = 1 OR name = ANY(${len(args)}::text[]))")
        sql = f"SELECT {PROJECT_COLUMNS} FROM projects"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows, total = await self._page(sql, "name", args, page)
        return [project_from_row(r) for r in rows], total

    async def update_project(self, project: Project) -> None:
        await self._change(
            "UPDATE projects SET public = $1, owner_id = $2, updated = $3, metadata = $4 "
            "WHERE id = $5",
            int(project.public),
            project.owner_id,
            project.updated,
            metadata_json(project.metadata),
            project.id,
        )

    async def delete_project(self, project_id: int) -> bool:
        async def change(db: Connection) -> bool:
            # the row lock makes a push creating the project's first repository (which
            # holds the project row FOR KEY SHARE) either finish first or find it gone
            name = await db.fetchval(
                "SELECT name FROM projects WHERE id = $1 FOR UPDATE", project_id
            )
            if name is None:
                return False
            # "p/" <= name < "p0" ('0' follows '/'): the names under "p/", on the index
            inside = await db.fetchval(
                "SELECT 1 FROM repositories WHERE name = $1 OR (name >= $2 AND name < $3) LIMIT 1",
                name,
                name + "/",
                name + "0",
            )
            if inside is not None:
                raise ProjectNotEmpty(name)
            return _count(await db.execute("DELETE FROM projects WHERE id = $1", project_id)) > 0

        return await self.database.write(change)

    async def public_projects(self) -> frozenset[str]:
        rows = await self._all("SELECT name FROM projects WHERE public = 1")
        return frozenset(r[0] for r in rows)

    async def user_access(
        self, username: str
    ) -> tuple[User, dict[str, Role], frozenset[str]] | None:
        # one round trip: the user, every (project, role) they hold directly or through a
        # group, and the public projects
        roles_sql = ROLES_OF_USER.format("u.id", "u.id")
        row = await self._one(
            f"SELECT {USER_COLUMNS}, "
            f"ARRAY(SELECT r.name FROM ({roles_sql}) AS r(name, role_id)), "
            f"ARRAY(SELECT r.role_id FROM ({roles_sql}) AS r(name, role_id)), "
            "ARRAY(SELECT name FROM projects WHERE public = 1) "
            "FROM users u WHERE username = $1",
            username,
        )
        if row is None:
            return None
        columns = len(USER_COLUMNS.split(", "))
        roles = strongest_roles(zip(row[columns], row[columns + 1], strict=True))
        return user_from_row(tuple(row)[:columns]), roles, frozenset(row[columns + 2])

    async def existing_projects(self, names: set[str]) -> frozenset[str]:
        if not names:
            return frozenset()
        rows = await self._all(
            "SELECT name FROM projects WHERE name = ANY($1::text[])", sorted(names)
        )
        return frozenset(r[0] for r in rows)

    # --- members -------------------------------------------------------------
    async def add_member(self, member: Member) -> Member:
        member.id = await self._insert(
            "INSERT INTO project_members (project_id, user_id, group_id, role_id) "
            "VALUES ($1, $2, $3, $4) RETURNING id",
            (member.project_id, member.user_id, member.group_id, int(member.role)),
            str(member.entity_id),
        )
        return member

    async def get_member(self, project_id: int, member_id: int) -> Member | None:
        row = await self._one(
            f"{MEMBER_SELECT} WHERE m.project_id = $1 AND m.id = $2", project_id, member_id
        )
        return None if row is None else member_from_row(row)

    async def list_members(self, project_id: int) -> list[Member]:
        rows = await self._all(f"{MEMBER_SELECT} WHERE m.project_id = $1 ORDER BY m.id", project_id)
        return [member_from_row(r) for r in rows]

    async def update_member(self, member: Member) -> None:
        await self._change(
            "UPDATE project_members SET role_id = $1 WHERE id = $2", int(member.role), member.id
        )

    async def delete_member(self, project_id: int, member_id: int) -> bool:
        sql = "DELETE FROM project_members WHERE project_id = $1 AND id = $2"
        return await self._change(sql, project_id, member_id) > 0

    async def memberships(self, user_id: int) -> dict[str, Role]:
        rows = await self._all(ROLES_OF_USER.format("$1", "$1"), user_id)
        return strongest_roles((r[0], r[1]) for r in rows)

    # --- robots --------------------------------------------------------------
    async def create_robot(self, robot: Robot) -> Robot:
        robot.id = await self._insert(
            "INSERT INTO robots (name, project, description, secret_hash, permissions, "
            "expires_at, disabled, creator, created, updated) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
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
        return robot

    async def get_robot(self, name: str) -> Robot | None:
        row = await self._one(f"SELECT {ROBOT_COLUMNS} FROM robots WHERE name = $1", name)
        return None if row is None else robot_from_row(row)

    async def get_robot_by_id(self, robot_id: int) -> Robot | None:
        row = await self._one(f"SELECT {ROBOT_COLUMNS} FROM robots WHERE id = $1", robot_id)
        return None if row is None else robot_from_row(row)

    async def list_robots(self, project: str | None, page: Page) -> tuple[list[Robot], int]:
        sql = f"SELECT {ROBOT_COLUMNS} FROM robots"
        args: list[Any] = []
        if project is not None:
            sql += " WHERE project = $1"
            args.append(project)
        rows, total = await self._page(sql, "id", args, page)
        return [robot_from_row(r) for r in rows], total

    async def update_robot(self, robot: Robot) -> None:
        await self._change(
            "UPDATE robots SET description = $1, secret_hash = $2, permissions = $3, "
            "expires_at = $4, disabled = $5, updated = $6 WHERE id = $7",
            robot.description,
            robot.secret_hash,
            permissions_json(robot.permissions),
            robot.expires_at,
            int(robot.disabled),
            robot.updated,
            robot.id,
        )

    async def delete_robot(self, robot_id: int) -> bool:
        return await self._change("DELETE FROM robots WHERE id = $1", robot_id) > 0

    async def configuration_default(self, name: str, value: str, updated: float) -> str:
        async def change(db: Connection) -> str:
            await db.execute(
                "INSERT INTO configurations (name, value, updated) VALUES ($1, $2, $3) "
                "ON CONFLICT (name) DO NOTHING",
                name,
                value,
                updated,
            )
            return str(await db.fetchval("SELECT value FROM configurations WHERE name = $1", name))

        return await self.database.write(change)

    # --- audit ---------------------------------------------------------------
    async def add_events(self, events: list[AuditEvent]) -> None:
        if not events:
            return
        columns = [
            [getattr(e, f) for e in events]
            for f in (
                "time",
                "username",
                "operation",
                "resource_type",
                "resource",
                "project",
                "client_ip",
                "result",
                "detail",
            )
        ]
        # one statement for the batch (all or nothing, one round trip)
        await self._change(
            "INSERT INTO audit_events (time, username, operation, resource_type, resource, "
            "project, client_ip, result, detail) SELECT * FROM unnest($1::float8[], "
            "$2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
            "$8::text[], $9::text[])",
            *columns,
        )

    async def purge_events(self, before: float) -> int:
        return await self._change("DELETE FROM audit_events WHERE time < $1", before)

    async def count_purgeable_events(self, purge: AuditPurge) -> int:
        if purge.empty:
            return 0
        where, args = _purge_where(purge)
        row = await self._one(f"SELECT COUNT(*) FROM audit_events WHERE {where}", *args)
        return int(row[0])

    async def purge_events_batch(
        self, purge: AuditPurge, limit: int, after: PurgeCursor | None = None
    ) -> tuple[int, PurgeCursor | None]:
        if purge.empty or limit <= 0:
            return 0, None
        where, args = _purge_where(purge)
        if after is not None:
            args.extend((after.time, after.id))
            n = len(args)
            where += f" AND time >= ${n - 1} AND (time, id) > (${n - 1}, ${n})"
        args.append(limit)
        rows = await self._all(
            f"SELECT id, time FROM audit_events WHERE {where} ORDER BY time, id LIMIT ${len(args)}",
            *args,
        )
        if not rows:
            return 0, None
        went = await self._change(
            "DELETE FROM audit_events WHERE id = ANY($1::bigint[])", [row[0] for row in rows]
        )
        last = rows[-1]
        return went, PurgeCursor(last[1], last[0]) if len(rows) == limit else None

    async def list_events(self, query: AuditQuery, page: Page) -> tuple[list[AuditEvent], int]:
        where: list[str] = []
        args: list[Any] = []
        for column, op, value in (
            ("project", "=", query.project),
            ("username", "=", query.username),
            ("operation", "=", query.operation),
            ("time", ">=", query.since),
            ("time", "<=", query.until),
        ):
            if value is not None:
                args.append(value)
                where.append(f"{column} {op} ${len(args)}")
        if query.resource is not None:
            args.append("%" + like_pattern(query.resource) + "%")
            where.append(f"resource ILIKE ${len(args)} ESCAPE '\\'")
        for cond in query.conditions:
            if cond.op == "in":
                values = list(cond.value) if isinstance(cond.value, tuple) else [cond.value]
                args.append([str(v) for v in values])
                where.append(f"{cond.column} = ANY(${len(args)}::text[])")
            elif cond.op == "like":
                args.append("%" + like_pattern(str(cond.value)) + "%")
                where.append(f"{cond.column} ILIKE ${len(args)} ESCAPE '\\'")
            else:
                args.append(cond.value)
                where.append(f"{cond.column} {cond.op} ${len(args)}")
        sql = f"SELECT {EVENT_COLUMNS} FROM audit_events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows, total = await self._page(sql, "time DESC, id DESC", args, page)
        return [event_from_row(r) for r in rows], total

    # --- keys ----------------------------------------------------------------
    async def add_signing_key(self, key: SigningKey) -> None:
        await self._change(
            "INSERT INTO signing_keys (kid, algorithm, private_key, public_key, created, "
            "active) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kid) DO NOTHING",
            key.kid,
            key.algorithm,
            key.private_pem,
            key.public_pem,
            key.created,
            int(key.active),
        )

    async def signing_keys(self) -> list[SigningKey]:
        rows = await self._all(
            "SELECT kid, algorithm, private_key, public_key, created, active FROM signing_keys "
            "ORDER BY created DESC"
        )
        return [SigningKey(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]


def _purge_where(purge: AuditPurge) -> tuple[str, list[Any]]:
    """The WHERE clause (and its arguments) of the events ``purge`` selects."""
    if purge.everything:
        return "time < $1", [purge.before]
    args: list[Any] = [purge.before, [op.lower() for op in purge.operations]]
    alternatives = ["lower(operation) = ANY($2::text[])"]
    for operation, resource_type in purge.event_types:
        args.extend((operation.lower(), resource_type.lower()))
        alternatives.append(
            f"(lower(operation) = ${len(args) - 1} AND lower(resource_type) = ${len(args)})"
        )
    return f"time < $1 AND ({' OR '.join(alternatives)})", args
