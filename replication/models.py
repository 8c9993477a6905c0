"""What replication stores: the remote registries (endpoints with their credentials)."""

from __future__ import annotations

from dataclasses import dataclass, field

from wharf.replication.client.endpoint import Credential, Endpoint

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"


@dataclass(slots=True)
class Registry:
    """A remote registry as an administrator declared it (Harbor's ``Registry``)."""

    name: str
    type: str
    url: str
    description: str = ""
    credential_type: str = ""  # "" (anonymous), "basic" or "oauth"
    access_key: str = ""
    access_secret: str = field(default="", repr=False)
    insecure: bool = False
    ca_certificate: str = ""  # PEM trusted for this registry ("" = the system's store)
    status: str = ""  # healthy, unhealthy, or "" before the first check
    id: int = 0
    created: float = 0.0
    updated: float = 0.0

    def endpoint(self) -> Endpoint:
        """What the outbound client needs to talk to it."""
        credential = None
        if self.credential_type and (self.access_key or self.access_secret):
            credential = Credential(self.access_key, self.access_secret, self.credential_type)
        return Endpoint(
            self.url,
            self.type,
            credential,
            insecure=self.insecure,
            ca_certificate=self.ca_certificate or None,
            name=self.name,
        )
