"""What a remote registry is to the client: its URL, its type, the credential to present
and how to trust its TLS certificate; and what each endpoint type can do.

Types (Harbor's adapter names where Harbor has one):

- ``wharf``: another Wharf — Docker token auth at ``/service/token``, the referrers API,
  tag-list pagination, a catalog filtered to what the caller may list;
- ``harbor``: Harbor 2.x — the same protocol (its catalog is for system admins only);
- ``docker-registry``: CNCF distribution (``registry:2``, Debian's ``docker-registry``) —
  Basic or token auth, no referrers API (referrers live under the tag schema
  ``sha256-<hex>``), tag lists unpaginated;
- ``oci``: any registry speaking the OCI distribution spec — the referrers API is tried
  first and the tag schema used when it answers 404;
- ``docker-hub``: Docker Hub — the registry is ``registry-1.docker.io`` whatever the
  configured web address, the token service is another host (``auth.docker.io``, found
  from the challenge), one-component names are ``library/<name>``, and there is no catalog.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

DOCKER_HUB_REGISTRY = "https://registry-1.docker.io"
# addresses people give for Docker Hub; the distribution API is on DOCKER_HUB_REGISTRY
DOCKER_HUB_ALIASES = frozenset(
    {
        "hub.docker.com",
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
        "registry.hub.docker.com",
    }
)


class Referrers(Enum):
    """How referrers of a manifest are found on a remote."""

    API = "api"  # GET /v2/<name>/referrers/<digest>
    TAG_SCHEMA = "tag-schema"  # the index tagged sha256-<hex>
    API_THEN_TAG_SCHEMA = "api-then-tag-schema"  # the API; the tag schema when it is 404


@dataclass(frozen=True, slots=True)
class EndpointType:
    name: str
    description: str
    referrers: Referrers
    catalog: bool  # GET /v2/_catalog is served
    mount: bool  # cross-repository blob mounts (POST ?mount=&from=)
    default_url: str | None = None  # the URL used when none is given


ENDPOINT_TYPES: dict[str, EndpointType] = {
    t.name: t
    for t in (
        EndpointType("wharf", "Wharf registry", Referrers.API, catalog=True, mount=True),
        EndpointType("harbor", "Harbor registry", Referrers.API_THEN_TAG_SCHEMA, True, True),
        EndpointType(
            "docker-registry",
            "CNCF distribution (docker registry v2)",
            Referrers.TAG_SCHEMA,
            catalog=True,
            mount=True,
        ),
        EndpointType(
            "oci",
            "Registry speaking the OCI distribution spec",
            Referrers.API_THEN_TAG_SCHEMA,
            catalog=True,
            mount=True,
        ),
        EndpointType(
            "docker-hub",
            "Docker Hub",
            Referrers.API_THEN_TAG_SCHEMA,
            catalog=False,
            mount=True,
            default_url="https://hub.docker.com",
        ),
    )
}


class InvalidEndpoint(ValueError):
    """An endpoint that cannot be used (unknown type, bad URL, unreadable CA)."""


@dataclass(frozen=True, slots=True)
class Credential:
    """``basic``: a username and password (Basic auth, or the token service's GET with
    Basic); ``oauth``: the same pair through the OAuth2 password grant (POST to the token
    realm), then refresh tokens."""

    access_key: str
    access_secret: str = field(repr=False)
    kind: str = "basic"

    def __post_init__(self) -> None:
        if self.kind not in ("basic", "oauth"):
            raise InvalidEndpoint(f"credential type must be basic or oauth, not {self.kind!r}")


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    type: str = "oci"
    credential: Credential | None = None
    insecure: bool = False  # do not verify the TLS certificate
    ca_certificate: str | None = None  # PEM (one or more certificates) trusted for this one
    name: str = ""  # for log lines

    def __post_init__(self) -> None:
        if self.type not in ENDPOINT_TYPES:
            known = ", ".join(ENDPOINT_TYPES)
            raise InvalidEndpoint(f"unknown registry type {self.type!r} (one of {known})")
        normalize_url(self.url)

    @property
    def kind(self) -> EndpointType:
        return ENDPOINT_TYPES[self.type]

    @property
    def api_url(self) -> str:
        """Where the distribution API (``/v2/``) is served."""
        url = normalize_url(self.url)
        if self.type == "docker-hub" and urlsplit(url).hostname in DOCKER_HUB_ALIASES:
            return DOCKER_HUB_REGISTRY
        return url

    def repository(self, name: str) -> str:
        """The name of a repository on this remote (Docker Hub's official images live
        under ``library/``)."""
        if self.type == "docker-hub" and "/" not in name:
            return f"library/{name}"
        return name


def normalize_url(url: str) -> str:
    """``url`` without a trailing slash; http(s) with a host, no query or fragment."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError as exc:
        raise InvalidEndpoint(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidEndpoint(f"not an http(s) URL with a host: {url!r}")
    if parts.query or parts.fragment:
        raise InvalidEndpoint(f"the URL must not carry a query or fragment: {url!r}")
    return url.strip().rstrip("/")


def harbor_url(text: str) -> str:
    """A registry URL as Harbor accepts one: ``http://`` when no scheme is given, no
    trailing slash, query and fragment dropped (``scheme://host[:port][/path]``)."""
    text = text.strip().rstrip("/")
    if not text:
        raise InvalidEndpoint("the URL is empty")
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError as exc:
        raise InvalidEndpoint(f"invalid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidEndpoint(f"invalid HTTP scheme: {parts.scheme}")
    if not parts.netloc or not parts.hostname:
        raise InvalidEndpoint(f"invalid URL: {text}")
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


def ssl_context(endpoint: Endpoint, ca_bundle: Path | None = None) -> ssl.SSLContext | bool:
    """How to check the remote's certificate: not at all (``insecure``), else against
    ``ca_bundle`` (a PEM file; default: the system's trust store) plus the endpoint's own
    ``ca_certificate``. Plain http endpoints ignore it."""
    if endpoint.insecure:
        return False
    try:
        context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
        if endpoint.ca_certificate:
            context.load_verify_locations(cadata=endpoint.ca_certificate)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise InvalidEndpoint(f"cannot use the CA certificates: {exc}") from exc
    return context


def check_ca_certificate(pem: str) -> None:
    """Raise ``InvalidEndpoint`` unless ``pem`` holds at least one PEM certificate."""
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise InvalidEndpoint("ca_certificate must be PEM-encoded certificates")
    try:
        ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:
        raise InvalidEndpoint(f"ca_certificate is not a valid certificate: {exc}") from exc
