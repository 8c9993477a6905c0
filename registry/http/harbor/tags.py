"""Harbor's tags of an artifact: list, create (a new tag on the artifact, 409 when the
repository has it already), delete — through the content core."""

from __future__ import annotations

from aiohttp import web

from wharf.auth.errors import BadRequest, NotFound
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.artifacts import (
    ARTIFACT_PATH,
    REFERENCE,
    REPOSITORY_NAME,
    Tag,
    as_harbor_errors,
    find_artifact,
    immutable_matcher,
    require,
    tag_doc,
)
from wharf.registry.http.harbor.common import (
    authenticated,
    content_of,
    event_actor,
    ok,
    paged,
)
from wharf.registry.http.harbor.query import Fields, Sort, list_query, page_of, select
from wharf.registry.http.harbor.spec import (
    LISTING,
    PAGE_HEADERS,
    PROJECT_NAME,
    Api,
    Model,
    Param,
    Reply,
    read_body,
)
from wharf.registry.metadata.base import TagRow
from wharf.registry.oci.names import is_valid_tag

TAG_FIELDS: Fields[TagRow] = Fields(
    filters={
        "name": lambda t: t.name,
        "id": lambda t: t.id,
        "push_time": lambda t: t.pushed,
        "pull_time": lambda t: t.pulled or 0.0,
    },
    sorts={
        "name": lambda t: t.name,
        "id": lambda t: t.id,
        "push_time": lambda t: t.pushed,
        "pull_time": lambda t: t.pulled or 0.0,
    },
    default=(Sort("push_time", True), Sort("id", True)),
)

api = Api("artifact")


class NewTag(Model):
    name: str


@api.operation(
    "createTag",
    "POST",
    ARTIFACT_PATH + "/tags",
    summary="Put a new tag on an artifact",
    params=(PROJECT_NAME, REPOSITORY_NAME, REFERENCE),
    body=NewTag,
    replies={201: Reply("Created")},
    errors=(400, 403, 404, 405, 409),
)
@authenticated
async def create_tag(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, NewTag)
    project = await require(request, actor, "tag", "create")
    if not is_valid_tag(req.name):
        raise BadRequest(f"invalid tag name: {req.name[:200]}")
    row = await find_artifact(request, project)
    with as_harbor_errors():
        await content_of(request).artifacts.tag(row, req.name, event_actor(request, actor))
    return web.Response(status=201)


@api.operation(
    "listTags",
    "GET",
    ARTIFACT_PATH + "/tags",
    summary="An artifact's tags",
    params=(
        PROJECT_NAME,
        REPOSITORY_NAME,
        REFERENCE,
        *LISTING,
        Param(
            "with_immutable_status",
            "query",
            bool,
            "Include whether the tags are immutable",
            default=False,
        ),
    ),
    replies={200: Reply("The tags", list[Tag], PAGE_HEADERS)},
    errors=(400, 403, 404),
)
@authenticated
async def list_tags(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await require(request, actor, "tag", "list")
    query = list_query(request)
    row = await find_artifact(request, project)
    kept = select(list(row.tags), query, TAG_FIELDS)
    wanted = request.query.get("with_immutable_status", "false").lower() == "true"
    matcher = await immutable_matcher(request, row.repo, wanted)
    docs = [tag_doc(row, tag, matcher) for tag in page_of(kept, query)]
    return paged(request, docs, len(kept), query)


@api.operation(
    "deleteTag",
    "DELETE",
    ARTIFACT_PATH + "/tags/{tag_name}",
    summary="Remove a tag from an artifact",
    params=(
        PROJECT_NAME,
        REPOSITORY_NAME,
        REFERENCE,
        Param("tag_name", "path", str, "The tag", required=True),
    ),
    replies={200: Reply("Deleted")},
    errors=(403, 404),
)
@authenticated
async def delete_tag(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await require(request, actor, "tag", "delete")
    row = await find_artifact(request, project)
    name = request.match_info["tag_name"]
    with as_harbor_errors():
        removed = await content_of(request).artifacts.untag(row, name, event_actor(request, actor))
    if not removed:
        raise NotFound(f"tag {name} attached to artifact {row.id} not found")
    return ok()
