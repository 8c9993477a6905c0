"""The settings of the sign-in modes (local database, LDAP, OIDC), with Harbor's names.

They come from the configuration file and ``WHARF_AUTH__*`` (``registry.config`` mixes this
model into its ``auth`` section) and, for the keys the file and the environment leave
unset, from ``PUT /api/v2.0/configurations`` (stored in the database; see
``wharf.auth.configuration``). Everything here is validated by the same model whichever
way it arrives.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

# Harbor's names of the modes in /api/v2.0/configurations (``auth_mode``)
MODE_NAMES = {"db": "db_auth", "ldap": "ldap_auth", "oidc": "oidc_auth"}
# settings never returned by the API (write-only)
SECRET_KEYS = frozenset({"ldap_search_password", "oidc_client_secret"})
_LDAP_URL = re.compile(r"^(ldaps?://)?(\[[0-9a-fA-F:.]+\]|[^\s/:]+)(:\d{1,5})?/?$")


class ExternalAuthSettings(BaseModel):
    """Which sign-in mode is on and how LDAP and OIDC are reached (and, as in Harbor's
    configurations, the default storage quota of new projects). ``mode`` is
    ``auth_mode`` in the API; every other name is Harbor's."""

    mode: Literal["db", "ldap", "oidc"] = "db"

    # --- LDAP ---------------------------------------------------------------
    ldap_url: str = ""  # ldap://host[:389] or ldaps://host[:636]
    ldap_base_dn: str = ""  # where users are searched
    ldap_search_dn: str = ""  # the account Wharf searches with ("" = anonymous)
    ldap_search_password: str = ""
    ldap_uid: str = "uid"  # the attribute a username is matched against
    ldap_filter: str = ""  # extra condition users must match, e.g. (objectClass=person)
    ldap_scope: int = Field(default=2, ge=0, le=2)  # 0 base, 1 one level, 2 subtree
    ldap_timeout: float = Field(default=5.0, gt=0, le=300)  # connect and answer, seconds
    ldap_verify_cert: bool = True
    ldap_ca_file: str = ""  # PEM bundle trusted for ldaps/StartTLS ("" = system CAs)
    ldap_starttls: bool = False  # ldap:// upgraded with StartTLS before any bind
    ldap_pool_size: int = Field(default=4, ge=1, le=64)  # connections per process
    ldap_group_base_dn: str = ""  # where groups live ("" = ldap_base_dn)
    ldap_group_search_filter: str = ""  # e.g. (objectClass=groupOfNames)
    ldap_group_attribute_name: str = "cn"  # the group's name
    ldap_group_search_scope: int = Field(default=2, ge=0, le=2)
    ldap_group_admin_dn: str = ""  # members of this group (nested too) are system admins
    ldap_group_membership_attribute: str = "memberof"  # on user (and group) entries
    # how old a user's groups may be before a request with their token re-reads them from
    # the directory (seconds); a login always re-reads them
    ldap_group_refresh: float = Field(default=300.0, ge=0, le=86400)

    # --- OIDC ---------------------------------------------------------------
    oidc_name: str = ""  # the provider's name shown on the login page
    oidc_endpoint: str = ""  # the issuer URL (discovery at /.well-known/openid-configuration)
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scope: str = "openid,offline_access"  # comma-separated, as in Harbor
    oidc_groups_claim: str = ""  # the ID token claim listing the user's groups
    oidc_admin_group: str = ""  # members of this group are system admins
    oidc_group_filter: str = ""  # regular expression groups must match to be kept
    oidc_user_claim: str = ""  # the claim the username comes from ("" = name)
    oidc_auto_onboard: bool = False  # onboard at first login without asking a username
    oidc_verify_cert: bool = True
    oidc_ca_file: str = ""  # PEM bundle trusted for the provider ("" = system CAs)
    # a CLI secret's use checks the user with the provider (refresh token) at most this
    # often (seconds)
    oidc_cli_check_interval: float = Field(default=60.0, ge=0, le=86400)

    # --- projects -------------------------------------------------------------
    # Harbor keeps it among these settings: the storage limit (bytes) a project created
    # without one gets; -1 unlimited (else 1 byte to 1024 TB)
    storage_per_project: int = Field(default=-1, ge=-1, le=1024**5)

    @field_validator("ldap_url")
    @classmethod
    def _check_ldap_url(cls, value: str) -> str:
        value = value.strip()
        if value and not _LDAP_URL.match(value):
            raise ValueError("must be ldap://HOST[:PORT] or ldaps://HOST[:PORT]")
        return value

    @field_validator("oidc_endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
            raise ValueError("must be the provider's http(s) issuer URL")
        return value

    @field_validator("storage_per_project")
    @classmethod
    def _check_storage_per_project(cls, value: int) -> int:
        if value == 0:
            raise ValueError("-1 (unlimited) or 1 to 1024 TB in bytes")
        return value

    @field_validator("oidc_group_filter")
    @classmethod
    def _check_group_filter(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("ldap_ca_file", "oidc_ca_file")
    @classmethod
    def _check_ca_file(cls, value: str) -> str:
        if value and not Path(value).is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @property
    def oidc_scopes(self) -> list[str]:
        scopes = [s.strip() for s in self.oidc_scope.split(",") if s.strip()]
        return scopes if "openid" in scopes else ["openid", *scopes]

    def ldap_problem(self) -> str | None:
        """Why LDAP sign-in can't work with these settings, or None."""
        if not self.ldap_url:
            return "ldap_url is not set"
        if not self.ldap_base_dn:
            return "ldap_base_dn is not set"
        return None

    def oidc_problem(self) -> str | None:
        """Why OIDC sign-in can't work with these settings, or None."""
        for key in ("oidc_endpoint", "oidc_client_id", "oidc_client_secret"):
            if not getattr(self, key):
                return f"{key} is not set"
        return None


SETTING_KEYS = tuple(ExternalAuthSettings.model_fields)


def api_key(field: str) -> str:
    """The name of a setting in /api/v2.0/configurations."""
    return "auth_mode" if field == "mode" else field


def field_of(key: str) -> str | None:
    """The setting an API key names, or None when it names none of ours."""
    if key == "mode":
        return None
    name = "mode" if key == "auth_mode" else key
    return name if name in ExternalAuthSettings.model_fields else None
