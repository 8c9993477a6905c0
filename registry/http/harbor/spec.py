"""How each resource module declares its operations, and what the declarations give:
the routes, the checking of declared parameters (422 as go-swagger answers Harbor's
clients), request bodies read into pydantic models, and Wharf's own OpenAPI document.

A module holds one ``Api`` and decorates its plain aiohttp handlers::

    api = Api("project")

    @api.operation("getProject", "GET", "/projects/{project_name_or_id}",
                   summary="Return one project",
                   params=(IS_RESOURCE_NAME, PROJECT_NAME_OR_ID),
                   replies={200: Reply("The project", ProjectDoc)}, errors=(401, 403, 404))
    @authenticated
    async def get_project(request, actor): ...

The Harbor app registers every module's ``api`` (``Api.add_routes``); nothing else adds
routes, so the document (``openapi``) and the router cannot drift apart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from wharf.registry.http.harbor.query import MAX_PAGE_SIZE, Unprocessable

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)

Where = Literal["query", "path", "header"]


class Model(BaseModel):
    """Base of the request and response models: unknown fields are ignored (as Go's JSON
    decoder ignores them)."""

    model_config = ConfigDict(extra="ignore")


class ErrorItem(Model):
    code: str
    message: str


class Errors(Model):
    """Harbor's error body."""

    errors: list[ErrorItem]


@dataclass(frozen=True, slots=True)
class Param:
    """A declared query, path or header parameter (``kind``: int, str or bool); ``many``:
    a query array of ``kind``, repeated or comma-separated (go-swagger's default csv)."""

    name: str
    where: Where
    kind: type[int] | type[str] | type[bool]
    description: str = ""
    required: bool = False
    default: int | str | bool | None = None
    maximum: int | None = None
    minimum: int | None = None
    many: bool = False


def param_values(request: web.Request, param: Param) -> list[str]:
    """The values of an array (``many``) query parameter: each repeat split at commas."""
    return [
        value for raw in request.query.getall(param.name, []) for value in raw.split(",") if value
    ]


@dataclass(frozen=True, slots=True)
class Reply:
    """A documented answer: what it means, its body's type (a model, ``list[Model]``, …),
    the headers it carries besides X-Request-Id, and its media type (``TEXT`` for a log)."""

    description: str
    schema: Any = None
    headers: tuple[str, ...] = ()
    media_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Operation:
    operation_id: str
    method: str
    path: str  # relative to /api/v2.0, with {parameters} as in Harbor's document
    handler: Handler
    summary: str
    tag: str
    params: tuple[Param, ...]
    body: type[BaseModel] | None
    replies: Mapping[int, Reply]


# --- the parameters Harbor's operations share ----------------------------------------

REQUEST_ID = Param("X-Request-Id", "header", str, "An unique ID for the request")
Q = Param("q", "query", str, "Query string: k=v, k=~v, k=[min~max], k={v1 v2}, k=(v1 v2)")
SORT = Param("sort", "query", str, 'Sort order, e.g. "sort=field1,-field2"')
PAGE = Param("page", "query", int, "The page number", default=1)
PAGE_SIZE = Param(
    "page_size", "query", int, "The size of per page", default=10, maximum=MAX_PAGE_SIZE
)
LISTING = (Q, SORT, PAGE, PAGE_SIZE)
IS_RESOURCE_NAME = Param(
    "X-Is-Resource-Name",
    "header",
    bool,
    "The {..._name_or_id} parameter is a name even when it is all digits",
    default=False,
)
RESOURCE_NAME_IN_LOCATION = Param(
    "X-Resource-Name-In-Location",
    "header",
    bool,
    "Location names the created resource instead of giving its id",
    default=False,
)
PROJECT_NAME_OR_ID = Param(
    "project_name_or_id", "path", str, "The name or id of the project", required=True
)
PROJECT_NAME = Param("project_name", "path", str, "The name of the project", required=True)

PAGE_HEADERS = ("X-Total-Count", "Link")


