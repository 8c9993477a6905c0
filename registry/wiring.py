"""Build the metadata store, storage driver and auth service the configuration asks for."""

from __future__ import annotations

import sys

from wharf.auth.options import AuthOptions
from wharf.auth.service import AuthService
from wharf.auth.sqlite_store import SQLiteAuthStore
from wharf.auth.tokens import TokenService
from wharf.registry.config import ConfigError, Settings
from wharf.registry.metadata.base import MetadataStore
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.storage.base import Driver
from wharf.storage.filesystem import FilesystemDriver
from wharf.storage.s3 import S3Driver


def make_store(settings: Settings) -> MetadataStore:
    url = settings.database_url
    if url.startswith("sqlite:///"):
        return SQLiteStore(url[len("sqlite:///") :])
    raise ConfigError(f"database.url: unsupported database {url.split(':', 1)[0]!r}")


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


def make_auth(settings: Settings) -> AuthService:
    """The auth service on the configured database (SQLite: the metadata file)."""
    url = settings.database_url
    if not url.startswith("sqlite:///"):
        raise ConfigError("auth: only the SQLite database is supported yet")
    store = SQLiteAuthStore(url[len("sqlite:///") :])
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
    return AuthService(store, tokens, options)


async def bootstrap(settings: Settings) -> None:
    """First-start set-up (admin, `library`, signing key); run once before workers fork,
    after the metadata store has migrated the schema."""
    if not settings.auth.enabled:
        return
    auth = make_auth(settings)
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


async def bootstrap_auth(settings: Settings) -> None:
    """First-start set-up (admin, `library`, signing key); run once before workers fork,
    after the metadata store has migrated the schema."""
    if not settings.auth.enabled:
        return
    auth = make_auth(settings)
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
