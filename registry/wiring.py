"""Build the database, the stores on it and the storage driver the configuration asks for.

One database object per process: ``make_database`` once, then hand it to
``make_store`` and ``make_auth_store``; each store's open/close counts as one user of it.
"""

from __future__ import annotations

from pathlib import Path

from wharf.auth import migrations as auth_migrations
from wharf.auth.sqlite_store import SQLiteAuthStore
from wharf.auth.store import AuthStore
from wharf.db.migrate import Schema
from wharf.db.sqlite import SQLiteDatabase
from wharf.registry.config import ConfigError, Settings
from wharf.registry.metadata import schema as registry_schema
from wharf.registry.metadata.base import MetadataStore
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.storage.base import Driver
from wharf.storage.filesystem import FilesystemDriver
from wharf.storage.s3 import S3Driver

# Every package's migrations, in the order they apply.
SCHEMAS: tuple[Schema, ...] = (registry_schema.SCHEMA, auth_migrations.SCHEMA)

Database = SQLiteDatabase  # the PostgreSQL one joins this as a union


def sqlite_database(path: str | Path) -> SQLiteDatabase:
    """A database on a SQLite file carrying every package's schema."""
    return SQLiteDatabase(path, schemas=SCHEMAS)


def make_database(settings: Settings) -> Database:
    """The process's database (not open yet: ``await db.open()``, or open a store on it)."""
    url = settings.database_url
    if url.startswith("sqlite:///"):
        return sqlite_database(url[len("sqlite:///") :])
    raise ConfigError(f"database.url: unsupported database {url.split(':', 1)[0]!r}")


def make_store(settings: Settings, database: Database) -> MetadataStore:
    """The metadata store; with access control on, repositories only go into projects."""
    return SQLiteStore(database, require_projects=settings.auth.enabled)


def make_auth_store(settings: Settings, database: Database) -> AuthStore:
    return SQLiteAuthStore(database)


def make_driver(settings: Settings) -> Driver:
    storage = settings.storage
    if storage.driver == "filesystem":
        return FilesystemDriver(settings.storage_root, nfs_safe=storage.filesystem.nfs_safe)
    if storage.driver == "s3":
        s3 = storage.s3
        if s3 is None:
            raise ConfigError("storage.s3: required when storage.driver is s3")
        return S3Driver(
            s3.bucket,
            endpoint=s3.endpoint,
            region=s3.region,
            prefix=s3.prefix,
            access_key=s3.access_key,
            secret_key=s3.secret_key,
            path_style=s3.path_style,
            redirect=s3.redirect,
            redirect_expiry=s3.redirect_expiry,
            part_size=s3.part_size,
            concurrency=s3.concurrency,
        )
    raise ConfigError(f"storage.driver: {storage.driver!r} is not available yet")
