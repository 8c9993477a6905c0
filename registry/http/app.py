"""Where the application is assembled: the stores, driver, content core and auth service
on the root app, and one sub-application per API surface, each with its own error format:
/v2 (OCI errors), /service (token errors), /api/v2.0 (Harbor errors)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from wharf.auth import audit_purge
from wharf.auth.audit import AUDIT_FLUSH_SECONDS
from wharf.auth.service import AuthService
from wharf.coord.jobs import run_on_leader
from wharf.gc.service import GCService, ScheduleTicker
from wharf.jobs.runner import JobRunner, RunnerOptions
from wharf.proxy.directory import ProxyDirectory
from wharf.proxy.service import ProxyCache
from wharf.registry.audit import AuditSubscriber
from wharf.registry.config import Settings
from wharf.registry.content.pulls import PULL_FLUSH_SECONDS, PullRecorder
from wharf.registry.content.service import ContentService
from wharf.registry.events import SYSTEM, EventBus
from wharf.registry.http.harbor.app import create_harbor_app
from wharf.registry.http.keys import (
    AUDIT_PURGE,
    AUTH,
    CONTENT,
    COORDINATION,
    DATABASE,
    DRIVER,
    ENDPOINT,
    GC,
    IMMUTABLE,
    JOBS,
    METRICS,
    POLICIES,
    PROXY,
    REGISTRIES,
    REPLICATION,
    RETENTION,
    SETTINGS,
    SHARED_METRICS,
    STOPPING,
    STORE,
    WEBHOOKS,
)
from wharf.registry.http.metrics import Metrics, SharedMetrics
from wharf.registry.http.oidc import create_login_app
from wharf.registry.http.token import create_token_app
from wharf.registry.http.transport.directread import CLOSE_AFTER
from wharf.registry.http.ui import add_ui_routes
from wharf.registry.http.v2.access import access_middleware
from wharf.registry.http.v2.app import create_v2_app
from wharf.registry.metadata.base import MetadataStore
from wharf.registry.policy import retention as tag_retention
from wharf.registry.policy.gate import (
    DeletesDisabled,
    PolicyGate,
    ProxyCacheProjects,
    ReadOnly,
    Rule,
)
from wharf.registry.policy.immutable import ImmutableRules, ImmutableTags
from wharf.registry.policy.quota import QuotaLimits, StorageQuota
from wharf.registry.wiring import (
    make_auth,
    make_coordination,
    make_database,
    make_driver,
    make_job_store,
    make_policy_store,
    make_replication_store,
    make_store,
    make_webhook_store,
)
from wharf.replication.registries import RegistryService
from wharf.replication.service import ReplicationService, ReplicationTicker
from wharf.storage.base import Driver
from wharf.webhook.service import WebhookOptions, WebhookService

log = logging.getLogger("wharf.app")

METRICS_PUBLISH_SECONDS = 1.0
AUDIT_PURGE_SECONDS = 3600.0
JOBS_PURGE_SECONDS = 3600.0
REGISTRY_HEALTH_SECONDS = 300.0  # the leader pings every remote registry this often
GC_SCHEDULE_TICK = 1.0  # how often the leader checks whether the GC schedule fired
REPLICATION_TICK = 1.0  # replication schedules and the end of executions, on the leader
RETENTION_SCHEDULE_TICK = 1.0  # and whether a retention policy's cron fired
AUDIT_PURGE_TICK = 1.0  # and whether the audit-log purge schedule fired


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count and time every request; close connections while stopping (and after a body
    read straight off the socket)."""
    metrics = request.app[METRICS]
    started = time.perf_counter()
    metrics.in_flight += 1
    status = 500
    try:
        response = await handler(request)
        status = response.status
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics.in_flight -= 1
        metrics.observe(
            request.get(ENDPOINT, "other"), request.method, status, time.perf_counter() - started
        )
    if request.app[STOPPING] or request.get(CLOSE_AFTER):
        response.force_close()
    return response


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[STORE].ping()
    except Exception as exc:
        return web.json_response({"status": "unavailable", "error": str(exc)}, status=503)
    return web.json_response({"status": "ok"})


READY_TIMEOUT = 3.0  # seconds each readiness check may take


async def _check(name: str, probe: Awaitable[object]) -> tuple[str, str | None]:
    """``(name, None)`` when ``probe`` finished within READY_TIMEOUT, else the failure."""
    try:
        await asyncio.wait_for(probe, READY_TIMEOUT)
    except TimeoutError:
        return name, f"no answer within {READY_TIMEOUT:g}s"
    except Exception as exc:
        return name, f"{type(exc).__name__}: {exc}"
    return name, None


