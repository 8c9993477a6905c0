"""Build the metadata store and storage driver the configuration asks for."""

from __future__ import annotations

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
