"""The metadata-store interface the content core talks to."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
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
class UploadClaim:
    """What ``take_upload`` found. Taken: ``session`` is the upload's fresh state. Not
    taken: ``session`` is None, ``found`` says whether the upload exists in that
    repository and ``holder`` is who holds its lease."""

    session: UploadSession | None
    found: bool
    holder: str | None
    pinned: bool  # the digest asked for was pinned in the same transaction
    quota: QuotaCheck | None = None  # the admission asked for with ``quota``, when taken


@dataclass(frozen=True, slots=True)
class PutManifestResult:
    missing_blobs: list[str]
    missing_manifests: list[str]


@dataclass(frozen=True, slots=True)
class QuotaRecord:
    """A project's storage quota: ``hard`` bytes (-1 unlimited)."""

    project: str
    hard: int
    created: float
    updated: float


# Up to this share of its limit a project's admissions are decided on an upper bound of
# its usage + reservations (no sum over the project); past it, on the exact sums (Harbor's
# QUOTA_WARNING threshold, so the warning is decided on exact figures too).
QUOTA_SHARE = 0.85


@dataclass(frozen=True, slots=True)
class QuotaCheck:
    """What ``reserve_quota`` found and decided. ``added``: the bytes the digest adds to
    the project (0 when it is in the project already; a backend deciding on the bound
    alone need not look); ``granted`` false: it did not fit.
    ``exact``: ``used`` and ``reserved`` are the exact sums (always so when refused);
    otherwise ``used`` is an upper bound of both together, below ``QUOTA_SHARE`` of the
    limit even with ``added``."""

    hard: int  # -1: unlimited (no check was made)
    used: int  # bytes linked in the project
    reserved: int  # bytes admitted for other digests, not linked yet
    added: int
    granted: bool
    exact: bool = False


@dataclass(frozen=True, slots=True)
class QuotaAsk:
    """An admission under a project's storage quota (``reserve_quota``'s arguments) that
    the core has taken by the write it makes anyway before publishing the digest (the
    pin: ``take_upload``, ``pin_and_reserve``), so that it costs no write of its own."""

    project: str
    digest: str
    size: int
    now: float
    until: float


def grown(ask: QuotaAsk, offset: int) -> QuotaAsk:
    """``take_upload``'s admission: ``ask``'s bytes on top of the upload's ``offset``."""
    return QuotaAsk(ask.project, ask.digest, offset + ask.size, ask.now, ask.until)


@dataclass(frozen=True, slots=True)
class PinAndQuota:
    """What ``pin_and_reserve`` did: ``pinned`` as ``pin_blob`` answers, and the quota's
    verdict as ``reserve_quota`` answers."""

    pinned: bool
    quota: QuotaCheck


@dataclass(frozen=True, slots=True)
class ArtifactFacts:
    """What Harbor's API tells of an artifact besides its manifest row, worked out from the
    manifest body when it is pushed (``wharf.registry.oci.artifacts``)."""

    media_type: str  # Harbor's: the config's media type (an index: its own, or CNAB's)
    size: int  # the manifest and every blob it references (an index: only itself)


