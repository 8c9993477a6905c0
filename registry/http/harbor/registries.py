"""Harbor's /registries (the remote registries replication and proxy caches talk to) and
/replication/adapters(infos) (the endpoint types). System admins only; every write goes
through the replication core (``wharf.replication.registries``), which pings the remote,
stores it and emits the event the audit log records. A stored secret is never returned
(``*****`` says one is set)."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from wharf.auth.access import require_admin
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import (
    authenticated,
    created_here,
    event_actor,
    harbor_time,
    json_response,
    ok,
    paged,
)
from wharf.registry.http.harbor.query import Fields, Sort, list_query, page_of, select
from wharf.registry.http.harbor.spec import (
    LISTING,
    PAGE_HEADERS,
    RESOURCE_NAME_IN_LOCATION,
    Api,
    Model,
    Param,
    Reply,
    read_body,
)
from wharf.registry.http.keys import REGISTRIES
from wharf.replication.client.endpoint import ENDPOINT_TYPES
from wharf.replication.models import Registry as RegistryRecord
from wharf.replication.registries import RegistryService, RegistryUpdate

MASK = "*****"


class RegistryCredential(Model):
    type: str | None = None  # basic, oauth
    access_key: str | None = None
    access_secret: str | None = None


class RegistryReq(Model):
    """Harbor's ``Registry`` as a create body (id, status and times are ignored)."""

    name: str | None = None
    url: str | None = None
    type: str | None = None
    description: str | None = None
    insecure: bool | None = None
    ca_certificate: str | None = None
    credential: RegistryCredential | None = None


class Registry(Model):
    id: int
    name: str
    url: str
    type: str
    description: str
    insecure: bool
    ca_certificate: str | None = None
    credential: RegistryCredential | None = None
    status: str
    creation_time: str | None
    update_time: str | None


class RegistryPing(Model):
    id: int | None = None
    type: str | None = None
    url: str | None = None
    credential_type: str | None = None
    access_key: str | None = None
    access_secret: str | None = None
    insecure: bool | None = None
    ca_certificate: str | None = None


class RegistryUpdateReq(Model):
    name: str | None = None
    description: str | None = None
    url: str | None = None
    credential_type: str | None = None
    access_key: str | None = None
    access_secret: str | None = None
    insecure: bool | None = None
    ca_certificate: str | None = None


class FilterStyle(Model):
    type: str
    style: str
    values: list[str] | None = None


class RegistryInfo(Model):
    type: str
    description: str
    supported_resource_filters: list[FilterStyle]
    supported_triggers: list[str]
    supported_copy_by_chunk: bool | None = None


class RegistryEndpoint(Model):
    key: str
    value: str


class RegistryProviderEndpointPattern(Model):
    endpoint_type: str
    endpoints: list[RegistryEndpoint] | None = None


class RegistryProviderCredentialPattern(Model):
    access_key_type: str
    access_key_data: str
    access_secret_type: str
    access_secret_data: str


class RegistryProviderInfo(Model):
    endpoint_pattern: RegistryProviderEndpointPattern
    credential_pattern: RegistryProviderCredentialPattern


def registry_doc(registry: RegistryRecord) -> Registry:
    credential = None
    if registry.credential_type or registry.access_key or registry.access_secret:
        credential = RegistryCredential(
            type=registry.credential_type,
            access_key=registry.access_key,
            access_secret=MASK if registry.access_secret else "",
        )
    return Registry(
        id=registry.id,
        name=registry.name,
        url=registry.url,
        type=registry.type,
        description=registry.description,
        insecure=registry.insecure,
        ca_certificate=registry.ca_certificate or None,
        credential=credential,
        status=registry.status,
        creation_time=harbor_time(registry.created),
        update_time=harbor_time(registry.updated),
    )


