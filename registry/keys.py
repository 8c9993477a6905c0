"""Typed keys for what the application and requests carry."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from wharf.auth.service import AuthService
from wharf.storage.base import Driver

from .config import Settings
from .content import ContentService
from .metadata.base import MetadataStore
from .metrics import Metrics, SharedMetrics

SETTINGS = web.AppKey("settings", Settings)
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
