"""Per-run state handed to every check: client, repository names, shared fixtures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .client import Client
from .framework import CheckFailed
from .oci import Manifest, random_image


@dataclass
class Context:
    client: Client
    repo: str  # main repository (OCI_NAMESPACE + per-run suffix)
    mount_repo: str  # target of cross-repository mounts (OCI_CROSSMOUNT_NAMESPACE)
    run_id: str
    state: dict[str, Any] = field(default_factory=dict)

    def sub(self, suffix: str) -> str:
        """A fresh repository name derived from the main one (for isolated checks)."""
        return f"{self.repo}-{suffix}"

    def image(self) -> Manifest:
        """An OCI image pushed (blobs and manifest) to ``repo`` under tag ``ctx.tag``."""
        if "image" not in self.state:
            m = random_image(layers=2, size=4096)
            try:
                self.client.push_manifest(self.repo, self.tag, m)
            except CheckFailed as e:
                self.state["image"] = e
            else:
                self.state["image"] = m
        got = self.state["image"]
        if isinstance(got, CheckFailed):
            raise CheckFailed(f"fixture push failed: {got}")
        assert isinstance(got, Manifest)
        return got

    @property
    def tag(self) -> str:
        return "fixture"
