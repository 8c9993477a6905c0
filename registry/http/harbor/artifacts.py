"""Harbor's artifacts: a repository's (list with ``q``, read one by tag or digest, delete,
copy in from elsewhere), a project's (list), their accessories and additions, and the
labels attached to them. Everything goes through the content core
(``wharf.registry.content.artifacts``); this module checks Harbor's permissions and
renders Harbor's shapes."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from aiohttp import web

from wharf.auth.errors import (
    AlreadyExists,
    AuthError,
    BadRequest,
    Forbidden,
    NotFound,
    Unauthorized,
)
from wharf.auth.models import LIST, Project, policy
from wharf.auth.principals import Principal
from wharf.registry.content.artifacts import Accessory as AccessoryRecord
from wharf.registry.content.artifacts import (
    AdditionMissing,
    AdditionUnsupported,
    Referenced,
    facts,
    is_accessory,
    is_listed,
    processor,
)
from wharf.registry.content.manifests import TagExists
from wharf.registry.http.harbor.common import (
    PREFIX,
    auth_of,
    authenticated,
    content_of,
    event_actor,
    harbor_time,
    json_response,
    ok,
    paged,
    project_ref,
)
from wharf.registry.http.harbor.labels import Label, known_id, label_doc
from wharf.registry.http.harbor.query import (
    AndList,
    Exact,
    Fields,
    Fuzzy,
    ListQuery,
    Sort,
    Unprocessable,
    list_query,
    page_of,
    select,
)
from wharf.registry.http.harbor.spec import (
    IS_RESOURCE_NAME,
    LISTING,
    PAGE_HEADERS,
    PROJECT_NAME,
    PROJECT_NAME_OR_ID,
    Api,
    Model,
    Param,
    Reply,
    as_bool,
    read_body,
)
from wharf.registry.http.keys import IMMUTABLE, STORE
from wharf.registry.metadata.base import ArtifactRow, TagRow
from wharf.registry.oci import artifacts as kinds
from wharf.registry.oci.errors import (
    BLOB_UNKNOWN,
    DIGEST_INVALID,
    MANIFEST_UNKNOWN,
    NAME_INVALID,
    NAME_UNKNOWN,
    TAG_INVALID,
    RegistryError,
)
from wharf.registry.oci.names import is_valid_name
from wharf.registry.policy.immutable import NO_RULES, Matcher, split_repository

# Harbor's time for "never" (Go's zero time): the pull time of what was never pulled
NEVER = "0001-01-01T00:00:00.000Z"


class ReferencedArtifact(AuthError):
    """Harbor's answer to deleting a manifest an index holds."""

    code, status = "VIOLATE_FOREIGN_KEY_CONSTRAINT", 412


# --- shapes ---------------------------------------------------------------------------
class Tag(Model):
    id: int
    repository_id: int
    artifact_id: int
    name: str
    push_time: str | None
    pull_time: str | None
    immutable: bool


class AdditionLink(Model):
    href: str
    absolute: bool


class Reference(Model):
    parent_id: int
    child_id: int
    child_digest: str
    # architecture, os, variant, and (keys with the quotes in them, as Harbor's)
    # 'os.version' and 'os.features'
    platform: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None
    urls: list[Any] | None = None


class Accessory(Model):
    id: int
    artifact_id: int
    subject_artifact_id: int
    subject_artifact_digest: str
    subject_artifact_repo: str
    size: int
    digest: str
    type: str
    icon: str
    creation_time: str | None


class Artifact(Model):
    id: int
    type: str
    media_type: str
    manifest_media_type: str
    artifact_type: str
    project_id: int
    repository_id: int
    repository_name: str
    digest: str
    size: int
    icon: str
    push_time: str | None
    pull_time: str | None
    extra_attrs: dict[str, Any]
    annotations: dict[str, str]
    references: list[Reference] | None = None
    tags: list[Tag] | None = None
    addition_links: dict[str, AdditionLink]
    labels: list[Label] | None = None
    accessories: list[Accessory] | None = None
    inherited_accessories: list[Accessory] | None = None