async def readyz(request: web.Request) -> web.Response:
    """For load balancers: 200 when this replica can serve (its database, Redis when
    configured and blob storage all answer, concurrently, each within READY_TIMEOUT), else
    503 naming what failed. ``/healthz`` only says the process is alive."""
    app = request.app
    if app[STOPPING]:
        return web.json_response({"status": "stopping", "failed": {}}, status=503)
    probes = [_check("database", app[STORE].ping()), _check("storage", app[DRIVER].ping())]
    if app[SETTINGS].redis.url is not None:
        probes.append(_check("redis", app[COORDINATION].ping()))
    results = await asyncio.gather(*probes)
    failed = {name: error for name, error in results if error is not None}
    checks = {name: "ok" if error is None else "failed" for name, error in results}
    if failed:
        return web.json_response(
            {"status": "unavailable", "checks": checks, "failed": failed}, status=503
        )
    return web.json_response({"status": "ok", "checks": checks})


async def metrics_endpoint(request: web.Request) -> web.Response:
    combined = request.app[SHARED_METRICS].combined(request.app[METRICS])
    replica = request.app[SETTINGS].replica
    return web.Response(text=combined.render(replica=replica), content_type="text/plain")


async def not_found(request: web.Request) -> web.Response:
    return web.json_response(
        {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]}, status=404
    )


async def _publish_metrics(app: web.Application) -> None:
    while True:
        await asyncio.sleep(METRICS_PUBLISH_SECONDS)
        app[SHARED_METRICS].publish(app[METRICS])


def policy_rules(settings: Settings, quota: Rule | None = None) -> list[Rule]:
    rules: list[Rule] = []
    if settings.read_only:
        rules.append(ReadOnly())
    if not settings.delete_enabled:
        rules.append(DeletesDisabled())
    if quota is not None:
        rules.append(quota)  # last: it reserves, so it runs only once the others allowed
    return rules


def create_app(
    settings: Settings, store: MetadataStore | None = None, driver: Driver | None = None
) -> web.Application:
    app = web.Application(middlewares=[observe_middleware], client_max_size=1024**2 * 8)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    # per replica: replicas sharing a data directory must not sum each other's workers
    app[SHARED_METRICS] = SharedMetrics(settings.data_dir / "run" / "metrics" / settings.replica)
    app[STOPPING] = False

    async def core(app: web.Application) -> AsyncIterator[None]:
        database = make_database(settings)
        # `wharf serve` refused a newer schema at start; a worker restarted after a newer
        # release migrated (additive) goes on serving like its siblings
        await database.open(allow_newer=True)
        the_store = store or make_store(settings, database)
        the_driver = driver or make_driver(settings)
        await the_store.open()
        await the_driver.start()
        coordination = make_coordination(settings)
        await coordination.start()
        app[COORDINATION] = coordination
        app[DATABASE] = database
        app[STORE] = the_store
        app[DRIVER] = the_driver
        events = EventBus()
        limits = QuotaLimits(the_store, coordination.generations)
        content = ContentService(
            the_store,
            the_driver,
            gate=PolicyGate(policy_rules(settings, StorageQuota(the_store, limits, events))),
            events=events,
            generations=coordination.generations,
            manifest_max_size=settings.manifest_max_size,
            quota_limits=limits,
        )
        app[CONTENT] = content
        # the durable job queue; the services below add the kinds they run, then the
        # last lifecycle starts the runner
        job_store = make_job_store(database)
        await job_store.open()
        cfg = settings.jobs
        app[JOBS] = JobRunner(
            job_store,
            {},
            RunnerOptions(
                concurrency=cfg.concurrency,
                lease=cfg.lease,
                poll_interval=cfg.poll_interval,
                shutdown_grace=cfg.shutdown_grace,
            ),
        )
        shared = app[SHARED_METRICS]
        shared.publish(app[METRICS])
        publisher = asyncio.create_task(_publish_metrics(app))
        yield
        publisher.cancel()
        await asyncio.gather(publisher, return_exceptions=True)
        shared.withdraw()
        content.close()
        await job_store.close()
        await coordination.close()
        await the_driver.close()
        await the_store.close()
        await database.close()

    app.cleanup_ctx.append(core)
    if settings.auth.enabled:
        app.cleanup_ctx.append(_access_control(settings))
        app.add_subapp("/v2", create_v2_app(access=access_middleware))
        app.add_subapp("/service", create_token_app())
        app.add_subapp("/api/v2.0", create_harbor_app())
        app.add_subapp("/c", create_login_app())
    else:
        app.add_subapp("/v2", create_v2_app())
    app.cleanup_ctx.append(_job_runner(settings))  # last: every job kind is known by then
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
    add_ui_routes(app)  # GET/HEAD of every other path: the web UI (page URLs, assets)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


