"""Build the database, the stores on it, the auth service and the storage driver the
configuration asks for.

One database object per process: ``make_database`` once, then hand it to
``make_store`` and ``make_auth_store``; each store's open/close counts as one user of it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from wharf.auth import migrations as auth_migrations
from wharf.auth.options import AuthOptions
from wharf.auth.service import AuthService
from wharf.auth.sqlite_store import SQLiteAuthStore
from wharf.auth.store import AuthStore
from wharf.auth.tokens import TokenService
from wharf.coord import coordination
from wharf.coord.coordination import Coordination
from wharf.coord.ratelimit import LoginLimits
from wharf.db.migrate import Schema
from wharf.db.portable import SQLitePortable
from wharf.db.sqlite import SQLiteDatabase
from wharf.jobs import migrations as jobs_migrations
from wharf.jobs.sqlite import SQLiteJobStore
from wharf.jobs.store import JobStore
from wharf.registry.config import ConfigError, Settings
from wharf.registry.metadata import schema as registry_schema
from wharf.registry.metadata.base import MetadataStore
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.policy import migrations as policy_migrations
from wharf.registry.policy.store import PolicyStore
from wharf.replication import migrations as replication_migrations
from wharf.replication.sqlite import SQLiteReplicationStore
from wharf.replication.store import ReplicationStore
from wharf.storage.base import Driver
from wharf.storage.filesystem import FilesystemDriver
from wharf.webhook import migrations as webhook_migrations
from wharf.webhook.sqlite import SQLiteWebhookStore
from wharf.webhook.store import WebhookStore

# PostgreSQL (asyncpg) and S3 (boto3) modules load only when the configuration asks for
# them: boto3 alone is ~12 MiB in every worker of a registry on local disk
if TYPE_CHECKING:
    from wharf.db.postgres import PostgresDatabase

# Every package's migrations, in the order they apply.
SCHEMAS: tuple[Schema, ...] = (
    registry_schema.SCHEMA,
    auth_migrations.SCHEMA,
    jobs_migrations.SCHEMA,
    replication_migrations.SCHEMA,
    policy_migrations.SCHEMA,
    webhook_migrations.SCHEMA,
)

Database: TypeAlias = "SQLiteDatabase | PostgresDatabase"


def sqlite_database(path: str | Path) -> SQLiteDatabase:
    """A database on a SQLite file carrying every package's schema."""
    return SQLiteDatabase(path, schemas=SCHEMAS)


def postgres_database(
    url: str,
    *,
    pool_min: int = 1,
    pool_max: int = 10,
    acquire_timeout: float = 5.0,
    command_timeout: float = 10.0,
) -> PostgresDatabase:
    """A database on PostgreSQL carrying every package's schema."""
    from wharf.db.postgres import PostgresDatabase

    return PostgresDatabase(
        url,
        schemas=SCHEMAS,
        pool_min=pool_min,
        pool_max=pool_max,
        acquire_timeout=acquire_timeout,
        command_timeout=command_timeout,
    )


def make_database(settings: Settings) -> Database:
    """The process's database, chosen by the URL's scheme (not open yet: ``await
    db.open()``, or open a store on it). Build it in the worker: a pool doesn't survive
    a fork."""
    url = settings.database_url
    if url.startswith("sqlite:///"):
        return sqlite_database(url[len("sqlite:///") :])
    if url.startswith(("postgresql://", "postgres://")):
        db = settings.database
        return postgres_database(
            url,
            pool_min=db.pool_min,
            pool_max=db.pool_max,
            acquire_timeout=db.acquire_timeout,
            command_timeout=db.command_timeout,
        )
    raise ConfigError(f"database.url: unsupported database {url.split(':', 1)[0]!r}")


def make_store(settings: Settings, database: Database) -> MetadataStore:
    """The metadata store; with access control on, repositories only go into projects."""
    if not isinstance(database, SQLiteDatabase):
        from wharf.registry.metadata.postgres import PostgresStore

        return PostgresStore(database, require_projects=settings.auth.enabled)
    return SQLiteStore(database, require_projects=settings.auth.enabled)