REGISTRY_FIELDS: Fields[RegistryRecord] = Fields(
    filters={
        "id": lambda r: r.id,
        "name": lambda r: r.name,
        "type": lambda r: r.type,
        "url": lambda r: r.url,
        "status": lambda r: r.status,
        "description": lambda r: r.description,
        "creation_time": lambda r: r.created,
        "update_time": lambda r: r.updated,
    },
    sorts={
        "id": lambda r: r.id,
        "name": lambda r: r.name,
        "type": lambda r: r.type,
        "creation_time": lambda r: r.created,
        "update_time": lambda r: r.updated,
    },
    default=(Sort("id"),),
)


def service(request: web.Request, actor: Principal) -> RegistryService:
    require_admin(actor)
    return request.config_dict[REGISTRIES]


def registry_id_of(request: web.Request) -> int:
    return int(request.match_info["id"])


api = Api("registry")
REGISTRY_ID = Param("id", "path", int, "The registry's id", required=True)
REGISTRY_ERRORS = (401, 403, 404)


@api.operation(
    "createRegistry",
    "POST",
    "/registries",
    summary="Add a remote registry (it must answer with the credential given)",
    params=(RESOURCE_NAME_IN_LOCATION,),
    body=RegistryReq,
    replies={201: Reply("Created", headers=("Location",))},
    errors=(400, 403, 409),
)
@authenticated
async def create_registry(request: web.Request, actor: Principal) -> web.StreamResponse:
    registries = service(request, actor)
    req = await read_body(request, RegistryReq)
    credential = req.credential or RegistryCredential()
    record = RegistryRecord(
        name=req.name or "",
        type=req.type or "",
        url=req.url or "",
        description=req.description or "",
        credential_type=credential.type or "",
        access_key=credential.access_key or "",
        access_secret=credential.access_secret or "",
        insecure=bool(req.insecure),
        ca_certificate=req.ca_certificate or "",
    )
    created = await registries.create(event_actor(request, actor), record)
    return created_here(request, created.id, created.name)


@api.operation(
    "listRegistries",
    "GET",
    "/registries",
    summary="List the remote registries",
    params=(*LISTING, Param("name", "query", str, "Deprecated, use q instead")),
    replies={200: Reply("The registries", list[Registry], PAGE_HEADERS)},
    errors=(400, 403),
)
@authenticated
async def list_registries(request: web.Request, actor: Principal) -> web.StreamResponse:
    registries = service(request, actor)
    query = list_query(request, fuzzy=("name",))
    found = select(await registries.all(), query, REGISTRY_FIELDS)
    return paged(request, [registry_doc(r) for r in page_of(found, query)], len(found), query)


@api.operation(
    "pingRegistry",
    "POST",
    "/registries/ping",
    summary="Check that a registry answers (a stored one by id, or one described)",
    body=RegistryPing,
    replies={200: Reply("The registry answers")},
    errors=(400, 403, 404),
)
@authenticated
async def ping_registry(request: web.Request, actor: Principal) -> web.StreamResponse:
    registries = service(request, actor)
    req = await read_body(request, RegistryPing)
    if req.id is not None:
        # a stored registry's address, TLS settings and type stay its own: the saved
        # credential is never sent anywhere else; only another credential may be tried
        record = await registries.get(req.id)
    else:
        record = RegistryRecord(
            name="",
            type=req.type or "",
            url=req.url or "",
            insecure=bool(req.insecure),
            ca_certificate=req.ca_certificate or "",
        )
    if req.credential_type is not None:
        record.credential_type = req.credential_type
    if req.access_key is not None:
        record.access_key = req.access_key
    if req.access_secret is not None:
        record.access_secret = req.access_secret
    await registries.ping(record)
    return ok()


@api.operation(
    "getRegistry",
    "GET",
    "/registries/{id}",
    summary="One remote registry",
    params=(REGISTRY_ID,),
    replies={200: Reply("The registry", Registry)},
    errors=REGISTRY_ERRORS,
)
@authenticated
async def get_registry(request: web.Request, actor: Principal) -> web.StreamResponse:
    record = await service(request, actor).get(registry_id_of(request))
    return json_response(registry_doc(record))