# --- parameters -----------------------------------------------------------------------
REPOSITORY_NAME = Param(
    "repository_name",
    "path",
    str,
    "The repository's name in its project; a/b is encoded twice: a%252Fb",
    required=True,
)
REFERENCE = Param("reference", "path", str, "A tag or a digest of the artifact", required=True)
ACCEPT_VULNERABILITIES = Param(
    "X-Accept-Vulnerabilities", "header", str, "Scan report types (Wharf has no scanner)"
)
WITH_TAG = Param("with_tag", "query", bool, "Include the tags", default=True)
WITH_LABEL = Param("with_label", "query", bool, "Include the labels", default=False)
WITH_SCAN = Param("with_scan_overview", "query", bool, "No scanner: none", default=False)
WITH_SBOM = Param("with_sbom_overview", "query", bool, "No scanner: none", default=False)
WITH_IMMUTABLE = Param(
    "with_immutable_status", "query", bool, "Include whether tags are immutable", default=False
)
WITH_ACCESSORY = Param("with_accessory", "query", bool, "Include the accessories", default=False)
WITH_INHERITED = Param(
    "with_inherited_accessory",
    "query",
    bool,
    "Include the signatures of the indexes holding the artifact",
    default=False,
)
WITH_SIGNATURE = Param("with_signature", "query", bool, "Accepted, as Harbor", default=False)
ARTIFACT_OPTIONS = (
    ACCEPT_VULNERABILITIES,
    WITH_TAG,
    WITH_LABEL,
    WITH_SCAN,
    WITH_SBOM,
    WITH_IMMUTABLE,
    WITH_ACCESSORY,
    WITH_INHERITED,
)
REPOSITORY_PATH = "/projects/{project_name}/repositories/{repository_name}"
ARTIFACT_PATH = REPOSITORY_PATH + "/artifacts/{reference}"


def flag(request: web.Request, param: Param) -> bool:
    raw = request.query.get(param.name)
    return bool(param.default) if raw is None else as_bool(raw)


# --- shared with the other resource modules -------------------------------------------
def repository_name(request: web.Request, project: str) -> str:
    """Harbor names a repository inside its project, URL-encoded twice (a/b → a%252Fb)."""
    return f"{project}/{urllib.parse.unquote(request.match_info['repository_name'])}"


def encoded(name: str) -> str:
    """A repository's name inside its project as Harbor's paths carry it (a/b → a%252Fb)."""
    return name.split("/", 1)[1].replace("/", "%252F")


# Robots given registry actions only (pull) carry the coarse LIST instead of the list
# policies: they may list what they may pull, as in the catalog.
COARSE_LISTING = {("repository", "list"): LIST, ("artifact", "list"): LIST}


async def require(request: web.Request, actor: Principal, resource: str, action: str) -> Project:
    """The project of the path, when ``actor`` holds Harbor's policy there."""
    projects = auth_of(request).projects
    try:
        return await projects.require(actor, project_ref(request), policy(resource, action))
    except (Forbidden, Unauthorized):
        coarse = COARSE_LISTING.get((resource, action))
        if coarse is None:
            raise
        return await projects.require(actor, project_ref(request), coarse)


@contextmanager
def as_harbor_errors() -> Iterator[None]:
    """The content core's errors as Harbor names them."""
    try:
        yield
    except RegistryError as exc:
        if exc.error in (MANIFEST_UNKNOWN, NAME_UNKNOWN, BLOB_UNKNOWN):
            raise NotFound(exc.message) from None
        if exc.error in (TAG_INVALID, NAME_INVALID, DIGEST_INVALID):
            raise BadRequest(exc.message) from None
        raise
    except TagExists as exc:
        raise AlreadyExists(f"tag {exc} already exists") from None
    except Referenced:
        raise ReferencedArtifact("the deleting artifact is referenced by others") from None


async def find_artifact(request: web.Request, project: Project) -> ArtifactRow:
    """The artifact the path names (404 NOT_FOUND when there is none)."""
    repo = repository_name(request, project.name)
    reference = request.match_info["reference"]
    try:
        with as_harbor_errors():
            return await content_of(request).artifacts.find(repo, reference)
    except BadRequest:  # no such tag or digest can exist: Harbor looks it up all the same
        raise NotFound(f"artifact {repo}:{reference} not found") from None


