"""Project deletion in the auth service: refused with Precondition (412) both when the
caller saw repositories and when the store finds the project not empty itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from wharf.auth.errors import Precondition
from wharf.auth.principals import SYSTEM_PRINCIPAL
from wharf.auth.service import AuthService
from wharf.auth.sqlite_store import SQLiteAuthStore
from wharf.auth.store import AuditQuery, Page, ProjectNotEmpty
from wharf.auth.tokens import TokenService
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.wiring import sqlite_database


class NeverEmptyStore(SQLiteAuthStore):
    """A store whose delete finds a repository that appeared after the caller looked."""

    async def delete_project(self, project_id: int) -> bool:
        raise ProjectNotEmpty("team")


async def project_deletes(store_class: type[SQLiteAuthStore], db: Path) -> tuple[list[str], int]:
    database = sqlite_database(db)
    meta = SQLiteStore(database)
    store = store_class(database)
    await meta.open()
    await store.open()
    try:
        auth = AuthService(store, TokenService(store, issuer="t", service="t"))
        outcomes: list[str] = []
        project = await auth.projects.create(SYSTEM_PRINCIPAL, "team", public=False)
        for has_repositories in (True, False):
            try:
                removed = await auth.projects.delete(
                    SYSTEM_PRINCIPAL, project, has_repositories=has_repositories
                )
            except Precondition as exc:
                assert exc.status == 412 and exc.code == "PRECONDITION"
                outcomes.append("refused")
            else:
                outcomes.append("deleted" if removed else "gone")
        _, deletes = await store.list_events(
            AuditQuery(operation="delete", project="team"), Page(0, 10)
        )
        return outcomes, deletes
    finally:
        await store.close()
        await meta.close()


@pytest.mark.parametrize(
    ("store_class", "expected"),
    [
        (SQLiteAuthStore, (["refused", "deleted"], 1)),
        (NeverEmptyStore, (["refused", "refused"], 0)),
    ],
)
def test_project_delete_refused_while_not_empty(
    tmp_path: Path, store_class: type[SQLiteAuthStore], expected: tuple[list[str], int]
) -> None:
    db = tmp_path / "wharf.db"
    assert asyncio.run(project_deletes(store_class, db)) == expected


def test_a_repository_pushed_after_the_check_still_stops_the_delete(tmp_path: Path) -> None:
    """The caller saw no repository, but one landed before the delete: the store's own
    check, in the delete's transaction, refuses it and nothing is orphaned."""

    async def scenario() -> tuple[bool, list[str]]:
        database = sqlite_database(tmp_path / "wharf.db")
        meta = SQLiteStore(database, require_projects=True)
        store = SQLiteAuthStore(database)
        await meta.open()
        await store.open()
        try:
            auth = AuthService(store, TokenService(store, issuer="t", service="t"))
            project = await auth.projects.create(SYSTEM_PRINCIPAL, "team", public=False)
            await meta.add_blob("team/app", "sha256:" + "0" * 64, 1)  # the racing push
            with pytest.raises(Precondition):
                await auth.projects.delete(SYSTEM_PRINCIPAL, project, has_repositories=False)
            still = await store.get_project("team") is not None
            return still, await meta.list_repos(None, None)
        finally:
            await store.close()
            await meta.close()

    assert asyncio.run(scenario()) == (True, ["team/app"])