@api.operation(
    "updateRegistry",
    "PUT",
    "/registries/{id}",
    summary="Change a remote registry (it must still answer)",
    params=(REGISTRY_ID,),
    body=RegistryUpdateReq,
    replies={200: Reply("Updated")},
    errors=(400, 409, *REGISTRY_ERRORS),
)
@authenticated
async def update_registry(request: web.Request, actor: Principal) -> web.StreamResponse:
    registries = service(request, actor)
    req = await read_body(request, RegistryUpdateReq)
    change = RegistryUpdate(**req.model_dump())
    await registries.update(event_actor(request, actor), registry_id_of(request), change)
    return ok()


@api.operation(
    "deleteRegistry",
    "DELETE",
    "/registries/{id}",
    summary="Delete a remote registry no policy uses",
    params=(REGISTRY_ID,),
    replies={200: Reply("Deleted")},
    errors=(412, *REGISTRY_ERRORS),
)
@authenticated
async def delete_registry(request: web.Request, actor: Principal) -> web.StreamResponse:
    registries = service(request, actor)
    await registries.delete(event_actor(request, actor), registry_id_of(request))
    return ok()


@api.operation(
    "getRegistryInfo",
    "GET",
    "/registries/{id}/info",
    summary="What a remote registry supports: resource filters, triggers, chunked copy",
    params=(REGISTRY_ID,),
    replies={200: Reply("The registry's capabilities", RegistryInfo)},
    errors=REGISTRY_ERRORS,
)
@authenticated
async def registry_info(request: web.Request, actor: Principal) -> web.StreamResponse:
    registries = service(request, actor)
    info = registries.info(await registries.get(registry_id_of(request)))
    return json_response(
        RegistryInfo(
            type=info.type,
            description=info.description,
            supported_resource_filters=[
                FilterStyle(type=f.type, style=f.style, values=list(f.values) or None)
                for f in info.supported_resource_filters
            ],
            supported_triggers=list(info.supported_triggers),
            supported_copy_by_chunk=info.supported_copy_by_chunk or None,
        )
    )


@api.operation(
    "listRegistryProviderTypes",
    "GET",
    "/replication/adapters",
    summary="The registry types (adapters) a registry may have",
    replies={200: Reply("The types", list[str])},
    errors=(403,),
)
@authenticated
async def list_adapters(request: web.Request, actor: Principal) -> web.StreamResponse:
    return json_response(service(request, actor).adapters())


@api.operation(
    "listRegistryProviderInfos",
    "GET",
    "/replication/adapterinfos",
    summary="How each registry type's endpoint and credential are entered",
    replies={200: Reply("By type", dict[str, RegistryProviderInfo])},
    errors=(403,),
)
@authenticated
async def list_adapter_infos(request: web.Request, actor: Principal) -> web.StreamResponse:
    service(request, actor)
    infos: dict[str, RegistryProviderInfo] = {}
    for name, kind in ENDPOINT_TYPES.items():
        endpoints = None
        endpoint_type = "EndpointPatternTypeStandard"
        if kind.default_url:  # one fixed address (Docker Hub)
            endpoint_type = "EndpointPatternTypeFix"
            host = urlsplit(kind.default_url).hostname or kind.default_url
            endpoints = [RegistryEndpoint(key=host, value=kind.default_url)]
        infos[name] = RegistryProviderInfo(
            endpoint_pattern=RegistryProviderEndpointPattern(
                endpoint_type=endpoint_type, endpoints=endpoints
            ),
            credential_pattern=RegistryProviderCredentialPattern(
                access_key_type="AccessKeyTypeStandard",
                access_key_data="",
                access_secret_type="AccessSecretTypePass",
                access_secret_data="",
            ),
        )
    return json_response({name: info.model_dump(mode="json") for name, info in infos.items()})
