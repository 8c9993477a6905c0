"""What a webhook policy is, and the vocabulary of Harbor's webhooks."""

from __future__ import annotations

from dataclasses import dataclass, field

# Harbor's event types this registry can emit (scanning is not part of Wharf, so the
# SCANNING_* types are neither advertised nor accepted).
PUSH_ARTIFACT = "PUSH_ARTIFACT"
PULL_ARTIFACT = "PULL_ARTIFACT"
DELETE_ARTIFACT = "DELETE_ARTIFACT"
QUOTA_EXCEED = "QUOTA_EXCEED"
QUOTA_WARNING = "QUOTA_WARNING"
REPLICATION = "REPLICATION"
TAG_RETENTION = "TAG_RETENTION"
EVENT_TYPES = (
    PUSH_ARTIFACT,
    PULL_ARTIFACT,
    DELETE_ARTIFACT,
    QUOTA_EXCEED,
    QUOTA_WARNING,
    REPLICATION,
    TAG_RETENTION,
)

HTTP = "http"  # the one notify type (Harbor's Slack needs a Slack workspace)
NOTIFY_TYPES = (HTTP,)
DEFAULT_FORMAT = "Default"
CLOUDEVENTS_FORMAT = "CloudEvents"
PAYLOAD_FORMATS = (DEFAULT_FORMAT, CLOUDEVENTS_FORMAT)

JOB_KIND_PREFIX = "webhook:"  # one job kind per event type: "webhook:PUSH_ARTIFACT"


def job_kind(event_type: str) -> str:
    return JOB_KIND_PREFIX + event_type


def job_group(policy_id: int) -> str:
    """The jobs (deliveries) of one policy are listed together."""
    return f"webhook-policy:{policy_id}"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a policy sends: an HTTP(S) address, the Authorization header to send, whether
    to check the receiver's certificate, and the payload format."""

    address: str
    type: str = HTTP
    auth_header: str = field(default="", repr=False)  # a secret: sealed when stored
    skip_cert_verify: bool = False
    payload_format: str = DEFAULT_FORMAT


@dataclass(frozen=True, slots=True)
class Policy:
    project_id: int
    project_name: str
    name: str
    targets: tuple[Target, ...]
    event_types: tuple[str, ...]
    description: str = ""
    creator: str = ""
    enabled: bool = True
    id: int = 0
    created: float = 0.0
    updated: float = 0.0
