"""The audit log as a subscriber of the core's domain events: pushes, pulls, deletes and
refusals become audit events. Successful pulls (the hot path) are batched by the auth
service; everything else is written before the operation's answer goes out."""

from __future__ import annotations

from wharf.auth.models import AuditEvent, project_of
from wharf.auth.service import AuthService
from wharf.registry.events import (
    Annotated,
    BlobUnlinked,
    Denied,
    Event,
    GarbageCollected,
    ManifestDeleted,
    ManifestPulled,
    ManifestPushed,
    ReplicationChanged,
    RepositoryDeleted,
    TagCreated,
    TagDeleted,
)


def _artifact(repo: str, reference: str) -> str:
    return f"{repo}@{reference}" if ":" in reference else f"{repo}:{reference}"


class AuditSubscriber:
    def __init__(self, auth: AuthService) -> None:
        self.auth = auth

    async def __call__(self, event: Event) -> None:
        record = audit_event_for(event)
        if record is not None:
            await self.auth.audit(record, batched=isinstance(event, ManifestPulled))


def audit_event_for(event: Event) -> AuditEvent | None:
    """The audit event for a domain event; None for what the log does not keep (mounts;
    project deletes are recorded by the auth service that owns projects)."""
    result = "success"
    match event:
        case ManifestPulled(actor, repo, _digest, reference):
            what = ("pull", "artifact", _artifact(repo, reference), "manifest")
        case ManifestPushed(actor, repo, digest, _media, tag, _previous):
            what = ("create", "artifact", _artifact(repo, tag or digest), "manifest")  # a push
        case ManifestDeleted(actor, repo, digest, _tags):
            what = ("delete", "artifact", f"{repo}@{digest}", "manifest")
        case TagDeleted(actor, repo, tag, _digest):
            what = ("delete", "tag", f"{repo}:{tag}", "tag")
        case TagCreated(actor, repo, tag, digest):
            what = ("create", "tag", f"{repo}:{tag}", digest)
        case BlobUnlinked(actor, repo, digest):
            what = ("delete", "blob", f"{repo}@{digest}", "blob")
        case RepositoryDeleted(actor, repo):
            what = ("delete", "repository", repo, "repository")
        case Annotated(actor, operation, resource_type, resource, project):
            return AuditEvent(
                actor.name,
                operation,
                resource_type,
                resource,
                project=project,
                client_ip=actor.client_ip,
            )
        case GarbageCollected(actor, run_id, status, manifests, blobs, freed, dry_run):
            detail = (
                f"{'dry run ' if dry_run else ''}{status}: {manifests} manifests, "
                f"{blobs} blobs, {freed} bytes"
            )
            return AuditEvent(
                actor.name,
                "gc",
                "system",
                f"system/gc/{run_id}",
                client_ip=actor.client_ip,
                result="success" if status == "Success" else "failure",
                detail=detail,
            )
        case ReplicationChanged(actor, operation, resource_type, resource_id, name):
            collection = {
                "registry": "registries",
                "replication_policy": "replication/policies",
                "replication_execution": "replication/executions",
            }.get(resource_type, resource_type)
            return AuditEvent(
                actor.name,
                operation,
                resource_type,
                f"{collection}/{resource_id}",
                client_ip=actor.client_ip,
                detail=name,
            )
        case Denied(actor, operation, repo, reference, reason):
            resource = _artifact(repo, reference) if reference else repo
            # Harbor's vocabulary: a push creates an artifact
            verb = "create" if operation == "push" else operation
            what, result = (verb, "artifact", resource, reason), "denied"
        case _:
            return None
    operation, resource_type, resource, detail = what
    return AuditEvent(
        actor.name,
        operation,
        resource_type,
        resource,
        project=project_of(repo),
        client_ip=actor.client_ip,
        result=result,
        detail=detail,
    )