class LabelExists(Exception):
    """A label of that name already exists in that scope (and project)."""


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
    async def add_blob(
        self, repo: str, digest: str, size: int, *, finished_upload: str | None = None
    ) -> None:
        """Record a committed blob and link it into ``repo`` (idempotent); with
        ``finished_upload``, that upload session's row goes in the same transaction."""

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
    async def take_upload(
        self,
        upload_id: str,
        repo: str,
        owner: str,
        until: float,
        now: float,
        *,
        replace: str | None = None,
        pin: tuple[str, float] | None = None,
        quota: QuotaAsk | None = None,
    ) -> UploadClaim:
        """One transaction on the push path: take the write lease of ``repo``'s upload
        ``upload_id`` as ``claim_upload`` does and read its state back; with ``pin``
        (digest, until), when taken, also pin that digest as ``pin_blob`` does
        (``pinned`` False while GC is deleting it: the caller waits with ``pin_blob``).
        With ``quota``, when taken, also admit ``quota.digest`` as ``reserve_quota``
        does, sized the upload's offset plus ``quota.size`` (the bytes the request still
        brings): ``quota`` of the answer. (A backend may run the admission as a statement
        of its own right after the claim: the two need not be atomic together.)"""

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
        *,
        facts: ArtifactFacts | None = None,
    ) -> PutManifestResult:
        """In one transaction: check every referenced blob is linked into ``repo`` and every
        child manifest exists there, then record the manifest, its references, the tag, and
        the artifact (its id and ``facts``; an index's size also counts its children's).
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
    # Artifacts are manifests as Harbor's API shows them, with ids; rows a process of an
    # older release added get their ids (artifact and tag) when first read.
    @abstractmethod
    async def repositories_under(self, prefix: str) -> list[RepositoryInfo]:
        """Repositories whose name starts with ``prefix`` (e.g. ``"library/"``; ``""``:
        all of them), by name."""

    @abstractmethod
    async def repository(self, repo: str) -> RepositoryInfo | None: ...

    @abstractmethod
    async def set_repository_description(self, repo: str, description: str) -> bool:
        """False when there is no such repository."""

    @abstractmethod
    async def artifacts(self, repo: str) -> list[ArtifactRow] | None:
        """Every artifact of ``repo``, newest first; None: no such repository."""

    @abstractmethod
    async def listed_artifacts(
        self, repo: str, offset: int, limit: int
    ) -> tuple[int, list[ArtifactRow]] | None:
        """One page of what Harbor lists as ``repo``'s artifacts (``LISTED_SQL``), newest
        first, and how many there are in all; None: no such repository."""

    @abstractmethod
    async def artifacts_around(self, repo: str, digests: list[str]) -> list[ArtifactRow]:
        """The artifacts of ``repo`` hanging on or holding the artifacts ``digests``:
        referrers, cosign signatures (by tag), index children and the indexes holding them."""

    @abstractmethod
    async def project_artifacts(self, project: str) -> list[ArtifactRow]:
        """Every artifact of every repository of ``project``, newest first."""

    @abstractmethod
    async def artifact(self, repo: str, digest: str) -> ArtifactRow | None: ...

    @abstractmethod
    async def set_artifact_facts(self, repo: str, facts: dict[str, ArtifactFacts]) -> None:
        """Record the facts (by digest) of artifacts pushed before they were recorded; an
        index's size is taken as given."""

    @abstractmethod
    async def create_tag(self, repo: str, tag: str, digest: str) -> str:
        """Tag the manifest ``digest`` unless the tag exists: ``"created"``, ``"exists"``
        (on whatever manifest) or ``"missing"`` (no such manifest)."""

    @abstractmethod
    async def record_pulls(self, pulls: list[Pulls]) -> None:
        """Add pulls in one transaction: the artifact's count and last pull time, the
        tag's last pull time (when pulled by tag) and the repository's count. Pulls of
        what is gone meanwhile are dropped."""

    @abstractmethod
    async def delete_repository(self, repo: str) -> bool:
        """Forget a repository (manifests, tags, blob links); blobs are left to GC."""

    @abstractmethod
    async def project_usage(self, project: str) -> int:
        """Bytes of the distinct digests in ``project``: blobs linked into its repositories
        and its manifests, each digest counted once however many repositories hold it
        (a blob GC has claimed no longer counts)."""

    # --- storage quotas ------------------------------------------------------------------
    @abstractmethod
    async def quota_limits(self) -> dict[str, int]:
        """Every project with a limit (``hard`` >= 0): project -> hard."""

    @abstractmethod
    async def quota(self, project: str) -> QuotaRecord | None:
        """The project's quota row (None: never set, which means unlimited)."""

    @abstractmethod
    async def set_quota(self, project: str, hard: int, now: float) -> QuotaRecord:
        """Create or change the project's hard limit."""

    @abstractmethod
    async def delete_quota(self, project: str) -> None:
        """Forget the project's quota and reservations (the project is gone)."""

    @abstractmethod
    async def reserve_quota(
        self, project: str, digest: str, size: int, now: float, until: float
    ) -> QuotaCheck:
        """Admit ``digest`` (``size`` bytes) into ``project`` under its limit, atomically
        with every other admission into the project: granted when the project has no
        limit, when the digest is in the project already, or when usage plus the bytes
        reserved by other admissions plus ``size`` stays within the limit — then the
        bytes stay reserved until ``until`` or until the digest is linked.

        The project keeps an upper bound of usage + reservations, raised by each
        admission: while it stays within ``QUOTA_SHARE`` of the limit the admission is
        decided on it alone; past that the exact sums are taken (expired reservations
        dropped) and the bound reset to them. Every link of a new digest into a limited
        project comes through an admission, so the bound never falls below the truth."""

    @abstractmethod
    async def release_quota(self, project: str, digest: str) -> None:
        """Drop a reservation whose write did not happen."""

    # --- labels ------------------------------------------------------------------------
    @abstractmethod
    async def create_label(self, label: Label) -> int:
        """The new label's id; LabelExists when its name is taken in its scope."""

    @abstractmethod
    async def label(self, label_id: int) -> Label | None: ...

    @abstractmethod
    async def labels(
        self, scope: str | None, project_id: int | None, ids: list[int] | None = None
    ) -> list[Label]:
        """Labels of ``scope`` (``None``: any), of ``project_id`` (``None``: any), and
        among ``ids`` when given; by id."""

    @abstractmethod
    async def update_label(self, label: Label) -> bool:
        """Change name, description and color; False when gone, LabelExists when the new
        name is taken."""

    @abstractmethod
    async def delete_label(self, label_id: int) -> bool:
        """Delete a label and detach it from every artifact."""

    @abstractmethod
    async def attach_label(self, artifact_id: int, label_id: int) -> str:
        """``"attached"``, ``"exists"`` (already attached) or ``"missing"`` (no such
        artifact or label)."""

    @abstractmethod
    async def detach_label(self, artifact_id: int, label_id: int) -> bool: ...

    @abstractmethod
    async def forget_project_labels(self) -> int:
        """Delete the labels of projects that no longer exist; how many went."""

    # --- garbage collection (wharf.gc) -----------------------------------------
    # Blobs have a ``deleting`` state (GC's two-phase delete): from the moment GC claims a
    # blob until its row goes, every read above treats it as absent and ``link_blob`` and
    # ``put_manifest`` as missing. ``cutoff`` is the run's start minus its grace window.
    #
    # Fencing: the lock numbers each run that takes it (``token``, only ever growing).
    # Every transaction of a run that writes marks or claims something for deletion
    # first checks, inside itself, that the lock still carries the run's token, and
    # raises ``GCLockLost`` (having changed nothing) when another run has taken it over:
    # a run that stalled past its lease can't act on marks the new run is rewriting.
    @abstractmethod
    async def pin_blob(self, digest: str, until: float, now: float) -> bool:
        """Before publishing bytes at ``digest`` (upload commit, manifest PUT): protect the
        digest from GC until ``until`` or until ``add_blob``/``put_manifest`` records it.
        False while GC is deleting that digest (wait and try again)."""

    @abstractmethod
    async def pin_and_reserve(
        self, digest: str, until: float, now: float, quota: QuotaAsk
    ) -> PinAndQuota:
        """``pin_blob`` and ``reserve_quota`` (of ``quota``) together, in one write where
        the backend can: the admission is taken even when the pin is not (the caller then
        waits with ``pin_blob``)."""

    @abstractmethod
    async def gc_try_lock(self, owner: str, until: float, now: float) -> int | None:
        """Take the one-GC-at-a-time lease (free, expired or already ``owner``'s): the
        run's token, greater than every token handed out before; None when held."""

    @abstractmethod
    async def gc_renew_lock(self, owner: str, token: int, until: float) -> bool:
        """Extend the lease; False when the run ``token`` no longer holds it (an expired
        lease nobody took over is still held)."""

    @abstractmethod
    async def gc_unlock(self, owner: str, token: int) -> None:
        """Release the lease if the run ``token`` holds it (its token stays recorded)."""

    @abstractmethod
    async def gc_mark(self, cutoff: float, project: str | None, *, token: int) -> int:
        """Replace the marks with the manifests reachable from the roots: tagged ones,
        ones created at or after ``cutoff``, and (with ``project``) every manifest outside
        that project; then children of marked manifests, referrers of marked subjects and
        subjects of marked referrers, to a fixpoint. The number of marked manifests.
        Fenced by ``token``."""

    @abstractmethod
    async def gc_sweep_manifests(
        self, since: float, cutoff: float, project: str | None, limit: int, *, token: int
    ) -> list[tuple[str, str]]:
        """In one transaction fenced by ``token``: mark what became reachable since
        ``since`` (tags written, manifests created), then delete up to ``limit`` manifests
        that run ``token`` did not mark (in ``project`` when given). The (repository,
        digest) pairs deleted; empty when done."""

    @abstractmethod
    async def gc_blob_candidates(
        self, after: str, cutoff: float, project: str | None, limit: int
    ) -> list[str]:
        """Digests after ``after`` (in order) of live blobs not seen since ``cutoff`` that
        no manifest references and no manifest is; with ``project``, only blobs linked into
        that project's repositories and no other."""

    @abstractmethod
    async def gc_claim_blobs(
        self, digests: list[str], cutoff: float, now: float, *, token: int
    ) -> list[tuple[str, int]]:
        """Re-check each digest (live, unreferenced, not seen since ``cutoff``, not pinned)
        and mark those that pass ``deleting``; the (digest, size) pairs claimed. Fenced by
        ``token``."""

    @abstractmethod
    async def gc_preview(
        self, cutoff: float, project: str | None, delete_untagged: bool
    ) -> GCPreview:
        """What a run would take, computed with reads only (a dry run): no mark, no lock,
        nothing any other connection could see. With ``delete_untagged``, manifests (in
        ``project``) that no root reaches (``gc_mark``'s roots and closure); blobs in
        ``gc_blob_candidates``' scope, not seen since ``cutoff``, that no manifest which
        stays references or is; blobs left ``deleting`` by an interrupted run."""

    @abstractmethod
    async def gc_unknown_digests(self, digests: list[str], now: float) -> list[str]:
        """Those of ``digests`` with no blob row (in any state) and no live pin."""

    @abstractmethod
    async def gc_claim_orphans(
        self, items: list[tuple[str, int]], now: float, *, token: int
    ) -> list[str]:
        """For stored objects (digest, size) the metadata may not know: record those with
        no blob row and no live pin as ``deleting``; the digests claimed. Fenced by
        ``token``."""

    @abstractmethod
    async def gc_deleting(self, after: str, limit: int) -> list[tuple[str, int]]:
        """Blobs in the ``deleting`` state after ``after`` (digest, size): a run's claims,
        or an interrupted run's left-overs."""

    @abstractmethod
    async def gc_forget_blobs(self, digests: list[str]) -> int:
        """Delete the rows (and repository links) of ``deleting`` blobs whose bytes are
        gone; how many went."""

    @abstractmethod
    async def gc_totals(self) -> tuple[int, int, int]:
        """(manifests, live blobs, bytes of live blobs) — for the run's report."""

    @abstractmethod
    async def gc_create_run(
        self, kind: str, parameters: str, now: float, *, token: int | None
    ) -> int:
        """Record a run (status Running) holding the lock's ``token`` (None: a run without
        the lock, a dry run); its id. Runs still Running with an older token lost their
        lock (their collector died or stalled): they are marked Error."""

    @abstractmethod
    async def gc_update_run(
        self, run_id: int, status: str, report: str, log_append: str, now: float
    ) -> None:
        """Set a run's status and report, append to its log."""

    @abstractmethod
    async def gc_runs(self, query: GCRunQuery, offset: int, limit: int) -> tuple[list[GCRun], int]:
        """Runs matching ``query`` in its order (log left empty), and how many match."""

    @abstractmethod
    async def gc_run(self, run_id: int) -> GCRun | None:
        """One run with its log."""

    @abstractmethod
    async def gc_request_stop(self, run_id: int, now: float) -> GCRun | None:
        """Ask run ``run_id`` to stop (its collector sees it at its next batch); a run
        still Running whose token no longer holds the lock has no collector left and is
        marked Stopped at once. The run as it is now; None: no such run."""

    @abstractmethod
    async def gc_stop_requested(self, run_id: int) -> bool: ...

    @abstractmethod
    async def gc_schedule(self) -> GCSchedule | None: ...

    @abstractmethod
    async def gc_set_schedule(self, schedule: GCSchedule) -> None: ...