async def immutable_matcher(request: web.Request, repo: str, wanted: bool) -> Matcher:
    """The immutable rules of ``repo``'s project when the request asks for the status."""
    if not wanted:
        return NO_RULES
    project, _ = split_repository(repo)
    return await request.config_dict[IMMUTABLE].matcher(project)


def tag_doc(row: ArtifactRow, tag: TagRow, matcher: Matcher = NO_RULES) -> Tag:
    """A tag as Harbor shows it; ``immutable`` when a rule of ``matcher`` (the project's,
    asked for with ``with_immutable_status``) holds it."""
    _, path = split_repository(row.repo)
    # built from the store's typed rows: no validation to pay for (an artifact may carry
    # thousands of tags, and every list renders them all, as Harbor's does)
    return Tag.model_construct(
        id=tag.id,
        repository_id=row.repo_id,
        artifact_id=row.id,
        name=tag.name,
        push_time=harbor_time(tag.pushed),
        pull_time=harbor_time(tag.pulled) or NEVER,
        immutable=bool(matcher) and matcher.holding(path, tag.name) is not None,
    )


def accessory_doc(accessory: AccessoryRecord) -> Accessory:
    row = accessory.row
    return Accessory(
        id=row.id,
        artifact_id=row.id,
        subject_artifact_id=accessory.subject.id,
        subject_artifact_digest=accessory.subject.record.digest,
        subject_artifact_repo=row.repo,
        size=facts(row).size,
        digest=row.record.digest,
        type=accessory.type,
        icon="",
        creation_time=harbor_time(row.pushed),
    )


class Views:
    """Renders artifacts of one request with the options it asks for."""

    def __init__(self, request: web.Request, every: list[ArtifactRow]) -> None:
        self.request = request
        self.every = every  # the rows of the repositories concerned (accessories too)
        self.by_key = {(r.repo_id, r.record.digest): r for r in every}

    async def render(self, rows: list[ArtifactRow], project_id: int) -> list[Artifact]:
        request = self.request
        core = content_of(request).artifacts
        with_accessory = flag(request, WITH_ACCESSORY)
        with_inherited = flag(request, WITH_INHERITED)
        accessories: dict[int, list[AccessoryRecord]] = {}
        if with_accessory or with_inherited:
            subjects = list(rows)
            if with_inherited:
                subjects += [p for r in rows for p in self.parents(r)]
            accessories = await core.accessories(subjects, self.every)
        with_tag, with_label = flag(request, WITH_TAG), flag(request, WITH_LABEL)
        labels: dict[int, Label] = {}
        if with_label:
            wanted = sorted({i for r in rows for i in r.labels})
            found = await request.config_dict[STORE].labels(None, None, wanted)
            labels = {label.id: label_doc(label) for label in found}
        docs = []
        with_immutable = flag(request, WITH_IMMUTABLE)
        for row in rows:
            doc = await self.artifact(row, project_id)
            if with_tag:
                newest = sorted(row.tags, key=lambda t: (-t.pushed, -t.id))  # Harbor's order
                matcher = await immutable_matcher(request, row.repo, with_immutable)
                doc.tags = [tag_doc(row, t, matcher) for t in newest]
            if labels:
                doc.labels = [labels[i] for i in row.labels if i in labels]
            elif with_label:
                doc.labels = []
            if with_accessory:
                doc.accessories = [accessory_doc(a) for a in accessories.get(row.id, [])]
            if with_inherited:
                doc.inherited_accessories = self.inherited(row, accessories)
            docs.append(doc)
        return docs

    def parents(self, row: ArtifactRow) -> list[ArtifactRow]:
        if not row.referenced:
            return []
        return [
            r for r in self.every if r.repo_id == row.repo_id and row.record.digest in r.children
        ]

    def inherited(
        self, row: ArtifactRow, accessories: dict[int, list[AccessoryRecord]]
    ) -> list[Accessory] | None:
        """Signatures of the indexes holding ``row``, unless it is signed itself."""
        own = accessories.get(row.id, [])
        if any(a.type in kinds.SIGNATURES for a in own):
            return None
        found = [
            accessory_doc(a)
            for parent in self.parents(row)
            for a in accessories.get(parent.id, [])
            if a.type in kinds.SIGNATURES
        ]
        return found or None

    async def artifact(self, row: ArtifactRow, project_id: int) -> Artifact:
        core = content_of(self.request).artifacts
        kind = processor(row)
        references = None
        entries = await core.index_entries(row)
        if entries:
            references = [
                Reference(
                    parent_id=row.id,
                    child_id=child.id
                    if (child := self.by_key.get((row.repo_id, e.digest))) is not None
                    else 0,
                    child_digest=e.digest,
                    platform=None if e.platform is None else kinds.platform_doc(e.platform),
                    annotations=e.annotations,
                    urls=e.urls,
                )
                for e in entries
            ]
        project, _ = row.repo.split("/", 1)
        links = {
            addition: AdditionLink(
                href=f"{PREFIX}/projects/{project}/repositories/{encoded(row.repo)}"
                f"/artifacts/{row.record.digest}/additions/{addition}",
                absolute=False,
            )
            for addition in kind.additions
        }
        annotations = row.record.annotations
        return Artifact(
            id=row.id,
            type=kind.type,
            media_type=facts(row).media_type,
            manifest_media_type=row.record.media_type,
            artifact_type=row.record.artifact_type or "",
            project_id=project_id,
            repository_id=row.repo_id,
            repository_name=row.repo,
            digest=row.record.digest,
            size=facts(row).size,
            icon="",
            push_time=harbor_time(row.pushed),
            pull_time=harbor_time(row.pulled) or NEVER,
            extra_attrs=await core.extra_attrs(row),
            annotations={} if annotations is None else _annotations(annotations),
            references=references,
            addition_links=links,
        )


