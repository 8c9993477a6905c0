"""Harbor's /projects/{project}/metadatas: a project's settings (public, auto_scan,
severity, …) one key at a time. The keys, their values and who may change them are the
project service's (auth); ``public`` is the project's visibility, as in GET /projects/{p}."""

from __future__ import annotations

from aiohttp import web
from pydantic import RootModel

from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import auth_of, authenticated, json_response, ok, project_ref
from wharf.registry.http.harbor.spec import (
    IS_RESOURCE_NAME,
    PROJECT_NAME_OR_ID,
    Api,
    Param,
    Reply,
    read_body,
)


class ProjectMetadataMap(RootModel[dict[str, str]]):
    """Metadata keys and their values, all strings ("true", "high", …)."""


META_NAME = Param("meta_name", "path", str, "The name of metadata.", required=True)
PARAMS = (IS_RESOURCE_NAME, PROJECT_NAME_OR_ID)
ERRORS = (400, 401, 403, 404)

api = Api("projectMetadata")


async def sent_metadata(request: web.Request) -> dict[str, str]:
    """The body's key/value pairs; none when there is no body (Harbor's is optional)."""
    if not (await request.read()).strip():
        return {}
    return (await read_body(request, ProjectMetadataMap)).root


@api.operation(
    "listProjectMetadatas",
    "GET",
    "/projects/{project_name_or_id}/metadatas/",
    summary="Get the metadata of the specific project",
    params=PARAMS,
    replies={200: Reply("Success", dict[str, str])},
    errors=ERRORS,
)
@authenticated
async def list_metadatas(request: web.Request, actor: Principal) -> web.StreamResponse:
    return json_response(await auth_of(request).projects.metadata(actor, project_ref(request)))


@api.operation(
    "addProjectMetadatas",
    "POST",
    "/projects/{project_name_or_id}/metadatas/",
    summary="Add metadata for the specific project",
    params=PARAMS,
    body=ProjectMetadataMap,
    replies={200: Reply("Success")},
    errors=(*ERRORS, 409),
)
@authenticated
async def add_metadatas(request: web.Request, actor: Principal) -> web.StreamResponse:
    metadata = await sent_metadata(request)
    await auth_of(request).projects.add_metadata(actor, project_ref(request), metadata)
    return ok()


@api.operation(
    "getProjectMetadata",
    "GET",
    "/projects/{project_name_or_id}/metadatas/{meta_name}",
    summary="Get the specific metadata of the specific project",
    params=(*PARAMS, META_NAME),
    replies={200: Reply("Success", dict[str, str])},
    errors=ERRORS,
)
@authenticated
async def get_metadata(request: web.Request, actor: Principal) -> web.StreamResponse:
    key = request.match_info["meta_name"]
    found = await auth_of(request).projects.metadata(actor, project_ref(request), key)
    return json_response(found)


@api.operation(
    "updateProjectMetadata",
    "PUT",
    "/projects/{project_name_or_id}/metadatas/{meta_name}",
    summary="Update the specific metadata for the specific project",
    params=(*PARAMS, META_NAME),
    body=ProjectMetadataMap,
    replies={200: Reply("Success")},
    errors=(*ERRORS, 409),
)
@authenticated
async def update_metadata(request: web.Request, actor: Principal) -> web.StreamResponse:
    key = request.match_info["meta_name"]
    # as Harbor: the value is the body's entry for the key named in the path
    value = (await sent_metadata(request)).get(key, "")
    await auth_of(request).projects.update_metadata(actor, project_ref(request), key, value)
    return ok()


@api.operation(
    "deleteProjectMetadata",
    "DELETE",
    "/projects/{project_name_or_id}/metadatas/{meta_name}",
    summary="Delete the specific metadata for the specific project",
    params=(*PARAMS, META_NAME),
    replies={200: Reply("Success")},
    errors=(*ERRORS, 409),
)
@authenticated
async def delete_metadata(request: web.Request, actor: Principal) -> web.StreamResponse:
    key = request.match_info["meta_name"]
    await auth_of(request).projects.delete_metadata(actor, project_ref(request), key)
    return ok()
