"""What a delivery carries: Harbor's payload (``type``, ``occur_at``, ``operator``,
``event_data``) built from a domain event, and its two wire formats.

- ``Default``: the payload itself as JSON (``Content-Type: application/json``).
- ``CloudEvents``: a CloudEvents 1.0 event in structured mode, as Harbor sends it
  (``Content-Type: application/cloudevents+json``): ``specversion``, ``id``, ``source``
  (``/projects/{project_id}/webhook/policies/{policy_id}``), ``type`` (``harbor.artifact.pushed``,
  …), ``datacontenttype``, ``time``, ``data`` (the payload's ``event_data``) and the
  ``operator`` extension.

Either way the delivery's event id (fixed when it was enqueued, the same on every retry)
is in the ``Webhook-Id`` header, and is the CloudEvents ``id``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from wharf.webhook.models import (
    CLOUDEVENTS_FORMAT,
    DELETE_ARTIFACT,
    PULL_ARTIFACT,
    PUSH_ARTIFACT,
    QUOTA_EXCEED,
    QUOTA_WARNING,
    REPLICATION,
    TAG_RETENTION,
)

EVENT_ID_HEADER = "Webhook-Id"
CLOUDEVENTS_TYPES = {
    DELETE_ARTIFACT: "harbor.artifact.deleted",
    PULL_ARTIFACT: "harbor.artifact.pulled",
    PUSH_ARTIFACT: "harbor.artifact.pushed",
    QUOTA_EXCEED: "harbor.quota.exceeded",
    QUOTA_WARNING: "harbor.quota.warned",
    REPLICATION: "harbor.replication.status.changed",
    TAG_RETENTION: "harbor.tag_retention.finished",
}


def repository_doc(repo: str, project: str, public: bool) -> dict[str, Any]:
    """Harbor's ``repository`` of an event: ``name`` is the repository without its
    project (``library/a/b`` → ``a/b``)."""
    return {
        "name": repo.split("/", 1)[1] if "/" in repo else repo,
        "namespace": project,
        "repo_full_name": repo,
        "repo_type": "public" if public else "private",
    }


def resource_url(host: str, repo: str, reference: str) -> str:
    """``host/repo:tag`` or ``host/repo@digest``, as Harbor writes it."""
    sep = "@" if reference.startswith("sha256:") or ":" in reference else ":"
    return f"{host}/{repo}{sep}{reference}"


def artifact_payload(
    event_type: str,
    *,
    operator: str,
    occur_at: float,
    host: str,
    repo: str,
    project: str,
    public: bool,
    digest: str,
    reference: str,
) -> dict[str, Any]:
    """PUSH_ARTIFACT, PULL_ARTIFACT, DELETE_ARTIFACT: the artifact (its tag, or its digest
    when it had none) in its repository."""
    return {
        "type": event_type,
        "occur_at": int(occur_at),
        "operator": operator,
        "event_data": {
            "resources": [
                {
                    "digest": digest,
                    "tag": reference,
                    "resource_url": resource_url(host, repo, reference),
                }
            ],
            "repository": repository_doc(repo, project, public),
        },
    }


def quota_payload(
    event_type: str,
    *,
    operator: str,
    occur_at: float,
    repo: str,
    project: str,
    public: bool,
    digest: str,
    details: str,
) -> dict[str, Any]:
    """QUOTA_EXCEED, QUOTA_WARNING: the repository, the blob or manifest concerned and
    Harbor's ``custom_attributes.Details`` sentence."""
    return {
        "type": event_type,
        "occur_at": int(occur_at),
        "operator": operator,
        "event_data": {
            "resources": [{"digest": digest}],
            "repository": repository_doc(repo, project, public),
            "custom_attributes": {"Details": details},
        },
    }


def size_text(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{size} B"


def replication_payload(
    *,
    operator: str,
    occur_at: float,
    hostname: str,
    execution_id: int,
    policy_name: str,
    status: str,
    trigger: str,
    succeeded: int,
    failed: int,
) -> dict[str, Any]:
    return {
        "type": REPLICATION,
        "occur_at": int(occur_at),
        "operator": operator,
        "event_data": {
            "replication": {
                "harbor_hostname": hostname,
                "job_status": status,
                "trigger_type": trigger,
                "execution_id": execution_id,
                "execution_timestamp": int(occur_at),
                "description": policy_name,
            },
            "custom_attributes": {
                "policy_name": policy_name,
                "succeeded_tasks": str(succeeded),
                "failed_tasks": str(failed),
            },
        },
    }


def retention_payload(
    *,
    operator: str,
    occur_at: float,
    hostname: str,
    project: str,
    execution_id: int,
    status: str,
    dry_run: bool,
    retained: int,
    removed: tuple[str, ...],
) -> dict[str, Any]:
    return {
        "type": TAG_RETENTION,
        "occur_at": int(occur_at),
        "operator": operator,
        "event_data": {
            "retention": {
                "total": retained + len(removed),
                "retained": retained,
                "harbor_hostname": hostname,
                "project_name": project,
                "result": status,
                "deleted_artifact": [
                    {"type": "image", "status": "SUCCEED", "name_tag": item, "references": []}
                    for item in removed
                ],
            },
            "custom_attributes": {"execution_id": str(execution_id), "dry_run": str(dry_run)},
        },
    }


def cloudevents_source(project_id: int, policy_id: int) -> str:
    return f"/projects/{project_id}/webhook/policies/{policy_id}"


def render(
    payload_format: str,
    payload: dict[str, Any],
    *,
    event_id: str,
    project_id: int,
    policy_id: int,
) -> tuple[dict[str, str], bytes]:
    """The headers and body of one delivery in ``payload_format``."""
    headers = {EVENT_ID_HEADER: event_id}
    if payload_format != CLOUDEVENTS_FORMAT:
        headers["Content-Type"] = "application/json"
        return headers, orjson.dumps(payload)
    occurred = datetime.fromtimestamp(payload["occur_at"], UTC)
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": cloudevents_source(project_id, policy_id),
        "type": CLOUDEVENTS_TYPES[payload["type"]],
        "datacontenttype": "application/json",
        "time": occurred.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": payload.get("event_data", {}),
        "operator": payload.get("operator", ""),
    }
    headers["Content-Type"] = "application/cloudevents+json"
    return headers, orjson.dumps(event)
