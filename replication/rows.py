"""The columns both stores read and write, and the conversion of rows."""

from __future__ import annotations

from typing import Any

import orjson

from wharf.replication.models import Execution, Filter, Policy, Registry

REGISTRY_COLUMNS = (
    "id, name, description, type, url, credential_type, access_key, access_secret, "
    "insecure, ca_certificate, status, created, updated"
)


def registry_from_row(row: Any) -> Registry:
    return Registry(
        id=int(row[0]),
        name=row[1],
        description=row[2],
        type=row[3],
        url=row[4],
        credential_type=row[5],
        access_key=row[6],
        access_secret=row[7],
        insecure=bool(row[8]),
        ca_certificate=row[9],
        status=row[10],
        created=float(row[11]),
        updated=float(row[12]),
    )


def registry_values(registry: Registry) -> tuple[Any, ...]:
    """The values of every column but ``id``, in ``REGISTRY_COLUMNS`` order."""
    return (
        registry.name,
        registry.description,
        registry.type,
        registry.url,
        registry.credential_type,
        registry.access_key,
        registry.access_secret,
        int(registry.insecure),
        registry.ca_certificate,
        registry.status,
        registry.created,
        registry.updated,
    )


POLICY_COLUMNS = (
    "id, name, description, src_registry_id, dest_registry_id, dest_namespace, "
    "dest_namespace_replace_count, trigger_type, trigger_cron, filters, replicate_deletion, "
    "override, enabled, speed, copy_by_chunk, single_active_replication, created, updated"
)


def policy_from_row(row: Any) -> Policy:
    filters = tuple(
        Filter(
            f["type"],
            tuple(f["value"]) if isinstance(f["value"], list) else f["value"],
            f.get("decoration", "matches"),
        )
        for f in orjson.loads(row[9])
    )
    return Policy(
        id=int(row[0]),
        name=row[1],
        description=row[2],
        src_registry_id=None if row[3] is None else int(row[3]),
        dest_registry_id=None if row[4] is None else int(row[4]),
        dest_namespace=row[5],
        dest_namespace_replace_count=int(row[6]),
        trigger_type=row[7],
        trigger_cron=row[8],
        filters=filters,
        replicate_deletion=bool(row[10]),
        override=bool(row[11]),
        enabled=bool(row[12]),
        speed=int(row[13]),
        copy_by_chunk=bool(row[14]),
        single_active_replication=bool(row[15]),
        created=float(row[16]),
        updated=float(row[17]),
    )


def policy_values(policy: Policy) -> tuple[Any, ...]:
    """The values of every column but ``id``, in ``POLICY_COLUMNS`` order."""
    filters = [
        {
            "type": f.type,
            "value": f.value if isinstance(f.value, str) else list(f.value),
            "decoration": f.decoration,
        }
        for f in policy.filters
    ]
    return (
        policy.name,
        policy.description,
        policy.src_registry_id,
        policy.dest_registry_id,
        policy.dest_namespace,
        policy.dest_namespace_replace_count,
        policy.trigger_type,
        policy.trigger_cron,
        orjson.dumps(filters).decode(),
        int(policy.replicate_deletion),
        int(policy.override),
        int(policy.enabled),
        policy.speed,
        int(policy.copy_by_chunk),
        int(policy.single_active_replication),
        policy.created,
        policy.updated,
    )


EXECUTION_COLUMNS = (
    "id, policy_id, trigger_kind, status, status_text, total, succeed, failed, stopped, "
    "in_progress, start_time, end_time"
)


def execution_from_row(row: Any) -> Execution:
    return Execution(
        id=int(row[0]),
        policy_id=int(row[1]),
        trigger=row[2],
        status=row[3],
        status_text=row[4],
        total=int(row[5]),
        succeed=int(row[6]),
        failed=int(row[7]),
        stopped=int(row[8]),
        in_progress=int(row[9]),
        start_time=float(row[10]),
        end_time=None if row[11] is None else float(row[11]),
    )


def execution_values(execution: Execution) -> tuple[Any, ...]:
    """Every column but ``id``, in ``EXECUTION_COLUMNS`` order."""
    return (
        execution.policy_id,
        execution.trigger,
        execution.status,
        execution.status_text,
        execution.total,
        execution.succeed,
        execution.failed,
        execution.stopped,
        execution.in_progress,
        execution.start_time,
        execution.end_time,
    )
