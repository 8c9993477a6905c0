"""Parse a raw /v2/ request path into an endpoint.

Repository names contain slashes, so the endpoint is found from the right of the
path. The raw (still percent-encoded) path is used: the name grammar has no `%`,
so an encoded `..` or `/` can never turn into a name, let alone a file path.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from urllib.parse import unquote

from aiohttp import web

from wharf.registry.oci.errors import NAME_INVALID, RegistryError
from wharf.registry.oci.names import parse_name


class Endpoint(Enum):
    BASE = "base"
    CATALOG = "catalog"
    BLOB = "blob"
    UPLOAD_START = "upload_start"
    UPLOAD = "upload"
    MANIFEST = "manifest"
    TAGS = "tags"
    REFERRERS = "referrers"


@dataclass(frozen=True, slots=True)
class Route:
    endpoint: Endpoint
    name: str = ""
    arg: str = ""


# The route of a /v2 request, parsed once by the entry middleware.
ROUTE = web.RequestKey("route", Route)


class NotARoute(Exception):
    """The path is not a distribution API endpoint (404 with an OCI body)."""


def parse_route(raw_path: str) -> Route:
    path = raw_path.split("?", 1)[0]
    if path in ("/v2", "/v2/"):
        return Route(Endpoint.BASE)
    if not path.startswith("/v2/"):
        raise NotARoute(path)
    rest = path[4:]
    if rest in ("_catalog", "_catalog/"):
        return Route(Endpoint.CATALOG)
    segments = rest.split("/")
    n = len(segments)
    endpoint: Endpoint | None = None
    name_end = 0
    arg = ""
    if n >= 3 and segments[-2:] == ["tags", "list"]:
        endpoint, name_end = Endpoint.TAGS, n - 2
    elif n >= 4 and segments[-3:-1] == ["blobs", "uploads"]:
        endpoint = Endpoint.UPLOAD if segments[-1] else Endpoint.UPLOAD_START
        name_end, arg = n - 3, segments[-1]
    elif n >= 3 and segments[-2] == "blobs":
        endpoint, name_end, arg = Endpoint.BLOB, n - 2, segments[-1]
        if arg == "uploads":
            endpoint, arg = Endpoint.UPLOAD_START, ""
    elif n >= 3 and segments[-2] == "manifests":
        endpoint, name_end, arg = Endpoint.MANIFEST, n - 2, segments[-1]
    elif n >= 3 and segments[-2] == "referrers":
        endpoint, name_end, arg = Endpoint.REFERRERS, n - 2, segments[-1]
    if endpoint is None:
        raise NotARoute(path)
    name = "/".join(segments[:name_end])
    if "%" in name:
        raise RegistryError(NAME_INVALID, {"name": name[:300]})
    return Route(endpoint, parse_name(name), unquote(arg))
