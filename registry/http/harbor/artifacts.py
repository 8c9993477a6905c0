"""Harbor's /projects/{project}/repositories/{repo}/artifacts: list, delete (through the
content core)."""

from __future__ import annotations

import urllib.parse

from aiohttp import web

from wharf.auth.errors import Forbidden, NotFound
from wharf.auth.models import DELETE, LIST, PULL
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import (
    auth_of,
    authenticated,
    content_of,
    event_actor,
    harbor_time,
    ok,
    page_slice,
    paged,
    project_ref,
    requested_page,
)
from wharf.registry.http.harbor.repositories import repository_name
from wharf.registry.http.keys import STORE
from wharf.registry.oci.names import is_digest_reference, parse_digest


@authenticated
async def list_artifacts(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await auth_of(request).projects.require(actor, project_ref(request), PULL)
    if LIST not in actor.permissions(project.name):
        raise Forbidden("permission denied")
    repo = repository_name(request, project.name)
    artifacts = await request.config_dict[STORE].artifacts(repo)
    if artifacts is None:
        raise NotFound(f"repository {repo} not found")
    page = requested_page(request)
    docs = [
        {
            "digest": a.record.digest,
            "media_type": a.record.media_type,
            "manifest_media_type": a.record.media_type,
            "artifact_type": a.record.artifact_type,
            "size": a.record.size,
            "push_time": harbor_time(a.pushed),
            "repository_name": repo,
            "project_id": project.id,
            "tags": [{"name": t.name, "push_time": harbor_time(t.pushed)} for t in a.tags],
        }
        for a in page_slice(artifacts, page)
    ]
    return paged(request, docs, len(artifacts), page)


@authenticated
async def delete_artifact(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await auth_of(request).projects.require(actor, project_ref(request), DELETE)
    repo = repository_name(request, project.name)
    reference = urllib.parse.unquote(request.match_info["reference"])
    manifests = content_of(request).manifests
    if is_digest_reference(reference):
        digest = parse_digest(reference)
    else:
        digest = parse_digest((await manifests.find(repo, reference)).digest)
    await manifests.delete(repo, digest, event_actor(request, actor))
    return ok()


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/projects/{project}/repositories/{repo}/artifacts", list_artifacts)
    router.add_delete(
        "/projects/{project}/repositories/{repo}/artifacts/{reference}", delete_artifact
    )
