"""The columns both stores read and write, and the conversion of rows."""

from __future__ import annotations

from typing import Any

from wharf.replication.models import Registry

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