def _access_control(
    settings: Settings,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        auth = make_auth(settings, app[DATABASE])
        await auth.store.open()
        await auth.bootstrap(settings.data_dir)  # idempotent; `wharf serve` did it already
        await auth.tokens.load()
        await auth.start()
        app[AUTH] = auth
        content = app[CONTENT]
        content.events.subscribe(AuditSubscriber(auth))
        # pull times and counts for Harbor's API, written in batches off the hot path
        pulls = PullRecorder(content.store)
        content.events.subscribe(pulls)
        content.events.subscribe(content.labels.on_event)
        gc = GCService(content.store, content.driver, content.generations, content.events)
        app[GC] = gc
        # project policies: immutable tags join the gate every change of content asks
        policies = make_policy_store(app[DATABASE])
        await policies.open()
        app[POLICIES] = policies
        immutable = ImmutableRules(policies, content.generations)
        app[IMMUTABLE] = immutable
        content.gate.rules.append(ImmutableTags(immutable, content.store))
        content.events.subscribe(immutable.on_event)
        replication_store = make_replication_store(app[DATABASE])
        await replication_store.open()
        if auth.sealer is not None:  # registries' secrets: sealed, older plain ones too
            replication_store.use_sealer(auth.sealer)
            await replication_store.seal_stored_secrets()
        registries = RegistryService(replication_store, content.events)
        app[REGISTRIES] = registries
        runner = app[JOBS]
        replication = ReplicationService(
            replication_store,
            registries,
            content,
            runner.store,
            runner.enqueue,
            content.events,
            generations=content.generations,
        )
        runner.handlers.update(replication.handlers)
        content.events.subscribe(replication.on_event)  # event-based triggers
        app[REPLICATION] = replication
        proxy = _proxy_cache(settings, app, auth, registries)
        await proxy.start()
        app[PROXY] = proxy
        retention = tag_retention.RetentionService(
            policies, content, immutable, runner.store, runner.enqueue, content.events
        )
        runner.handlers.update(retention.handlers)
        app[RETENTION] = retention
        sealer = auth.configuration.sealer
        assert sealer is not None, "the auth service seals once started"
        webhook_store = make_webhook_store(app[DATABASE])
        await webhook_store.open()
        webhooks = WebhookService(
            webhook_store,
            auth.store,
            runner.store,
            runner.enqueue,
            sealer,
            webhook_options(settings),
        )
        runner.handlers.update(webhooks.handlers)
        purge = audit_purge.AuditPurgeService(auth.store, runner.store, runner.enqueue)
        runner.handlers.update(purge.handlers)
        app[AUDIT_PURGE] = purge
        content.events.subscribe(webhooks.on_event)
        await webhooks.start()
        app[WEBHOOKS] = webhooks
        health = asyncio.create_task(
            run_on_leader(
                app[COORDINATION].leader_lock("registry-health"),
                REGISTRY_HEALTH_SECONDS,
                lambda: _check_registries(registries),
            )
        )
        flusher = asyncio.create_task(_flush_audit_periodically(auth))
        pull_flusher = asyncio.create_task(_flush_pulls_periodically(pulls))
        purger = asyncio.create_task(
            run_on_leader(
                app[COORDINATION].leader_lock("audit-purge"),
                AUDIT_PURGE_SECONDS,
                lambda: _purge_audit(auth),
            )
        )
        # the stored GC schedule runs on one process of one replica: the leader
        scheduler = asyncio.create_task(
            run_on_leader(
                app[COORDINATION].leader_lock("gc-schedule"),
                GC_SCHEDULE_TICK,
                ScheduleTicker(gc).tick,
            )
        )
        # scheduled replications start, and ended executions are recorded, on the leader
        replication_ticker = asyncio.create_task(
            run_on_leader(
                app[COORDINATION].leader_lock("replication-schedule"),
                REPLICATION_TICK,
                ReplicationTicker(replication).tick,
            )
        )
        # retention policies' crons, likewise on the leader only
        retention_scheduler = asyncio.create_task(
            run_on_leader(
                app[COORDINATION].leader_lock("retention-schedule"),
                RETENTION_SCHEDULE_TICK,
                tag_retention.ScheduleTicker(retention).tick,
            )
        )
        # the audit-log purge schedule (Harbor's /system/purgeaudit), likewise
        purge_scheduler = asyncio.create_task(
            run_on_leader(
                app[COORDINATION].leader_lock("audit-purge-schedule"),
                AUDIT_PURGE_TICK,
                audit_purge.ScheduleTicker(purge).tick,
            )
        )
        yield
        replication_ticker.cancel()
        scheduler.cancel()
        retention_scheduler.cancel()
        purge_scheduler.cancel()
        health.cancel()
        await asyncio.gather(
            scheduler,
            retention_scheduler,
            purge_scheduler,
            health,
            replication_ticker,
            return_exceptions=True,
        )
        await proxy.close()
        await gc.close()
        await webhooks.close()
        await webhook_store.close()
        await replication_store.close()
        await policies.close()
        flusher.cancel()
        purger.cancel()
        pull_flusher.cancel()
        await asyncio.gather(flusher, purger, pull_flusher, return_exceptions=True)
        await auth.flush_audit()
        await auth.close()
        await pulls.flush()
        await auth.store.close()

    return lifecycle


def _proxy_cache(
    settings: Settings, app: web.Application, auth: AuthService, registries: RegistryService
) -> ProxyCache:
    """Proxy-cache projects: the directory of them, the gate rule refusing pushes into
    them, the registries they name kept from deletion, and the cache itself."""
    content = app[CONTENT]
    directory = ProxyDirectory(content.generations, auth.projects.proxy_projects)
    content.gate.rules.append(ProxyCacheProjects(directory.is_proxy, SYSTEM))

    async def proxy_reference(registry_id: int) -> str | None:
        using = sorted(
            n for n, r in (await auth.projects.proxy_projects()).items() if r == registry_id
        )
        return f"proxy cache project {', '.join(using)}" if using else None

    registries.references.append(proxy_reference)
    coordination = app[COORDINATION]
    return ProxyCache(
        content,
        directory,
        registries.get,
        coordination.lease,
        settings.proxy,
        settings.data_dir / "run" / "proxy-spool",
    )


def webhook_options(settings: Settings) -> WebhookOptions:
    cfg = settings.webhooks
    host = urlsplit(settings.external_url).netloc if settings.external_url else settings.listen
    return WebhookOptions(
        timeout=cfg.timeout,
        max_attempts=cfg.max_attempts,
        backoff=cfg.backoff,
        max_backoff=cfg.max_backoff,
        policy_refresh=cfg.policy_refresh,
        pull_flush_interval=cfg.pull_flush_interval,
        host=host,
    )


def _job_runner(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    """Every worker process of every replica runs jobs of the durable queue: the kinds
    the services registered; finished jobs past the retention are purged by the leader."""

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        cfg = settings.jobs
        runner = app[JOBS]
        await runner.start()
        purger = asyncio.create_task(
            run_on_leader(
                app[COORDINATION].leader_lock("jobs-purge"),
                JOBS_PURGE_SECONDS,
                lambda: _purge_jobs(runner, cfg.retention_days),
            )
        )
        yield
        purger.cancel()
        await asyncio.gather(purger, return_exceptions=True)
        await runner.close()

    return lifecycle


async def _purge_jobs(runner: JobRunner, retention_days: int) -> None:
    """Hourly on the leader: finished jobs (and their logs) older than the retention."""
    if retention_days <= 0:
        return
    try:
        purged = await runner.store.purge(time.time() - retention_days * 86400.0)
    except Exception:
        log.exception("cannot purge old jobs")
    else:
        if purged:
            log.info("purged old jobs", extra={"count": purged})


async def _check_registries(registries: RegistryService) -> None:
    """On the leader: record whether each remote registry answers (its ``status``)."""
    try:
        await registries.check_all()
    except Exception:
        log.exception("cannot check the remote registries")


async def _flush_audit_periodically(auth: AuthService) -> None:
    while True:
        await asyncio.sleep(AUDIT_FLUSH_SECONDS)
        await auth.flush_audit()


async def _flush_pulls_periodically(pulls: PullRecorder) -> None:
    while True:
        await asyncio.sleep(PULL_FLUSH_SECONDS)
        await pulls.flush()


async def _purge_audit(auth: AuthService) -> None:
    """Hourly, on the leader only (one process of one replica); the DELETE is idempotent,
    so a run overlapping a new leader's first one is harmless."""
    try:
        purged = await auth.purge_audit(time.time())
    except Exception:
        log.exception("cannot purge old audit events")
    else:
        if purged:
            log.info("purged old audit events", extra={"count": purged})