class GCLockLost(Exception):
    """A run's transaction found the GC lock no longer carrying the run's token: another
    run took it over (this one stalled past its lease). Nothing was changed."""

    def __init__(self, token: int) -> None:
        super().__init__(f"the GC lock is no longer held by run token {token}")
        self.token = token


@dataclass(frozen=True, slots=True)
class GCPreview:
    """What a dry run found (``gc_preview``)."""

    manifests_reached: int  # with delete_untagged: the manifests a run would mark
    manifests: int  # manifests a run would delete
    blobs: int  # blobs it would delete
    size: int  # their bytes
    interrupted: int  # blobs left ``deleting`` that it would finish deleting


# what GC runs can be ordered and filtered by (Harbor's query keys map onto these)
GC_RUN_COLUMNS = ("id", "status", "kind", "created", "updated")


@dataclass(frozen=True, slots=True)
class GCRunQuery:
    """Filters of the run history: for each column, exact values (any of them), a
    case-insensitive substring, or a range (either end None: open); then the order,
    (column, descending) pairs; ``id`` descending breaks ties."""

    values: tuple[tuple[str, tuple[int | float | str, ...]], ...] = ()
    contains: tuple[tuple[str, str], ...] = ()
    ranges: tuple[tuple[str, float | None, float | None], ...] = ()
    order: tuple[tuple[str, bool], ...] = (("created", True),)

    def __post_init__(self) -> None:
        named = [c for c, _ in self.values] + [c for c, _ in self.contains]
        named += [c for c, _, _ in self.ranges] + [c for c, _ in self.order]
        unknown = set(named) - set(GC_RUN_COLUMNS)
        if unknown:
            raise ValueError(f"not a GC run column: {', '.join(sorted(unknown))}")

    def where(self, placeholder: Callable[[int], str]) -> tuple[str, list[object]]:
        """The WHERE condition (``placeholder(n)`` spells the n-th parameter, from 1) and
        its parameters, shared by both stores."""
        parts: list[str] = []
        params: list[object] = []

        def param(value: object) -> str:
            params.append(value)
            return placeholder(len(params))

        for column, values in self.values:
            if not values:
                parts.append("false")
                continue
            parts.append(f"{column} IN ({', '.join(param(v) for v in values)})")
        for column, text in self.contains:
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            parts.append(f"lower({column}) LIKE {param('%' + escaped.lower() + '%')} ESCAPE '\\'")
        for column, low, high in self.ranges:
            if low is not None:
                parts.append(f"{column} >= {param(low)}")
            if high is not None:
                parts.append(f"{column} <= {param(high)}")
        return " AND ".join(parts) or "true", params

    def order_by(self) -> str:
        terms = [f"{c} {'DESC' if desc else 'ASC'}" for c, desc in self.order]
        return ", ".join([*terms, "id DESC"])


