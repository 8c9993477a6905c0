"""Typed keys for what the application and requests carry."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from wharf.auth.service import AuthService
from wharf.registry.config import Settings
from wharf.registry.content.service import ContentService
from wharf.registry.http.metrics import Metrics, SharedMetrics
from wharf.registry.metadata.base import MetadataStore
from wharf.registry.wiring import Database
from wharf.storage.base import Driver

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)  # the process's, shared by every store
STORE = web.AppKey("store", MetadataStore)
DRIVER = web.AppKey("driver", Driver)
CONTENT = web.AppKey("content", ContentService)
METRICS = web.AppKey("metrics", Metrics)
SHARED_METRICS = web.AppKey("shared_metrics", SharedMetrics)
AUTH = web.AppKey("auth", AuthService)
STOPPING = web.AppKey("stopping", bool)

# Request-scoped: the auth layer sets a predicate telling which repositories the caller may
# read (for automatic mounts and listings); absent means everything is readable.
READABLE = "wharf.readable"
ReadablePredicate = Callable[[str], bool]
