"""Build the metadata store and storage driver the configuration asks for."""

from __future__ import annotations

from wharf.storage.base import Driver
from wharf.storage.filesystem import FilesystemDriver

from .config import ConfigError, Settings
from .metadata.base import MetadataStore
from .metadata.sqlite import SQLiteStore


def make_store(settings: Settings) -> MetadataStore:
    url = settings.database_url
    if url.startswith("sqlite:///"):
        return SQLiteStore(url[len("sqlite:///") :])
    raise ConfigError(f"database.url: unsupported database {url.split(':', 1)[0]!r}")


def make_driver(settings: Settings) -> Driver:
    storage = settings.storage
    if storage.driver == "filesystem":
        return FilesystemDriver(settings.storage_root, nfs_safe=storage.filesystem.nfs_safe)
    raise ConfigError(f"storage.driver: {storage.driver!r} is not available yet")