@dataclass(frozen=True, slots=True)
class GCRun:
    """One garbage-collection run as recorded (``parameters`` and ``report`` are JSON)."""

    id: int
    kind: str  # MANUAL (CLI, "run now") or SCHEDULE
    status: str  # Running, Success, Error, Stopped
    parameters: str
    report: str
    log: str
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class GCSchedule:
    kind: str  # None, Hourly, Daily, Weekly, Custom (Harbor's schedule types)
    cron: str
    parameters: str  # JSON
    updated: float
    created: float = 0.0  # when this schedule was set up (kept while only edited)


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    name: str
    created: float
    updated: float  # the last push, delete or change through the management API
    artifact_count: int  # as Harbor counts: no accessories, no untagged index children
    id: int = 0
    description: str = ""
    pull_count: int = 0


@dataclass(frozen=True, slots=True)
class TagRow:
    id: int
    name: str
    pushed: float
    pulled: float | None


@dataclass(frozen=True, slots=True)
class ArtifactRow:
    """A manifest as Harbor's API shows it."""

    id: int
    repo_id: int
    repo: str
    record: ManifestRecord
    pushed: float
    facts: ArtifactFacts | None  # None: pushed before facts were recorded
    pulled: float | None
    pull_count: int
    tags: tuple[TagRow, ...]  # by name
    labels: tuple[int, ...]  # label ids, ascending
    children: tuple[str, ...]  # an index's manifests (digests)
    referenced: bool  # a child of an index in its repository


@dataclass(frozen=True, slots=True)
class Pulls:
    """Pulls of one manifest, by ``tag`` (None: by digest), coalesced."""

    repo: str
    digest: str
    tag: str | None
    count: int
    last: float


@dataclass(frozen=True, slots=True)
class Label:
    name: str
    scope: str  # "g": global, "p": one project's
    project_id: int = 0  # 0 for global labels
    description: str = ""
    color: str = ""
    created: float = 0.0
    updated: float = 0.0
    id: int = 0