def text_reply(description: str) -> Reply:
    """A plain-text answer (a log, the ping's "Pong"), a string as Harbor documents it."""
    return Reply(description, str, ("Content-Type",), media_type="text/plain")


HEADER_DOCS: dict[str, tuple[str, str]] = {
    "X-Request-Id": ("string", "The ID of the corresponding request for the response"),
    "X-Total-Count": ("integer", "The total count of the listed resources"),
    "Link": ("string", "Links to the previous and next page"),
    "Location": ("string", "The location of the created resource"),
    "Content-Type": ("string", "The media type of the answer"),
}

ERROR_DESCRIPTIONS = {
    400: "Bad request",
    401: "Unauthorized: authentication is required",
    403: "Forbidden: the caller may not do this",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict: the resource already exists",
    412: "Precondition failed",
    422: "Unprocessable entity: a parameter or the body does not match this document",
    429: "Too many failed logins",
    500: "Internal server error",
    503: "A service the registry needs is unavailable",
}
# what any operation may answer: bad credentials, the login limit, parameters or body not
# as declared, our own bugs, the database down
ALWAYS = (401, 422, 429, 500, 503)

TRUE_WORDS = frozenset({"true", "1", "yes", "ok", "y", "on", "selected", "checked", "t", "enabled"})


def as_bool(text: str) -> bool:
    """go-swagger's reading of a boolean parameter: any word, true for these."""
    return text.lower() in TRUE_WORDS


def raw_param(request: web.Request, param: Param) -> str | None:
    if param.where == "query":
        return request.query.get(param.name)
    if param.where == "header":
        return request.headers.get(param.name)
    return request.match_info.get(param.name)


def header_flag(request: web.Request, param: Param) -> bool:
    raw = raw_param(request, param)
    return bool(param.default) if raw is None else as_bool(raw)


def check_param(request: web.Request, param: Param) -> None:
    """Unprocessable (422) when a present parameter is not of its kind or out of bounds,
    or a required one is missing — go-swagger's messages."""
    raw = raw_param(request, param)
    where = param.where
    if raw is None or (raw == "" and where != "path"):
        if param.required:
            raise Unprocessable(f"{param.name} in {where} is required")
        return
    if param.kind is int:
        try:
            value = int(raw)
        except ValueError:
            raise Unprocessable(f'{param.name} in {where} must be of type int64: "{raw}"') from None
        if not -(2**63) <= value < 2**63:
            raise Unprocessable(f'{param.name} in {where} must be of type int64: "{raw}"')
        if param.maximum is not None and value > param.maximum:
            raise Unprocessable(
                f"{param.name} in {where} should be less than or equal to {param.maximum}"
            )
        if param.minimum is not None and value < param.minimum:
            raise Unprocessable(
                f"{param.name} in {where} should be greater than or equal to {param.minimum}"
            )


def checked(op: Operation) -> Handler:
    """The route's handler: the declared parameters checked, then ``op.handler``."""
    params = op.params

    async def handler(request: web.Request) -> web.StreamResponse:
        for param in params:
            check_param(request, param)
        return await op.handler(request)

    handler.__name__ = getattr(op.handler, "__name__", op.operation_id)
    return handler


async def read_body(request: web.Request, model: type[M]) -> M:
    """The request body as ``model``: 422 when there is none, it is not JSON, or it does
    not fit the model (types are strict, as Go's decoder is; unknown keys are ignored)."""
    raw = await request.read()
    if not raw.strip():
        raise Unprocessable("body in body is required")
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False)[:5]:
            where = ".".join(str(p) for p in error["loc"]) or "body"
            problems.append(f"{where}: {error['msg']}")
        raise Unprocessable("validation failure list:\n" + "\n".join(problems)) from None


