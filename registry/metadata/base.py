"""The metadata-store interface the content core talks to."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


class ProjectUnknown(Exception):
    """A repository would be created in a project that does not exist (stores built with
    ``require_projects``, i.e. with access control on). Nothing was written."""

    def __init__(self, project: str) -> None:
        super().__init__(f"project {project!r} does not exist")
        self.project = project


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    digest: str
    media_type: str
    size: int
    artifact_type: str | None = None
    subject: str | None = None
    annotations: bytes | None = None  # JSON object, as stored


@dataclass(slots=True)
class UploadSession:
    id: str
    repo: str
    offset: int
    hash_algorithm: str
    hash_state: bytes
    driver_state: str
    created: float
    updated: float
    lease_owner: str = ""  # who holds the write lease in this process (not a column read back)


@dataclass(frozen=True, slots=True)
class PutManifestResult:
    missing_blobs: list[str]
    missing_manifests: list[str]


class MetadataStore(ABC):
    """All operations are single transactions. Implementations must be safe to use from
    several processes at once (several workers, several replicas).

    Built with ``require_projects``, every operation that would create a repository
    (``add_blob``, ``link_blob``, ``put_manifest``) raises ``ProjectUnknown`` unless the
    repository's project (first path component) exists, checked in the same transaction."""

    @abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> None:
        """Raise when the store can't answer (health checks)."""

    # --- repositories --------------------------------------------------------
    @abstractmethod
    async def repo_exists(self, repo: str) -> bool: ...

    @abstractmethod
    async def list_repos(self, last: str | None, limit: int | None) -> list[str]: ...

    # --- blobs ---------------------------------------------------------------
    @abstractmethod
    async def repo_blob_size(self, repo: str, digest: str) -> int | None:
        """Size of a blob linked into ``repo``; None when it isn't (or no longer exists).
        Refreshes the blob's last_seen so GC's grace window starts again."""

    @abstractmethod
    async def blob_size(self, digest: str) -> int | None:
        """Size of a committed blob, whatever repository holds it."""

    @abstractmethod
    async def repos_with_blob(self, digest: str, limit: int = 100) -> list[str]: ...

    @abstractmethod
    async def add_blob(self, repo: str, digest: str, size: int) -> None:
        """Record a committed blob and link it into ``repo`` (idempotent)."""

    @abstractmethod
    async def link_blob(self, repo: str, digest: str) -> bool:
        """Link an existing blob into ``repo``; False when the blob is unknown."""

    @abstractmethod
    async def unlink_blob(self, repo: str, digest: str) -> bool: ...

    # --- uploads -------------------------------------------------------------
    @abstractmethod
    async def create_upload(self, session: UploadSession) -> None: ...

    @abstractmethod
    async def get_upload(self, upload_id: str) -> UploadSession | None: ...

    @abstractmethod
    async def claim_upload(
        self,
        upload_id: str,
        owner: str,
        until: float,
        now: float,
        replace: str | None = None,
    ) -> bool:
        """Take the upload's write lease when it is free, expired, or held by ``replace``
        (a holder known to be dead); False when someone else holds it."""

    @abstractmethod
    async def upload_lease_owner(self, upload_id: str) -> str | None:
        """Who holds the upload's write lease (None when nobody does)."""

    @abstractmethod
    async def release_upload(
        self, session: UploadSession, owner: str, previous_offset: int
    ) -> bool:
        """Save offset/hash/driver state and drop the lease, only if ``owner`` still holds
        it and the offset is still ``previous_offset``."""

    @abstractmethod
    async def delete_upload(self, upload_id: str) -> bool: ...

    @abstractmethod
    async def list_uploads(self, updated_before: float) -> list[UploadSession]: ...

    # --- manifests and tags --------------------------------------------------
    @abstractmethod
    async def put_manifest(
        self,
        repo: str,
        record: ManifestRecord,
        blobs: list[str],
        children: list[str],
        tag: str | None,
    ) -> PutManifestResult:
        """In one transaction: check every referenced blob is linked into ``repo`` and every
        child manifest exists there, then record the manifest, its references, and the tag.
        Nothing is written when something is missing."""

    @abstractmethod
    async def get_manifest(self, repo: str, digest: str) -> ManifestRecord | None: ...

    @abstractmethod
    async def resolve_tag(self, repo: str, tag: str) -> ManifestRecord | None: ...

    @abstractmethod
    async def delete_manifest(self, repo: str, digest: str) -> bool:
        """Delete a manifest and every tag pointing at it."""

    @abstractmethod
    async def delete_tag(self, repo: str, tag: str) -> bool: ...

    @abstractmethod
    async def list_tags(self, repo: str, last: str | None, limit: int | None) -> list[str] | None:
        """Sorted tags after ``last``; None when the repository doesn't exist."""

    @abstractmethod
    async def referrers(
        self, repo: str, subject: str, artifact_type: str | None
    ) -> list[ManifestRecord]: ...

    # --- management queries (Harbor-style REST API; wharf.registry.http.harbor) --------
    @abstractmethod
    async def repositories_under(self, prefix: str) -> list[RepositoryInfo]:
        """Repositories whose name starts with ``prefix`` (e.g. ``"library/"``), by name."""

    @abstractmethod
    async def artifacts(self, repo: str) -> list[ArtifactInfo] | None:
        """Every manifest of ``repo``, newest first, with its tags; None: no such repo."""

    @abstractmethod
    async def delete_repository(self, repo: str) -> bool:
        """Forget a repository (manifests, tags, blob links); blobs are left to GC."""


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    name: str
    created: float
    updated: float
    artifact_count: int


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    record: ManifestRecord
    created: float
    tags: list[tuple[str, float]]  # (tag, updated)
