"""The auth store on the same SQLite file as the metadata store (its own connection;
the schema comes from the shared migrations, applied by the metadata store)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .models import AuditEvent, Member, Project, Robot, Role, SigningKey, User
from .store import AuditQuery, AuthStore, Conflict, Page

_USER = "id, username, email, realname, password_hash, sysadmin, enabled, comment, created, updated"
_PROJECT = "id, name, public, owner_id, created, updated"
_ROBOT = (
    "id, name, project, description, secret_hash, permissions, expires_at, disabled, creator, "
    "created, updated"
)
_EVENT = (
    "id, time, username, operation, resource_type, resource, project, client_ip, result, detail"
)


def _user(row: Any) -> User:
    return User(
        id=row[0],
        username=row[1],
        email=row[2],
        realname=row[3],
        password_hash=row[4],
        sysadmin=bool(row[5]),
        enabled=bool(row[6]),
        comment=row[7],
        created=row[8],
        updated=row[9],
    )


def _project(row: Any) -> Project:
    return Project(
        id=row[0], name=row[1], public=bool(row[2]), owner_id=row[3], created=row[4], updated=row[5]
    )


def _robot(row: Any) -> Robot:
    perms = {p: frozenset(a) for p, a in json.loads(row[5]).items()}
    return Robot(
        id=row[0],
        name=row[1],
        project=row[2],
        description=row[3],
        secret_hash=row[4],
        permissions=perms,
        expires_at=row[6],
        disabled=bool(row[7]),
        creator=row[8],
        created=row[9],
        updated=row[10],
    )


def _event(row: Any) -> AuditEvent:
    return AuditEvent(
        id=row[0],
        time=row[1],
        username=row[2],
        operation=row[3],
        resource_type=row[4],
        resource=row[5],
        project=row[6],
        client_ip=row[7],
        result=row[8],
        detail=row[9],
    )


def _perms_json(perms: dict[str, frozenset[str]]) -> str:
    return json.dumps({p: sorted(a) for p, a in sorted(perms.items())})


class SQLiteAuthStore(AuthStore):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("auth store is not open")
        return self._db

    async def open(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=30000")
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _page(self, sql: str, args: tuple[Any, ...], page: Page) -> tuple[list[Any], int]:
        total = self.db.execute(f"SELECT COUNT(*) FROM ({sql}) AS q", args).fetchone()[0]
        rows = self.db.execute(f"{sql} LIMIT ? OFFSET ?", (*args, page.limit, page.offset))
        return list(rows), int(total)

    # --- users ---------------------------------------------------------------
    def _insert_user(self, db: sqlite3.Connection, user: User) -> User:
        try:
            cur = db.execute(
                "INSERT INTO users (username, email, realname, password_hash, sysadmin, enabled, "
                "comment, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user.username,
                    user.email,
                    user.realname,
                    user.password_hash,
                    int(user.sysadmin),
                    int(user.enabled),
                    user.comment,
                    user.created,
                    user.updated,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(user.username) from exc
        assert cur.lastrowid is not None
        user.id = cur.lastrowid
        return user

    async def create_user(self, user: User) -> User:
        with self._write() as db:
            return self._insert_user(db, user)

    async def create_first_admin(self, user: User) -> bool:
        with self._write() as db:
            if db.execute("SELECT 1 FROM users WHERE sysadmin = 1 LIMIT 1").fetchone():
                return False
            if db.execute("SELECT 1 FROM users WHERE username = ?", (user.username,)).fetchone():
                return False
            self._insert_user(db, user)
            return True

    async def get_user(self, username: str) -> User | None:
        row = self.db.execute(f"SELECT {_USER} FROM users WHERE username = ?", (username,))
        found = row.fetchone()
        return None if found is None else _user(found)

    async def get_user_by_id(self, user_id: int) -> User | None:
        found = self.db.execute(f"SELECT {_USER} FROM users WHERE id = ?", (user_id,)).fetchone()
        return None if found is None else _user(found)

    async def list_users(self, query: str | None, page: Page) -> tuple[list[User], int]:
        sql = f"SELECT {_USER} FROM users"
        args: tuple[Any, ...] = ()
        if query:
            sql += " WHERE username LIKE ? ESCAPE '\\'"
            args = ("%" + _like(query) + "%",)
        rows, total = self._page(sql + " ORDER BY id", args, page)
        return [_user(r) for r in rows], total

    async def update_user(self, user: User) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE users SET email = ?, realname = ?, password_hash = ?, sysadmin = ?, "
                "enabled = ?, comment = ?, updated = ? WHERE id = ?",
                (
                    user.email,
                    user.realname,
                    user.password_hash,
                    int(user.sysadmin),
                    int(user.enabled),
                    user.comment,
                    user.updated,
                    user.id,
                ),
            )

    async def delete_user(self, user_id: int) -> bool:
        with self._write() as db:
            return db.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount > 0

    # --- projects ------------------------------------------------------------
    async def create_project(self, project: Project) -> Project:
        with self._write() as db:
            try:
                cur = db.execute(
                    "INSERT INTO projects (name, public, owner_id, created, updated) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        project.name,
                        int(project.public),
                        project.owner_id,
                        project.created,
                        project.updated,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(project.name) from exc
            assert cur.lastrowid is not None
            project.id = cur.lastrowid
            return project

    async def get_project(self, name: str) -> Project | None:
        found = self.db.execute(f"SELECT {_PROJECT} FROM projects WHERE name = ?", (name,))
        row = found.fetchone()
        return None if row is None else _project(row)

    async def get_project_by_id(self, project_id: int) -> Project | None:
        found = self.db.execute(f"SELECT {_PROJECT} FROM projects WHERE id = ?", (project_id,))
        row = found.fetchone()
        return None if row is None else _project(row)

    async def list_projects(
        self, name: str | None, visible_to: frozenset[str] | None, page: Page
    ) -> tuple[list[Project], int]:
        where: list[str] = []
        args: list[Any] = []
        if name:
            where.append("name LIKE ? ESCAPE '\\'")
            args.append("%" + _like(name) + "%")
        if visible_to is not None:
            marks = ",".join("?" * len(visible_to))
            where.append(f"(public = 1 OR name IN ({marks}))" if visible_to else "public = 1")
            args.extend(sorted(visible_to))
        sql = f"SELECT {_PROJECT} FROM projects"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows, total = self._page(sql + " ORDER BY name", tuple(args), page)
        return [_project(r) for r in rows], total

    async def update_project(self, project: Project) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE projects SET public = ?, owner_id = ?, updated = ? WHERE id = ?",
                (int(project.public), project.owner_id, project.updated, project.id),
            )

    async def delete_project(self, project_id: int) -> bool:
        with self._write() as db:
            return db.execute("DELETE FROM projects WHERE id = ?", (project_id,)).rowcount > 0

    async def public_projects(self) -> frozenset[str]:
        rows = self.db.execute("SELECT name FROM projects WHERE public = 1")
        return frozenset(name for (name,) in rows)

    async def existing_projects(self, names: set[str]) -> frozenset[str]:
        if not names:
            return frozenset()
        marks = ",".join("?" * len(names))
        rows = self.db.execute(f"SELECT name FROM projects WHERE name IN ({marks})", tuple(names))
        return frozenset(name for (name,) in rows)

    # --- members -------------------------------------------------------------
    _MEMBER = (
        "SELECT m.id, m.project_id, m.user_id, m.role_id, u.username FROM project_members m "
        "JOIN users u ON u.id = m.user_id"
    )

    @staticmethod
    def _member(row: Any) -> Member:
        return Member(
            id=row[0], project_id=row[1], user_id=row[2], role=Role(row[3]), username=row[4]
        )

    async def add_member(self, member: Member) -> Member:
        with self._write() as db:
            try:
                cur = db.execute(
                    "INSERT INTO project_members (project_id, user_id, role_id) VALUES (?, ?, ?)",
                    (member.project_id, member.user_id, int(member.role)),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(str(member.user_id)) from exc
            assert cur.lastrowid is not None
            member.id = cur.lastrowid
            return member

    async def get_member(self, project_id: int, member_id: int) -> Member | None:
        row = self.db.execute(
            f"{self._MEMBER} WHERE m.project_id = ? AND m.id = ?", (project_id, member_id)
        ).fetchone()
        return None if row is None else self._member(row)

    async def list_members(self, project_id: int) -> list[Member]:
        rows = self.db.execute(
            f"{self._MEMBER} WHERE m.project_id = ? ORDER BY m.id", (project_id,)
        )
        return [self._member(r) for r in rows]

    async def update_member(self, member: Member) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE project_members SET role_id = ? WHERE id = ?", (int(member.role), member.id)
            )

    async def delete_member(self, project_id: int, member_id: int) -> bool:
        with self._write() as db:
            cur = db.execute(
                "DELETE FROM project_members WHERE project_id = ? AND id = ?",
                (project_id, member_id),
            )
            return cur.rowcount > 0

    async def memberships(self, user_id: int) -> dict[str, Role]:
        rows = self.db.execute(
            "SELECT p.name, m.role_id FROM project_members m JOIN projects p "
            "ON p.id = m.project_id WHERE m.user_id = ?",
            (user_id,),
        )
        return {name: Role(role) for name, role in rows}

    # --- robots --------------------------------------------------------------
    async def create_robot(self, robot: Robot) -> Robot:
        with self._write() as db:
            try:
                cur = db.execute(
                    "INSERT INTO robots (name, project, description, secret_hash, permissions, "
                    "expires_at, disabled, creator, created, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        robot.name,
                        robot.project,
                        robot.description,
                        robot.secret_hash,
                        _perms_json(robot.permissions),
                        robot.expires_at,
                        int(robot.disabled),
                        robot.creator,
                        robot.created,
                        robot.updated,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(robot.name) from exc
            assert cur.lastrowid is not None
            robot.id = cur.lastrowid
            return robot

    async def get_robot(self, name: str) -> Robot | None:
        row = self.db.execute(f"SELECT {_ROBOT} FROM robots WHERE name = ?", (name,)).fetchone()
        return None if row is None else _robot(row)

    async def get_robot_by_id(self, robot_id: int) -> Robot | None:
        row = self.db.execute(f"SELECT {_ROBOT} FROM robots WHERE id = ?", (robot_id,)).fetchone()
        return None if row is None else _robot(row)

    async def list_robots(self, project: str | None, page: Page) -> tuple[list[Robot], int]:
        sql = f"SELECT {_ROBOT} FROM robots"
        args: tuple[Any, ...] = ()
        if project is not None:
            sql += " WHERE project = ?"
            args = (project,)
        rows, total = self._page(sql + " ORDER BY id", args, page)
        return [_robot(r) for r in rows], total

    async def update_robot(self, robot: Robot) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE robots SET description = ?, secret_hash = ?, permissions = ?, "
                "expires_at = ?, disabled = ?, updated = ? WHERE id = ?",
                (
                    robot.description,
                    robot.secret_hash,
                    _perms_json(robot.permissions),
                    robot.expires_at,
                    int(robot.disabled),
                    robot.updated,
                    robot.id,
                ),
            )

    async def delete_robot(self, robot_id: int) -> bool:
        with self._write() as db:
            return db.execute("DELETE FROM robots WHERE id = ?", (robot_id,)).rowcount > 0

    # --- audit ---------------------------------------------------------------
    async def add_event(self, event: AuditEvent) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO audit_events (time, username, operation, resource_type, resource, "
                "project, client_ip, result, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.time,
                    event.username,
                    event.operation,
                    event.resource_type,
                    event.resource,
                    event.project,
                    event.client_ip,
                    event.result,
                    event.detail,
                ),
            )

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
            args.append("%" + _like(query.resource) + "%")
        if query.since is not None:
            where.append("time >= ?")
            args.append(query.since)
        if query.until is not None:
            where.append("time <= ?")
            args.append(query.until)
        sql = f"SELECT {_EVENT} FROM audit_events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows, total = self._page(sql + " ORDER BY time DESC, id DESC", tuple(args), page)
        return [_event(r) for r in rows], total

    # --- keys ----------------------------------------------------------------
    async def add_signing_key(self, key: SigningKey) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO signing_keys (kid, algorithm, private_key, public_key, created, "
                "active) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kid) DO NOTHING",
                (
                    key.kid,
                    key.algorithm,
                    key.private_pem,
                    key.public_pem,
                    key.created,
                    int(key.active),
                ),
            )

    async def signing_keys(self) -> list[SigningKey]:
        rows = self.db.execute(
            "SELECT kid, algorithm, private_key, public_key, created, active FROM signing_keys "
            "ORDER BY created DESC"
        )
        return [SigningKey(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