@dataclass
class Api:
    """One resource module's declared operations."""

    tag: str
    operations: list[Operation] = field(default_factory=list)

    def operation(
        self,
        operation_id: str,
        method: str,
        path: str,
        *,
        summary: str,
        params: Iterable[Param] = (),
        body: type[BaseModel] | None = None,
        replies: Mapping[int, Reply],
        errors: Iterable[int] = (),
    ) -> Callable[[Handler], Handler]:
        every = {**replies}
        for status in (*errors, *ALWAYS):
            every.setdefault(status, Reply(ERROR_DESCRIPTIONS[status], Errors))

        def declare(handler: Handler) -> Handler:
            self.operations.append(
                Operation(
                    operation_id,
                    method.upper(),
                    path,
                    handler,
                    summary,
                    self.tag,
                    (REQUEST_ID, *params),
                    body,
                    every,
                )
            )
            return handler

        return declare

    def add_routes(self, router: web.UrlDispatcher) -> None:
        for op in self.operations:
            router.add_route(op.method, op.path, checked(op))


# --- the OpenAPI document ------------------------------------------------------------

REF = "#/components/schemas/{model}"
SCHEMA_TYPES = {int: {"type": "integer", "format": "int64"}, str: {"type": "string"}}


class SchemaConflict(Exception):
    """Two different models share a name in the document."""


def _schema(
    kind: Any, components: dict[str, Any], mode: Literal["validation", "serialization"]
) -> Any:
    schema = TypeAdapter(kind).json_schema(ref_template=REF, mode=mode)
    for name, definition in schema.pop("$defs", {}).items():
        if components.setdefault(name, definition) != definition:
            raise SchemaConflict(f"two schemas are named {name}")
    if "title" in schema and "$ref" not in schema and schema.get("type") == "object":
        name = schema["title"]
        if components.setdefault(name, schema) != schema:
            raise SchemaConflict(f"two schemas are named {name}")
        return {"$ref": REF.format(model=name)}
    return schema


def _param_doc(param: Param) -> dict[str, Any]:
    if param.kind is bool:
        schema: dict[str, Any] = {"type": "boolean"}
    else:
        schema = dict(SCHEMA_TYPES[param.kind])
    if param.default is not None:
        schema["default"] = param.default
    if param.maximum is not None:
        schema["maximum"] = param.maximum
    if param.minimum is not None:
        schema["minimum"] = param.minimum
    if (param.where == "path" or param.required) and param.kind is str:
        schema["minLength"] = 1
    if param.many:
        schema = {"type": "array", "items": schema}
    return {
        "name": param.name,
        "in": param.where,
        "description": param.description,
        "required": param.required or param.where == "path",
        "schema": schema,
    }


def openapi(apis: Iterable[Api], *, version: str, server: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the declared operations."""
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    tags: set[str] = set()
    for api in apis:
        for op in api.operations:
            tags.add(op.tag)
            doc: dict[str, Any] = {
                "operationId": op.operation_id,
                "summary": op.summary,
                "tags": [op.tag],
                "parameters": [_param_doc(p) for p in op.params],
                "responses": {},
            }
            if op.body is not None:
                doc["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _schema(op.body, components, "validation")}
                    },
                }
            for status, reply in sorted(op.replies.items()):
                answer: dict[str, Any] = {"description": reply.description}
                headers = {"X-Request-Id": None, **dict.fromkeys(reply.headers)}
                answer["headers"] = {
                    name: {
                        "description": HEADER_DOCS[name][1],
                        "schema": {"type": HEADER_DOCS[name][0]},
                    }
                    for name in headers
                }
                if reply.schema is not None:
                    answer["content"] = {
                        reply.media_type: {
                            "schema": _schema(reply.schema, components, "serialization")
                        }
                    }
                doc["responses"][str(status)] = answer
            paths.setdefault(op.path, {})[op.method.lower()] = doc
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Wharf's Harbor API",
            "version": version,
            "description": "The subset of Harbor's /api/v2.0 that Wharf implements.",
        },
        "servers": [{"url": server}],
        "tags": [{"name": t} for t in sorted(tags)],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        },
        "security": [{"basic": []}, {}],
    }
