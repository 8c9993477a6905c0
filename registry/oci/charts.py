"""Helm charts pushed as OCI artifacts: what Harbor's chart additions show of the chart's
archive (``values.yaml``, ``README.md``, the dependencies). Pure functions over the
archive's bytes."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field
from typing import Any

import yaml

CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MAX_FILE = 8 * 1024 * 1024  # a chart file bigger than this is left out
# the keys of a dependency Helm knows (its Dependency's JSON names)
DEPENDENCY_KEYS = (
    "name",
    "version",
    "repository",
    "condition",
    "tags",
    "enabled",
    "import-values",
    "alias",
)


class ChartInvalid(ValueError):
    """The archive is not a chart Harbor could read."""


@dataclass(slots=True)
class ChartDetails:
    values: str | None = None  # values.yaml as written
    readme: str | None = None  # README.md as written
    dependencies: list[dict[str, Any]] = field(default_factory=list)


def _top_level(name: str) -> str | None:
    """``mychart/values.yaml`` → ``values.yaml``; deeper files (templates, sub-charts)
    → None."""
    parts = name.split("/")
    return parts[1] if len(parts) == 2 and parts[1] else None


def _dependencies(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        return []
    return [
        {k: item[k] for k in DEPENDENCY_KEYS if k in item} for item in raw if isinstance(item, dict)
    ]


def chart_details(archive: bytes) -> ChartDetails:
    """Read a chart archive (.tgz): apiVersion v2 charts list their dependencies in
    Chart.yaml, v1 charts in requirements.yaml. ChartInvalid when it is no chart."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar:
                name = _top_level(member.name)
                if name is None or not member.isfile() or member.size > MAX_FILE:
                    continue
                if name.upper() in ("CHART.YAML", "VALUES.YAML", "README.MD", "REQUIREMENTS.YAML"):
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        files[name.upper()] = extracted.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ChartInvalid(f"not a chart archive: {exc}") from None
    if "CHART.YAML" not in files:
        raise ChartInvalid("the archive holds no Chart.yaml")
    try:
        metadata = yaml.safe_load(files["CHART.YAML"])
        requirements = yaml.safe_load(files.get("REQUIREMENTS.YAML", b"")) or {}
    except yaml.YAMLError as exc:
        raise ChartInvalid(f"unreadable chart metadata: {exc}") from None
    if not isinstance(metadata, dict):
        raise ChartInvalid("Chart.yaml is not a mapping")
    details = ChartDetails()
    if metadata.get("apiVersion") == "v2":
        details.dependencies = _dependencies(metadata.get("dependencies"))
    elif isinstance(requirements, dict):
        details.dependencies = _dependencies(requirements.get("dependencies"))
    if "VALUES.YAML" in files:
        details.values = files["VALUES.YAML"].decode("utf-8", "replace")
    if "README.MD" in files:
        details.readme = files["README.MD"].decode("utf-8", "replace")
    return details
