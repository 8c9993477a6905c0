"""The auth layer's settings (built from the configuration by the wiring)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AuthOptions:
    auto_create_projects: bool = False
    admin_password: str | None = None
    public_projects: tuple[str, ...] = ("library",)
    revalidate_tokens: bool = True
    project_creation: str = "everyone"  # or "adminonly"
    audit_retention_days: int = 90  # 0: keep everything
