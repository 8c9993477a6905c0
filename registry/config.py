"""Configuration: one YAML file, every key overridable by a ``WHARF_*`` variable.

Nested keys join with a double underscore: ``storage.s3.bucket`` is
``WHARF_STORAGE__S3__BUCKET``. Values from the environment are parsed as YAML
scalars, so ``true``, ``8`` and ``16MiB`` mean what they look like.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from wharf.auth.settings import ExternalAuthSettings

ENV_PREFIX = "WHARF_"
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}


class ConfigError(ValueError):
    """A configuration problem, with the offending key in the message."""


def parse_size(value: Any) -> int:
    """``16MiB`` → 16777216; plain integers pass through."""
    if isinstance(value, bool):
        raise ValueError("a size must be a number of bytes or like 16MiB")
    if isinstance(value, int):
        return value
    match = _SIZE_RE.match(str(value))
    if match is None:
        raise ValueError(f"not a size: {value!r} (use bytes or e.g. 16MiB, 1GB)")
    number, unit = match.groups()
    unit = (unit or "").upper()
    if unit.endswith("IB"):
        factor = 1024 ** "KMGT".index(unit[0]) * 1024
    elif unit in ("I",):
        raise ValueError(f"not a size: {value!r}")
    else:
        factor = _UNITS[unit.rstrip("B") if unit != "B" else "B"]
    return int(float(number) * factor)


Size = Annotated[int, BeforeValidator(parse_size), Field(ge=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class TLSConfig(Strict):
    certificate: Path
    key: Path


class FilesystemConfig(Strict):
    root: Path | None = None  # default: <data_dir>/storage
    nfs_safe: bool = False


class S3Config(Strict):
    endpoint: str | None = None  # None: AWS
    region: str = "us-east-1"
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = ""
    access_key: str | None = None  # None: the standard AWS credential chain
    secret_key: str | None = None
    path_style: bool = True
    redirect: bool = False  # blob GETs answer 307 to a presigned URL
    redirect_expiry: int = Field(1200, ge=60, le=7 * 24 * 3600)  # seconds
    # S3 allows 10000 parts of 5MiB..5GiB; 16MiB parts cover uploads up to 156GiB
    part_size: Size = Field(16 * 1024 * 1024, ge=5 * 1024 * 1024, le=5 * 1024**3)
    concurrency: int = Field(8, ge=1, le=256)

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        value = value.strip("/")
        if value and any(part in ("", ".", "..") for part in value.split("/")):
            raise ValueError("must be a relative path without empty, '.' or '..' segments")
        return value

    @model_validator(mode="after")
    def _check_credentials(self) -> S3Config:
        if (self.access_key is None) != (self.secret_key is None):
            raise ValueError("set both access_key and secret_key, or neither (AWS chain)")
        return self


class StorageConfig(Strict):
    driver: Literal["filesystem", "s3"] = "filesystem"
    filesystem: FilesystemConfig = FilesystemConfig()
    s3: S3Config | None = None

    @model_validator(mode="after")
    def _check_driver_section(self) -> StorageConfig:
        if self.driver == "s3" and self.s3 is None:
            raise ValueError(
                "storage.driver is s3 but the storage.s3 section is missing "
                "(at least storage.s3.bucket, or WHARF_STORAGE__S3__BUCKET)"
            )
        return self


class DatabaseConfig(Strict):
    # default: sqlite under data_dir; postgresql://user:password@host:port/db for HA
    url: str | None = None
    # PostgreSQL only: connections each worker process keeps open / may open at most
    pool_min: int = Field(default=1, ge=0, le=1000)
    pool_max: int = Field(default=10, ge=1, le=1000)
    # PostgreSQL only: seconds a request waits for a pooled connection, and for one
    # statement, before it answers 503 (database unavailable) instead of hanging
    acquire_timeout: float = Field(default=5.0, gt=0, le=600)
    command_timeout: float = Field(default=10.0, gt=0, le=3600)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("must be sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE")
        if scheme == "sqlite" and not value.startswith("sqlite:///"):
            raise ValueError("a SQLite URL is sqlite:///PATH (three slashes, then the path)")
        return value

    @model_validator(mode="after")
    def _check_pool(self) -> DatabaseConfig:
        if self.pool_min > self.pool_max:
            raise ValueError(f"pool_min ({self.pool_min}) exceeds pool_max ({self.pool_max})")
        return self


class RedisConfig(Strict):
    """Coordination between replicas; ``url: null`` keeps it in-process (one host)."""

    url: str | None = None  # redis://[:password@]host:port/db, rediss://…, unix:///path
    # Writes wait this long before answering, and a replica's cache of manifest lookups is
    # used only while its subscription has confirmed delivery within this (seconds).
    invalidation_window: float = Field(default=0.25, gt=0, le=10)
    leader_ttl: float = Field(default=30.0, ge=3, le=3600)  # leader lock lease, seconds
    timeout: float = Field(default=1.0, gt=0, le=60)  # connect and command timeout, seconds

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(rediss?://[^/?#]+(/\d*)?|unix:///\S+)$", value):
            raise ValueError("must be redis://host:port[/db], rediss://… or unix:///path")
        return value


class JobsConfig(Strict):
    """The durable job queue (replication tasks, ...): every worker process of every
    replica runs jobs from it."""

    concurrency: int = Field(default=4, ge=1, le=256)  # jobs at once, per worker process
    lease: float = Field(default=30.0, ge=3, le=3600)  # seconds a job is held unrenewed
    poll_interval: float = Field(default=1.0, gt=0, le=60)  # idle look for ready jobs
    shutdown_grace: float = Field(default=10.0, ge=0, le=600)  # running jobs may end
    retention_days: int = Field(default=30, ge=0)  # finished jobs kept; 0 keeps them all


class ProxyConfig(Strict):
    """Proxy-cache projects (a project created with a ``registry_id`` mirrors that remote)."""

    # seconds a manifest pulled by tag is served from the cache before the next pull
    # re-checks the tag upstream (one HEAD); 0 checks on every pull. Digests never are.
    manifest_check_interval: float = Field(default=60.0, ge=0, le=86400 * 30)
    # seconds one upstream exchange may take (a manifest GET or HEAD, the start of a blob
    # download, and any silence of a blob download); past it the cached copy is served
    upstream_timeout: float = Field(default=10.0, gt=0, le=600)
    # seconds an index pulled from upstream waits for its children to be pulled (and so
    # cached) before it is stored; an index is stored only once all its children are
    index_wait: float = Field(default=600.0, ge=0, le=86400)
    # seconds a process waits for another process or replica already fetching the same
    # blob, before it fetches the blob itself
    fetch_wait: float = Field(default=300.0, gt=0, le=86400)


# the built web UI of a source checkout (`make run` builds it there): <repo>/ui/dist
DEFAULT_UI_DIR = Path(__file__).resolve().parent.parent / "ui" / "dist"


class UIConfig(Strict):
    """The web UI's built files (``npm run build`` in ui/), served at ``/``. ``dir: null``
    = the checkout's ui/dist; when that is not built, ``/`` says how to build it."""

    dir: Path | None = None

    @field_validator("dir")
    @classmethod
    def _check_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not (value / "index.html").is_file():
            raise ValueError(
                f"{value} has no index.html (build the UI: cd ui && npm ci && npm run build)"
            )
        return value

    @property
    def root(self) -> Path:
        return self.dir if self.dir is not None else DEFAULT_UI_DIR