def _annotations(raw: bytes) -> dict[str, str]:
    found = orjson.loads(raw)
    return found if isinstance(found, dict) else {}


# --- listing --------------------------------------------------------------------------
def _tagged(row: ArtifactRow) -> list[str]:
    return [t.name for t in row.tags]


ARTIFACT_FIELDS: Fields[ArtifactRow] = Fields(
    filters={
        "id": lambda r: r.id,
        "type": lambda r: processor(r).type,
        "media_type": lambda r: facts(r).media_type,
        "manifest_media_type": lambda r: r.record.media_type,
        "artifact_type": lambda r: r.record.artifact_type or "",
        "digest": lambda r: r.record.digest,
        "size": lambda r: facts(r).size,
        "push_time": lambda r: r.pushed,
        "pull_time": lambda r: r.pulled or 0.0,
        "repository_id": lambda r: r.repo_id,
        "repository_name": lambda r: r.repo,
    },
    sorts={
        "id": lambda r: r.id,
        "type": lambda r: processor(r).type,
        "media_type": lambda r: facts(r).media_type,
        "digest": lambda r: r.record.digest,
        "size": lambda r: facts(r).size,
        "push_time": lambda r: r.pushed,
        "pull_time": lambda r: r.pulled or 0.0,
        "repository_id": lambda r: r.repo_id,
        "repository_name": lambda r: r.repo,
    },
    default=(Sort("push_time", True), Sort("id", True)),
)


# the orders the store's pages come in (its default: newest push first)
NEWEST_FIRST: tuple[list[Sort], ...] = (
    [],
    [Sort("push_time", True)],
    list(ARTIFACT_FIELDS.default),
)


def chosen(rows: list[ArtifactRow], query: ListQuery) -> list[ArtifactRow]:
    """Harbor's artifact list: no accessories; no untagged index manifests (unless
    ``base=*``); the ``tags`` and ``labels`` terms; then every other term and the order."""
    base = query.term("base")
    if base is not None and base != Exact("*"):
        raise BadRequest('the value of "base" query can only be exact match value with "*"')
    kept = [r for r in rows if not is_accessory(r) and (base is not None or is_listed(r))]
    tags = query.term("tags", "Tags")
    if tags is not None:
        kept = [r for r in kept if _tags_match(r, tags)]
    labels = query.term("labels", "Labels")
    if labels is not None:
        if not isinstance(labels, AndList) or not all(isinstance(v, int) for v in labels.values):
            raise BadRequest(
                'the value of "labels" query can only be integer list with intersetion relationship'
            )
        kept = [r for r in kept if all(v in r.labels for v in labels.values)]
    return select(kept, query, ARTIFACT_FIELDS)


