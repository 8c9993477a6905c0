"""Typed keys for what the application and requests carry."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from wharf.auth.audit_purge import AuditPurgeService
from wharf.auth.service import AuthService
from wharf.coord.coordination import Coordination
from wharf.gc.service import GCService
from wharf.jobs.runner import JobRunner
from wharf.proxy.service import ProxyCache
from wharf.registry.config import Settings
from wharf.registry.content.service import ContentService
from wharf.registry.http.metrics import Metrics, SharedMetrics
from wharf.registry.metadata.base import MetadataStore
from wharf.registry.policy.immutable import ImmutableRules
from wharf.registry.policy.retention import RetentionService
from wharf.registry.policy.store import PolicyStore
from wharf.registry.wiring import Database
from wharf.replication.registries import RegistryService
from wharf.replication.service import ReplicationService
from wharf.storage.base import Driver
from wharf.webhook.service import WebhookService

SETTINGS = web.AppKey("settings", Settings)
DATABASE: web.AppKey[Database] = web.AppKey("database")  # the process's, shared by every store
STORE = web.AppKey("store", MetadataStore)
DRIVER = web.AppKey("driver", Driver)
CONTENT = web.AppKey("content", ContentService)
METRICS = web.AppKey("metrics", Metrics)
SHARED_METRICS = web.AppKey("shared_metrics", SharedMetrics)
AUTH = web.AppKey("auth", AuthService)
GC = web.AppKey("gc", GCService)  # with access control on (the Harbor API)
REGISTRIES = web.AppKey("registries", RegistryService)  # idem
REPLICATION = web.AppKey("replication", ReplicationService)  # idem
PROXY = web.AppKey("proxy", ProxyCache)  # idem: proxy-cache projects
POLICIES = web.AppKey("policies", PolicyStore)  # idem: immutable rules, retention
IMMUTABLE = web.AppKey("immutable", ImmutableRules)  # idem
RETENTION = web.AppKey("retention", RetentionService)  # idem
WEBHOOKS = web.AppKey("webhooks", WebhookService)  # idem
AUDIT_PURGE = web.AppKey("audit_purge", AuditPurgeService)  # idem: Harbor's purgeaudit
STOPPING = web.AppKey("stopping", bool)
COORDINATION = web.AppKey("coordination", Coordination)
# The process's job runner: services register the kinds they run before it starts.
JOBS = web.AppKey("jobs", JobRunner)

ReadablePredicate = Callable[[str], bool]
# Request-scoped: which repositories the caller may read (automatic mounts, listings);
# absent means everything is readable (access control off).
READABLE: web.RequestKey[ReadablePredicate] = web.RequestKey("readable")
# The metrics label of the endpoint a request reached (set by the surface that served it).
ENDPOINT = web.RequestKey("endpoint", str)