class WebhooksConfig(Strict):
    """Webhook deliveries (jobs of the durable queue): how long one may take, how often a
    failed one is tried again and how soon."""

    timeout: float = Field(default=10.0, gt=0, le=300)  # one delivery, connect included
    max_attempts: int = Field(default=10, ge=1, le=100)  # tries (about 30 min)
    backoff: float = Field(default=5.0, gt=0, le=3600)  # first retry; doubled each time
    max_backoff: float = Field(default=600.0, gt=0, le=86400)
    policy_refresh: float = Field(default=5.0, ge=0, le=300)  # other replicas' edits seen
    pull_flush_interval: float = Field(default=0.5, gt=0, le=60)  # pulls enqueued in batches
    probe_max: float = Field(default=60.0, gt=0, le=86400)  # longest wait between probes
    # a dead receiver's deliveries this old are given up (about max_attempts' span)
    give_up_after: float = Field(default=1800.0, gt=0, le=30 * 86400)


class LogConfig(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = True


class LimitsConfig(Strict):
    """Protection against slow, stuck and abusive clients. Timeouts are in seconds."""

    # The request line and all headers must arrive within this (from the first byte of the
    # request; for a new connection, from accept). Else the connection is closed (408 when
    # part of a request arrived).
    header_timeout: float = Field(default=10.0, gt=0, le=3600)
    # A request body that receives no bytes for this long is aborted (408, connection
    # closed); a big upload is never cut off while bytes keep flowing.
    body_idle_timeout: float = Field(default=60.0, gt=0, le=86400)
    # An idle keep-alive connection is closed after this. Longer than the 60 s upstream
    # keep-alive of common proxies and load balancers (nginx, AWS ALB), so the proxy closes
    # first and never reuses a connection Wharf is closing.
    keepalive_timeout: float = Field(default=75.0, gt=0, le=86400)
    # Open connections from one client IP address, counted per worker process (0 =
    # unlimited): connections beyond it get a 503 with Retry-After and are closed at once.
    # Per worker because SO_REUSEPORT already spreads one client's connections over the
    # workers by a hash of the address and port, so the whole server admits between this
    # and workers x this; a cross-process count would cost shared state on every accept.
    max_connections_per_client: int = Field(default=256, ge=0, le=1_000_000)
    # Malformed requests, timeouts and refused connections are logged as one short line
    # each, at most this many per 10 s per worker; the rest are counted in one summary.
    client_fault_log_limit: int = Field(default=20, ge=0, le=100_000)


class AuthConfig(Strict, ExternalAuthSettings):
    """Access control (projects, roles, token auth); on by default. Tests of the bare API
    turn it off. The sign-in modes (``mode``: db, ldap, oidc, and Harbor's ``ldap_*`` and
    ``oidc_*`` settings) are ``wharf.auth.settings.ExternalAuthSettings``."""

    enabled: bool = True
    # First start only: the password of the `admin` user (else $WHARF_ADMIN_PASSWORD, else
    # a random one, logged once and written to <data_dir>/admin-password).
    admin_password: str | None = None
    service: str = "wharf"  # the token audience, `service=` of the challenge
    issuer: str = "wharf-token-service"
    token_lifetime: int = Field(default=300, ge=60, le=86400)  # seconds
    refresh_token_lifetime: int = Field(default=30 * 86400, ge=60)
    algorithm: Literal["RS256", "ES256"] = "RS256"
    # Extra PEM files (public keys or certificates) whose tokens are accepted: key rotation,
    # an external token issuer; certificates also anchor `x5c` chains.
    trusted_keys: list[Path] = []
    accepted_issuers: list[str] = []
    basic_on_v2: bool = True  # /v2/ also accepts HTTP Basic credentials directly
    auto_create_projects: bool = False  # a system admin's push creates a missing project
    public_projects: list[str] = ["library"]  # created (public) at first start
    # Re-check on every /v2 request that a token's user/robot still exists, is enabled and
    # still holds the permission (else a disabled user keeps access until the token expires).
    revalidate_tokens: bool = True
    project_creation: Literal["everyone", "adminonly"] = "everyone"
    # Audit events older than this are deleted (every pull is one event); 0 keeps them all.
    audit_retention_days: int = Field(default=90, ge=0)
    # Failed logins per (username, client address) in a fixed window of
    # `login_failure_window` seconds; beyond it: 429 until the window ends. 0: no limit.
    login_failure_limit: int = Field(default=10, ge=0)
    login_failure_window: float = Field(default=300.0, gt=0, le=86400)
    # Failed logins from one client address, whatever the usernames, in the same window;
    # beyond it: 429 for every login from there until the window ends. 0: no limit.
    login_failure_limit_per_address: int = Field(default=100, ge=0)
    # The key that seals secrets kept in the database (OIDC CLI secrets and provider
    # tokens, LDAP/OIDC secrets set through the API) and signs browser sessions: any
    # string, the same on every replica. Unset: a random key generated in the database at
    # first start (then whoever reads the database can unseal them).
    secret_key: str | None = Field(default=None, min_length=16)


class Settings(Strict):
    listen: str = "127.0.0.1:5000"
    workers: int = Field(0, ge=0, le=256)  # 0: one per core
    data_dir: Path = Path("./data")
    external_url: str | None = None
    tls: TLSConfig | None = None
    storage: StorageConfig = StorageConfig()
    database: DatabaseConfig = DatabaseConfig()
    redis: RedisConfig = RedisConfig()
    replica_name: str | None = None  # the `replica` label of /metrics; default: host name
    log: LogConfig = LogConfig()
    auth: AuthConfig = AuthConfig()
    limits: LimitsConfig = LimitsConfig()
    jobs: JobsConfig = JobsConfig()
    proxy: ProxyConfig = ProxyConfig()
    ui: UIConfig = UIConfig()
    webhooks: WebhooksConfig = WebhooksConfig()
    manifest_max_size: Size = 4 * 1024 * 1024
    delete_enabled: bool = True
    read_only: bool = False  # refuse every change (pushes, deletes); pulls go on
    shutdown_timeout: float = Field(30.0, ge=0)

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        _host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("must be HOST:PORT")
        return value

    @field_validator("external_url")
    @classmethod
    def _check_external_url(cls, value: str | None) -> str | None:
        if value is not None:
            if not re.match(r"^https?://[^/]+(/.*)?$", value):
                raise ValueError("must be an absolute http(s) URL")
            return value.rstrip("/")
        return value

    @field_validator("redis", mode="before")
    @classmethod
    def _null_redis(cls, value: Any) -> Any:
        return {} if value is None else value  # `redis: null` = in-process

    @field_validator("replica_name")
    @classmethod
    def _check_replica_name(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", value):
            raise ValueError("letters, digits, '.', '_' and '-' (at most 63)")
        return value

    @property
    def replica(self) -> str:
        return self.replica_name or socket.gethostname()

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1

    @property
    def storage_root(self) -> Path:
        return self.storage.filesystem.root or self.data_dir / "storage"

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{(self.data_dir / 'wharf.db').resolve()}"


_ENV_ALIASES = {"WHARF_ADMIN_PASSWORD": "WHARF_AUTH__ADMIN_PASSWORD"}


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX:
            continue
        if name in _ENV_ALIASES:  # short names documented for operators
            if _ENV_ALIASES[name] in environ:
                continue
            name = _ENV_ALIASES[name]
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        node = tree
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{name}: conflicts with another WHARF_ variable")
            node = child
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        node[path[-1]] = value if isinstance(value, (str, int, float, bool, type(None))) else raw
    return tree


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _env_name(loc: tuple[int | str, ...]) -> str:
    return ENV_PREFIX + "__".join(str(p).upper() for p in loc)


def load_settings(
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """File, then WHARF_* environment, then explicit overrides (command-line flags)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
        data = loaded
    data = _merge(data, _env_overrides(os.environ if environ is None else environ))
    if overrides:
        data = _merge(data, {k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            problems.append(f"{key}: {err['msg']} (or set {_env_name(err['loc'])})")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None