def _tags_match(row: ArtifactRow, term: object) -> bool:
    names = _tagged(row)
    if isinstance(term, Fuzzy):
        return any(term.value in name for name in names)
    if isinstance(term, Exact):
        if term.value == "*":
            return bool(names)
        if term.value == "nil":
            return not names
        return term.value in names
    raise BadRequest('the value of "tags" query can only be fuzzy match value or exact match value')


api = Api("artifact")


@api.operation(
    "listArtifacts",
    "GET",
    REPOSITORY_PATH + "/artifacts",
    summary="List a repository's artifacts",
    params=(PROJECT_NAME, REPOSITORY_NAME, *LISTING, *ARTIFACT_OPTIONS),
    replies={200: Reply("The artifacts", list[Artifact], PAGE_HEADERS)},
    errors=(400, 403, 404),
)
@authenticated
async def list_artifacts(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await require(request, actor, "artifact", "list")
    query = list_query(request)
    repo = repository_name(request, project.name)
    core = content_of(request).artifacts
    try:
        if not query.terms and query.sorts in NEWEST_FIRST:
            # the usual list (a UI's): the page alone, with what hangs on it
            window = query.window
            total, rows = await core.listed(repo, window.offset, window.limit)
            around = await core.around(repo, rows)
            docs = await Views(request, rows + around).render(rows, project.id)
            return paged(request, docs, total, query)
        every = await core.in_repository(repo)
    except RegistryError as exc:
        if exc.error is not NAME_UNKNOWN:
            raise
        every = []  # as Harbor: an empty list
    kept = chosen(every, query)
    docs = await Views(request, every).render(page_of(kept, query), project.id)
    return paged(request, docs, len(kept), query)


@api.operation(
    "listArtifactsOfProject",
    "GET",
    "/projects/{project_name_or_id}/artifacts",
    summary="List a project's artifacts",
    params=(
        IS_RESOURCE_NAME,
        PROJECT_NAME_OR_ID,
        *LISTING,
        *ARTIFACT_OPTIONS,
        Param(
            "latest_in_repository",
            "query",
            bool,
            "Only each repository's newest (with a media_type or artifact_type term)",
            default=False,
        ),
    ),
    replies={200: Reply("The artifacts", list[Artifact], PAGE_HEADERS)},
    errors=(400, 403, 404),
)
@authenticated
async def list_project_artifacts(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await require(request, actor, "artifact", "list")
    query = list_query(request)
    every = await content_of(request).artifacts.in_project(project.name)
    kept = chosen(every, query)
    latest = request.query.get("latest_in_repository")
    if latest is not None and as_bool(latest) and query.term("media_type", "artifact_type"):
        newest: dict[int, ArtifactRow] = {}
        for row in kept:
            current = newest.get(row.repo_id)
            if current is None or (row.pushed, row.id) > (current.pushed, current.id):
                newest[row.repo_id] = row
        kept = [r for r in kept if newest.get(r.repo_id) is r]
    docs = await Views(request, every).render(page_of(kept, query), project.id)
    return paged(request, docs, len(kept), query)


@api.operation(
    "getArtifact",
    "GET",
    ARTIFACT_PATH,
    summary="One artifact, by tag or digest",
    params=(
        PROJECT_NAME,
        REPOSITORY_NAME,
        REFERENCE,
        Param("page", "query", int, "Accepted, as Harbor", default=1),
        Param("page_size", "query", int, "Accepted, as Harbor", default=10, maximum=100),
        *ARTIFACT_OPTIONS,
        WITH_SIGNATURE,
    ),
    replies={200: Reply("The artifact", Artifact)},
    errors=(400, 403, 404),
)
@authenticated
async def get_artifact(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await require(request, actor, "artifact", "read")
    row = await find_artifact(request, project)
    every = [row]
    if flag(request, WITH_ACCESSORY) or flag(request, WITH_INHERITED) or row.children:
        every = await content_of(request).artifacts.in_repository(row.repo)
    [doc] = await Views(request, every).render([row], project.id)
    return json_response(doc)


@api.operation(
    "deleteArtifact",
    "DELETE",
    ARTIFACT_PATH,
    summary="Delete an artifact, its tags, accessories and the index manifests only it held",
    params=(PROJECT_NAME, REPOSITORY_NAME, REFERENCE),
    replies={200: Reply("Deleted")},
    errors=(403, 404, 412),
)
@authenticated
async def delete_artifact(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await require(request, actor, "artifact", "delete")
    row = await find_artifact(request, project)
    with as_harbor_errors():
        await content_of(request).artifacts.delete(row, event_actor(request, actor))
    return ok()


def parse_from(value: str) -> tuple[str, str]:
    """``project/repository:tag`` or ``project/repository@digest`` → (repository,
    reference); 400 for anything else."""
    repo, at, digest = value.partition("@")
    if at:
        reference = digest
    else:
        slash = repo.rfind("/")
        colon = repo.rfind(":")
        if colon > slash:
            repo, reference = repo[:colon], repo[colon + 1 :]
        else:
            reference = "latest"
    if "/" not in repo or not is_valid_name(repo) or not reference:
        raise BadRequest(f"invalid input: {value}")
    return repo, reference


@api.operation(
    "CopyArtifact",
    "POST",
    REPOSITORY_PATH + "/artifacts",
    summary="Copy an artifact here (from=project/repository:tag or @digest)",
    params=(
        PROJECT_NAME,
        REPOSITORY_NAME,
        Param(
            "from",
            "query",
            str,
            "project/repository:tag or project/repository@digest",
            required=True,
        ),
    ),
    replies={201: Reply("Copied", headers=("Location",))},
    errors=(400, 403, 404, 405),
)
@authenticated
async def copy_artifact(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await require(request, actor, "artifact", "create")
    source_repo, reference = parse_from(request.query["from"])
    source_project = source_repo.split("/", 1)[0]
    await auth_of(request).projects.require(actor, source_project, policy("artifact", "read"))
    target = repository_name(request, project.name)
    if not is_valid_name(target):
        raise BadRequest(f"invalid repository name: {target[:300]}")
    core = content_of(request).artifacts
    with as_harbor_errors():
        source = await core.find(source_repo, reference)
        await core.copy(source, target, event_actor(request, actor), lambda _: True)
    location = f"{request.path.rstrip('/')}/{reference}"
    return web.Response(status=201, headers={"Location": location})


# --- accessories and additions ------------------------------------------------------------
ACCESSORY_FIELDS: Fields[AccessoryRecord] = Fields(
    filters={
        "type": lambda a: a.type,
        "digest": lambda a: a.row.record.digest,
        "artifact_id": lambda a: a.row.id,
        "size": lambda a: facts(a.row).size,
        "creation_time": lambda a: a.row.pushed,
    },
    sorts={
        "id": lambda a: a.row.id,
        "type": lambda a: a.type,
        "size": lambda a: facts(a.row).size,
        "creation_time": lambda a: a.row.pushed,
    },
    default=(Sort("creation_time", True), Sort("id", True)),
)


@api.operation(
    "listAccessories",
    "GET",
    ARTIFACT_PATH + "/accessories",
    summary="An artifact's accessories: signatures, SBOMs and other referrers",
    params=(PROJECT_NAME, REPOSITORY_NAME, REFERENCE, *LISTING),
    replies={200: Reply("The accessories", list[Accessory], PAGE_HEADERS)},
    errors=(400, 403, 404),
)
@authenticated
async def list_accessories(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await require(request, actor, "accessory", "list")
    query = list_query(request)
    row = await find_artifact(request, project)
    core = content_of(request).artifacts
    every = await core.in_repository(row.repo)
    found = (await core.accessories([row], every)).get(row.id, [])
    kept = select(found, query, ACCESSORY_FIELDS)
    return paged(request, [accessory_doc(a) for a in page_of(kept, query)], len(kept), query)


ADDITION = Param(
    "addition",
    "path",
    str,
    "The addition: " + ", ".join(kinds.ADDITIONS),
    required=True,
)


@api.operation(
    "getAddition",
    "GET",
    ARTIFACT_PATH + "/additions/{addition}",
    summary="An addition of an artifact (an image's build history)",
    params=(PROJECT_NAME, REPOSITORY_NAME, REFERENCE, ADDITION),
    replies={200: Reply("The addition")},
    errors=(400, 403, 404),
)
@authenticated
async def get_addition(request: web.Request, actor: Principal) -> web.StreamResponse:
    addition = request.match_info["addition"]
    if addition not in kinds.ADDITIONS:
        raise Unprocessable(f"addition in path should be one of {list(kinds.ADDITIONS)}")
    project = await require(request, actor, "artifact-addition", "read")
    row = await find_artifact(request, project)
    try:
        found = await content_of(request).artifacts.addition(row, addition)
    except AdditionUnsupported as exc:
        raise BadRequest(str(exc)) from None
    except AdditionMissing as exc:
        raise NotFound(str(exc)) from None
    return web.Response(body=found.content, headers={"Content-Type": found.content_type})


# --- Wharf's own: the documents behind an artifact, for the web UI ----------------------------
@api.operation(
    "getArtifactManifest",
    "GET",
    ARTIFACT_PATH + "/manifest",
    summary="The artifact's manifest (or index) as pushed (Wharf's own, not Harbor's)",
    params=(PROJECT_NAME, REPOSITORY_NAME, REFERENCE),
    replies={200: Reply("The manifest's JSON, byte for byte")},
    errors=(403, 404),
)
@authenticated
async def get_manifest(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await require(request, actor, "artifact", "read")
    row = await find_artifact(request, project)
    with as_harbor_errors():
        content = await content_of(request).artifacts.manifest_bytes(row)
    return web.Response(body=content, content_type="application/json")


@api.operation(
    "getArtifactConfig",
    "GET",
    ARTIFACT_PATH + "/config",
    summary="The artifact's config blob, when it is JSON (Wharf's own, not Harbor's)",
    params=(PROJECT_NAME, REPOSITORY_NAME, REFERENCE),
    replies={200: Reply("The config's JSON")},
    errors=(403, 404),
)
@authenticated
async def get_config(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await require(request, actor, "artifact", "read")
    row = await find_artifact(request, project)
    with as_harbor_errors():
        found = await content_of(request).artifacts.config(row)
    if found is None:
        raise NotFound(f"artifact {row.record.digest} has no JSON config")
    return web.Response(body=orjson.dumps(found), content_type="application/json")


# --- labels on artifacts ------------------------------------------------------------------
class LabelRef(Model):
    id: int | None = None


@api.operation(
    "addLabel",
    "POST",
    ARTIFACT_PATH + "/labels",
    summary="Attach a label (global, or the project's) to an artifact",
    params=(PROJECT_NAME, REPOSITORY_NAME, REFERENCE),
    body=LabelRef,
    replies={200: Reply("Attached")},
    errors=(400, 403, 404, 409),
)
@authenticated
async def add_label(request: web.Request, actor: Principal) -> web.StreamResponse:
    req = await read_body(request, LabelRef)
    project = await require(request, actor, "artifact-label", "create")
    label = await request.config_dict[STORE].label(req.id) if known_id(req.id) else None
    if label is None or (label.scope == "p" and label.project_id != project.id):
        raise NotFound(f"project id {project.id}, label {req.id} not found")
    row = await find_artifact(request, project)
    labels = content_of(request).labels
    outcome = await labels.attach(row, label, event_actor(request, actor), project.name)
    if outcome == "exists":
        raise AlreadyExists(f"label {label.id} is already added to the artifact {row.id}")
    if outcome == "missing":
        raise NotFound(f"label {label.id} or artifact {row.id} not found")
    return ok()


@api.operation(
    "removeLabel",
    "DELETE",
    ARTIFACT_PATH + "/labels/{label_id}",
    summary="Detach a label from an artifact",
    params=(
        PROJECT_NAME,
        REPOSITORY_NAME,
        REFERENCE,
        Param("label_id", "path", int, "The label's id", required=True),
    ),
    replies={200: Reply("Detached")},
    errors=(403, 404),
)
@authenticated
async def remove_label(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await require(request, actor, "artifact-label", "delete")
    row = await find_artifact(request, project)
    label_id = int(request.match_info["label_id"])
    labels = content_of(request).labels
    who = event_actor(request, actor)
    if not known_id(label_id) or not await labels.detach(row, label_id, who, project.name):
        raise NotFound(f"reference with label {label_id} and artifact {row.id} not found")
    return ok()