def make_auth_store(settings: Settings, database: Database) -> AuthStore:
    if not isinstance(database, SQLiteDatabase):
        from wharf.auth.postgres_store import PostgresAuthStore

        return PostgresAuthStore(database)
    return SQLiteAuthStore(database)


def make_job_store(database: Database) -> JobStore:
    """The job queue on the process's database."""
    if not isinstance(database, SQLiteDatabase):
        from wharf.jobs.postgres import PostgresJobStore

        return PostgresJobStore(database)
    return SQLiteJobStore(database)


def make_replication_store(database: Database) -> ReplicationStore:
    """Replication's tables (remote registries) on the process's database."""
    if not isinstance(database, SQLiteDatabase):
        from wharf.replication.postgres import PostgresReplicationStore

        return PostgresReplicationStore(database)
    return SQLiteReplicationStore(database)


def make_policy_store(database: Database) -> PolicyStore:
    """The policy tables (immutable tag rules, tag retention) on the process's database."""
    if not isinstance(database, SQLiteDatabase):
        from wharf.db.portable_postgres import PostgresPortable

        return PolicyStore(PostgresPortable(database))
    return PolicyStore(SQLitePortable(database))


def make_webhook_store(database: Database) -> WebhookStore:
    """The webhook policies' table on the process's database."""
    if not isinstance(database, SQLiteDatabase):
        from wharf.webhook.postgres import PostgresWebhookStore

        return PostgresWebhookStore(database)
    return SQLiteWebhookStore(database)


def make_driver(settings: Settings) -> Driver:
    storage = settings.storage
    if storage.driver == "filesystem":
        return FilesystemDriver(settings.storage_root, nfs_safe=storage.filesystem.nfs_safe)
    if storage.driver == "s3":
        s3 = storage.s3
        if s3 is None:
            raise ConfigError("storage.s3: required when storage.driver is s3")
        from wharf.storage.s3 import S3Driver

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


def make_coordination(settings: Settings) -> Coordination:
    """Cache invalidation, leader locks and login limits: in-process (files under
    ``<data_dir>/run``) unless ``redis.url`` is set. Call ``await start()`` in the loop."""
    limits = LoginLimits(
        settings.auth.login_failure_limit,
        settings.auth.login_failure_window,
        settings.auth.login_failure_limit_per_address,
    )
    cfg = settings.redis
    if cfg.url is None:
        return coordination.in_process(settings.data_dir / "run", limits)
    return coordination.redis(
        cfg.url,
        limits=limits,
        window=cfg.invalidation_window,
        leader_ttl=cfg.leader_ttl,
        timeout=cfg.timeout,
    )


def make_auth(settings: Settings, database: Database) -> AuthService:
    """The auth service on the process's database (the one the metadata store uses)."""
    store = make_auth_store(settings, database)
    cfg = settings.auth
    tokens = TokenService(
        store,
        issuer=cfg.issuer,
        service=cfg.service,
        lifetime=cfg.token_lifetime,
        refresh_lifetime=cfg.refresh_token_lifetime,
        algorithm=cfg.algorithm,
        trusted_keys=cfg.trusted_keys,
        accepted_issuers=cfg.accepted_issuers,
    )
    options = AuthOptions(
        auto_create_projects=cfg.auto_create_projects,
        admin_password=cfg.admin_password,
        public_projects=tuple(cfg.public_projects),
        revalidate_tokens=cfg.revalidate_tokens,
        project_creation=cfg.project_creation,
        audit_retention_days=cfg.audit_retention_days,
    )
    return AuthService(
        store,
        tokens,
        options,
        sign_in=cfg,
        fixed_settings=frozenset(cfg.model_fields_set),
        secret_key=cfg.secret_key,
    )


async def bootstrap_auth(settings: Settings, database: Database) -> None:
    """First-start set-up (admin, `library`, signing key); run once before workers fork."""
    if not settings.auth.enabled:
        return
    auth = make_auth(settings, database)
    await auth.store.open()
    try:
        message = await auth.bootstrap(settings.data_dir)
    finally:
        await auth.store.close()
    if message:
        print(f"Wharf: {message}", file=sys.stderr, flush=True)
    print(
        f"Wharf: access control is on; log in with e.g. `docker login {settings.listen} -u admin`",
        file=sys.stderr,
        flush=True,
    )
