"""Rows of the registry tables and the records they hold, shared by the SQLite and the
PostgreSQL metadata stores (the same columns, the same name ranges)."""

from __future__ import annotations

import time
from typing import Any

from wharf.registry.metadata.base import Label, ManifestRecord, RepositoryInfo, UploadSession

MANIFEST_COLUMNS = "m.digest, m.media_type, m.size, m.artifact_type, m.subject, m.annotations"
SESSION_COLUMNS = 'id, repo, "offset", hash_algorithm, hash_state, driver_state, created, updated'
LAST_SEEN_REFRESH = 60.0  # refreshing every hit would make every read a write


def manifest_from_row(row: Any) -> ManifestRecord:
    """A row of ``SELECT {MANIFEST_COLUMNS}`` (further columns are ignored)."""
    return ManifestRecord(row[0], row[1], row[2], row[3], row[4], row[5])


def session_from_row(row: Any) -> UploadSession:
    """A row of ``SELECT {SESSION_COLUMNS}`` (further columns are ignored)."""
    return UploadSession(*row[:8])


def prefix_successor(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: no
    upper bound, for the empty prefix)."""
    if not prefix:
        return None
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def project_range(project: str | None) -> tuple[str, str | None]:
    """Repository names in ``project``: ``low <= name < high`` (high None: no bound)."""
    if project is None:
        return "", None
    prefix = project + "/"
    return prefix, prefix_successor(prefix)


# --- Harbor's view of manifests (artifacts) --------------------------------------------
# cosign's signatures without a subject are tagged ``sha256-<hex of the signed digest>.sig``
COSIGN_TAG_PREFIX = "sha256-"
COSIGN_TAG_SUFFIX = ".sig"
COSIGN_TAG_LENGTH = len(COSIGN_TAG_PREFIX) + 64 + len(COSIGN_TAG_SUFFIX)


def is_cosign_tag(name: str) -> bool:
    """Whether a tag names a cosign signature (the SQL twin: ``COSIGN_TAG_SQL``)."""
    return (
        len(name) == COSIGN_TAG_LENGTH
        and name.startswith(COSIGN_TAG_PREFIX)
        and name.endswith(COSIGN_TAG_SUFFIX)
    )


COSIGN_TAG_SQL = (
    f"(length(s.name) = {COSIGN_TAG_LENGTH} AND substr(s.name, 1, 7) = '{COSIGN_TAG_PREFIX}' "
    f"AND substr(s.name, {COSIGN_TAG_LENGTH - 3}) = '{COSIGN_TAG_SUFFIX}')"
)
# The manifests (alias ``m``) Harbor lists and counts as a repository's artifacts: not an
# accessory (a referrer, or a cosign signature by tag), and tagged or no index's child.
LISTED_SQL = (
    "m.subject IS NULL AND NOT EXISTS (SELECT 1 FROM tags s WHERE s.repo_id = m.repo_id "
    f"AND s.digest = m.digest AND {COSIGN_TAG_SQL}) AND (EXISTS (SELECT 1 FROM tags t "
    "WHERE t.repo_id = m.repo_id AND t.digest = m.digest) OR NOT EXISTS (SELECT 1 FROM "
    "manifest_children c WHERE c.repo_id = m.repo_id AND c.child_digest = m.digest))"
)


def cosign_tags_of(digests: list[str]) -> list[str]:
    """The tags cosign signs ``digests`` under (sha256 ones only)."""
    return [
        f"{COSIGN_TAG_PREFIX}{d.removeprefix('sha256:')}{COSIGN_TAG_SUFFIX}"
        for d in digests
        if d.startswith("sha256:")
    ]


def around_sql(digests: str, tags: str) -> str:
    """The manifests (alias ``m``) hanging on or holding the manifests ``digests`` (an SQL
    set expression): their referrers, their cosign signatures (tagged by one of the
    ``tags`` set), their index children and the indexes holding them."""
    return (
        f"(m.subject IN {digests} OR EXISTS (SELECT 1 FROM tags s WHERE s.repo_id = m.repo_id "
        f"AND s.digest = m.digest AND s.name IN {tags}) OR EXISTS (SELECT 1 FROM "
        "manifest_children c WHERE c.repo_id = m.repo_id AND ((c.child_digest = m.digest "
        f"AND c.manifest_digest IN {digests}) OR (c.manifest_digest = m.digest "
        f"AND c.child_digest IN {digests}))))"
    )


def repository_columns(greatest: str) -> str:
    """The columns ``repository_from_row`` reads, of ``repositories r``; ``greatest`` is
    the dialect's many-argument maximum (SQLite ``MAX``, PostgreSQL ``GREATEST``)."""
    return (
        f"r.name, r.created, {greatest}(r.created, COALESCE((SELECT MAX(m.created) FROM "
        "manifests m WHERE m.repo_id = r.id), 0), COALESCE(r.touched, 0)), "
        f"(SELECT COUNT(*) FROM manifests m WHERE m.repo_id = r.id AND {LISTED_SQL}), "
        "r.id, r.description, r.pull_count"
    )


def repository_from_row(row: Any) -> RepositoryInfo:
    return RepositoryInfo(
        row[0], float(row[1]), float(row[2]), int(row[3]), int(row[4]), row[5], int(row[6])
    )


LABEL_COLUMNS = "name, scope, project_id, description, color, created, updated, id"


def label_from_row(row: Any) -> Label:
    return Label(row[0], row[1], int(row[2]), row[3], row[4], row[5], row[6], int(row[7]))


# what the stores append to the log of a run whose collector is gone
GC_LOCK_GONE = "Error: the run lost the GC lock to a newer run (its collector died or stalled)"
GC_STOPPED_GONE = "Stopped: on request; no collector was running it any more"


def gc_log_line(now: float, text: str) -> str:
    """A line of a GC run's log, as the collector writes them."""
    return f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now))} {text}\n"
