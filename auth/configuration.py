"""The sign-in settings in force: the configuration file and ``WHARF_AUTH__*`` first, then
what system admins set through ``PUT /api/v2.0/configurations``.

How the two combine: a setting given in the file or the environment is fixed — the API
shows it with ``editable: false`` and refuses to change it — so a deployment's file stays
the truth. Every other setting may be set through the API; those are stored in the
database (secrets sealed), so every replica sees them, and each process re-reads them at
most ``reload_seconds`` after a change elsewhere (at once in the process that made it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from pydantic import ValidationError

from wharf.auth.access import require_admin
from wharf.auth.audit import AuditLog
from wharf.auth.errors import BadRequest, Forbidden
from wharf.auth.models import DB_AUTH
from wharf.auth.principals import Principal
from wharf.auth.sealing import Sealer, Unsealable
from wharf.auth.settings import (
    MODE_NAMES,
    SECRET_KEYS,
    SETTING_KEYS,
    ExternalAuthSettings,
    api_key,
    field_of,
)
from wharf.auth.store import AuthStore, Page

log = logging.getLogger("wharf.auth")

RELOAD_SECONDS = 5.0
_MODE_VALUES = {**{v: k for k, v in MODE_NAMES.items()}, **{k: k for k in MODE_NAMES}}


class Configuration:
    def __init__(
        self,
        store: AuthStore,
        base: ExternalAuthSettings,
        fixed: frozenset[str],
        audit_log: AuditLog,
        reload_seconds: float = RELOAD_SECONDS,
    ) -> None:
        self.store = store
        # the file/env values, re-validated as the plain model (no other auth keys)
        self.base = ExternalAuthSettings.model_validate({k: getattr(base, k) for k in SETTING_KEYS})
        self.fixed = frozenset(k for k in fixed if k in SETTING_KEYS)
        self.audit_log = audit_log
        self.reload_seconds = reload_seconds
        self.sealer: Sealer | None = None  # set once the sealing key is known
        self._current = self.base
        self._loaded_at = -1e9
        self._lock = asyncio.Lock()

    def use_sealer(self, sealer: Sealer) -> None:
        self.sealer = sealer

    async def current(self) -> ExternalAuthSettings:
        """The settings in force (re-read from the database every ``reload_seconds``)."""
        if time.monotonic() - self._loaded_at < self.reload_seconds:
            return self._current
        async with self._lock:
            if time.monotonic() - self._loaded_at >= self.reload_seconds:
                self._current = await self._load()
                self._loaded_at = time.monotonic()
        return self._current

    async def _load(self) -> ExternalAuthSettings:
        stored = await self.store.configuration()
        values: dict[str, Any] = {k: getattr(self.base, k) for k in SETTING_KEYS}
        for key, raw in stored.items():
            if key not in SETTING_KEYS or key in self.fixed:
                continue
            try:
                value = json.loads(raw)
                if key in SECRET_KEYS and value:
                    value = self._unseal(key, value)
            except (ValueError, Unsealable) as exc:
                log.error("stored setting unreadable; ignored", extra={"key": key, "why": str(exc)})
                continue
            values[key] = value
        try:
            return ExternalAuthSettings.model_validate(values)
        except ValidationError as exc:
            # a CA file deleted since it was set, say: keep what the file says
            log.error("stored settings invalid; using the file's", extra={"why": str(exc)})
            return self.base

    def _unseal(self, key: str, value: Any) -> str:
        if self.sealer is None:
            raise Unsealable("no sealing key")
        return self.sealer.open(str(value), context=key)

    def document(self, settings: ExternalAuthSettings) -> dict[str, dict[str, Any]]:
        """Harbor's ConfigurationsResponse: ``{key: {"value": …, "editable": …}}``; the
        secrets are left out (write-only)."""
        doc: dict[str, dict[str, Any]] = {}
        for key in SETTING_KEYS:
            if key in SECRET_KEYS:
                continue
            value = getattr(settings, key)
            if key == "mode":
                value = MODE_NAMES[value]
            elif isinstance(value, float) and value.is_integer():
                value = int(value)  # Harbor's IntegerConfigItem (ldap_timeout): 5, not 5.0
            doc[api_key(key)] = {"value": value, "editable": key not in self.fixed}
        return doc

    async def read(self, actor: Principal) -> dict[str, dict[str, Any]]:
        require_admin(actor)
        return self.document(await self.current())

    async def update(self, actor: Principal, changes: dict[str, Any]) -> ExternalAuthSettings:
        """Apply ``changes`` (API keys → values): all or nothing, validated together with
        the settings in force. Keys fixed by the file or environment are refused."""
        require_admin(actor)
        if not changes:
            raise BadRequest("no settings given")
        fields: dict[str, Any] = {}
        for key, value in changes.items():
            name = field_of(key)
            if name is None:
                raise BadRequest(f"unknown or unsupported setting {key[:100]!r}")
            if name in self.fixed:
                raise Forbidden(f"{key} is set in the configuration file or environment")
            if name == "mode":
                if not isinstance(value, str) or value not in _MODE_VALUES:
                    raise BadRequest("auth_mode must be db_auth, ldap_auth or oidc_auth")
                value = _MODE_VALUES[value]
            fields[name] = value
        current = await self.current()
        merged = {k: getattr(current, k) for k in SETTING_KEYS} | fields
        try:
            validated = ExternalAuthSettings.model_validate(merged)
        except ValidationError as exc:
            problems = "; ".join(
                f"{api_key(str(e['loc'][0])) if e['loc'] else '?'}: {e['msg']}"
                for e in exc.errors()
            )
            raise BadRequest(problems) from None
        if validated.mode != current.mode:
            await self._check_mode_change()
        stored: dict[str, str] = {}
        for name in fields:
            value = getattr(validated, name)
            if name in SECRET_KEYS and value:
                if self.sealer is None:
                    raise BadRequest("secrets cannot be stored before start-up completes")
                value = self.sealer.seal(str(value), context=name)
            stored[name] = json.dumps(value)
        await self.store.put_configuration(stored, time.time())
        async with self._lock:
            self._current = await self._load()
            self._loaded_at = time.monotonic()
        changed = ", ".join(sorted(api_key(n) for n in fields))
        await self.audit_log.record_change(actor, "update", "configuration", changed)
        return self._current

    async def _check_mode_change(self) -> None:
        """As in Harbor: the mode may change only while no one but local users has signed
        in (users onboarded from a directory or provider would be stranded)."""
        offset, total = 0, 1
        while offset < total:
            users, total = await self.store.list_users(None, Page(offset, 500))
            offset += 500
            for user in users:
                if user.auth_source != DB_AUTH:
                    raise Forbidden(
                        "auth_mode cannot change once users have signed in through LDAP or "
                        f"OIDC (e.g. {user.username})"
                    )
