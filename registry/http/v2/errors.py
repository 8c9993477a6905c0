"""Rendering OCI errors as HTTP responses (the catalog itself lives in wharf.registry.oci)."""

from __future__ import annotations

from aiohttp import web

from wharf.registry.oci.errors import RegistryError

API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")


def error_response(err: RegistryError) -> web.Response:
    headers = {"Content-Type": "application/json", **err.headers}
    return web.Response(status=err.status, body=err.body(), headers=headers)
