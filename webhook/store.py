"""The interface of the webhook policies' storage; ``sqlite`` and ``postgres`` implement
it, and ``tests/contracts/test_webhook_store.py`` holds both to it. The store keeps what
it is given: the service seals the targets' auth headers before they get here."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import orjson

from wharf.webhook.models import Policy, Target


class Conflict(Exception):
    """A policy name already taken in the project."""


COLUMNS = (
    "id, project_id, project_name, name, description, targets, event_types, creator, "
    "enabled, created, updated"
)


def policy_from_row(row: Any) -> Policy:
    targets = tuple(
        Target(
            address=t["address"],
            type=t.get("type", "http"),
            auth_header=t.get("auth_header", ""),
            skip_cert_verify=bool(t.get("skip_cert_verify", False)),
            payload_format=t.get("payload_format", "Default"),
        )
        for t in orjson.loads(row[5])
    )
    return Policy(
        id=int(row[0]),
        project_id=int(row[1]),
        project_name=row[2],
        name=row[3],
        description=row[4],
        targets=targets,
        event_types=tuple(orjson.loads(row[6])),
        creator=row[7],
        enabled=bool(row[8]),
        created=float(row[9]),
        updated=float(row[10]),
    )


def policy_values(policy: Policy) -> tuple[Any, ...]:
    """Every column but ``id``, in ``COLUMNS`` order."""
    targets = [
        {
            "type": t.type,
            "address": t.address,
            "auth_header": t.auth_header,
            "skip_cert_verify": t.skip_cert_verify,
            "payload_format": t.payload_format,
        }
        for t in policy.targets
    ]
    return (
        policy.project_id,
        policy.project_name,
        policy.name,
        policy.description,
        orjson.dumps(targets).decode(),
        orjson.dumps(list(policy.event_types)).decode(),
        policy.creator,
        int(policy.enabled),
        policy.created,
        policy.updated,
    )


class WebhookStore(ABC):
    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def create_policy(self, policy: Policy) -> Policy:
        """Store a new policy (its ``id`` ignored); it with its id. ``Conflict`` when the
        project has a policy of that name."""

    @abstractmethod
    async def get_policy(self, policy_id: int) -> Policy | None: ...

    @abstractmethod
    async def policies(self, project_id: int | None = None) -> list[Policy]:
        """The project's policies (every project's when None), by id."""

    @abstractmethod
    async def update_policy(self, policy: Policy) -> bool:
        """Write every field but the project (found by id); False when it is gone.
        ``Conflict`` on a name taken in the project."""

    @abstractmethod
    async def delete_policy(self, policy_id: int) -> bool: ...

    @abstractmethod
    async def delete_project_policies(self, project_name: str) -> int:
        """Delete the policies of a project that was deleted; how many."""
