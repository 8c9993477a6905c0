"""Harbor's /registries and /replication/adapters(infos) against the application in this
process, with real remotes: the reference registry with htpasswd users, and the
application itself through its token service. Admins only; a registry must answer to be
stored; its secret never comes back; changes are audited; the leader's health check
records a registry that stopped answering."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import free_port
from tests.inproc import ADMIN, InProcessServer, serve_in_process
from tests.peers import Peer, run_reference_registry
from tests.tls import make_certificate
from wharf.registry.events import SYSTEM, EventBus, ReplicationChanged
from wharf.registry.wiring import make_replication_store, sqlite_database
from wharf.replication.models import HEALTHY, UNHEALTHY, Registry
from wharf.replication.registries import RegistryService

pytestmark = pytest.mark.slow  # a registry process per module

ALICE = ("alice", "Alice-Secret-1")
USER = ("plain", "Plain-User-Pass-1")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    data = tmp_path_factory.mktemp("harbor-registries") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as app:
        r = requests.post(
            f"{app.url}/api/v2.0/users",
            json={
                "username": USER[0],
                "email": "plain@example.com",
                "realname": "p",
                "password": USER[1],
            },
            auth=ADMIN,
            timeout=10,
        )
        assert r.status_code == 201, r.text
        yield app
    assert not app.errors, app.error_log()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    with run_reference_registry(
        tmp_path_factory.mktemp("registries-peer"), users=dict([ALICE])
    ) as peer:
        yield peer


def api(
    server: InProcessServer, method: str, path: str, auth: Any = ADMIN, **kw: Any
) -> requests.Response:
    return requests.request(method, f"{server.url}/api/v2.0{path}", auth=auth, timeout=30, **kw)


def reference_body(peer: Peer, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "docker-registry",
        "url": peer.url,
        "description": "the reference",
        "credential": {"type": "basic", "access_key": ALICE[0], "access_secret": ALICE[1]},
        **extra,
    }


def created_id(response: requests.Response) -> int:
    assert response.status_code == 201, response.text
    location = response.headers["Location"]
    assert location.startswith("/api/v2.0/registries/")
    return int(location.rsplit("/", 1)[1])


def test_only_system_admins(server: InProcessServer, reference: Peer) -> None:
    for method, path, body in (
        ("GET", "/registries", None),
        ("POST", "/registries", reference_body(reference, "nope")),
        ("POST", "/registries/ping", {"type": "docker-registry", "url": reference.url}),
        ("GET", "/registries/1", None),
        ("GET", "/replication/adapters", None),
        ("GET", "/replication/adapterinfos", None),
    ):
        assert api(server, method, path, auth=USER, json=body).status_code == 403, path
        assert api(server, method, path, auth=None, json=body).status_code == 401, path
    names = [r["name"] for r in api(server, "GET", "/registries").json()]
    assert "nope" not in names


def test_create_read_list_and_the_secret_never_returned(
    server: InProcessServer, reference: Peer
) -> None:
    registry_id = created_id(
        api(server, "POST", "/registries", json=reference_body(reference, "ref"))
    )
    r = api(server, "GET", f"/registries/{registry_id}")
    assert r.status_code == 200
    doc = r.json()
    assert ALICE[1] not in r.text
    assert doc["credential"] == {"type": "basic", "access_key": "alice", "access_secret": "*****"}
    assert (doc["id"], doc["name"], doc["type"], doc["url"]) == (
        registry_id,
        "ref",
        "docker-registry",
        reference.url,
    )
    assert doc["status"] == "healthy" and doc["insecure"] is False
    assert doc["description"] == "the reference" and doc["creation_time"].endswith("Z")

    wharf_id = created_id(
        api(
            server,
            "POST",
            "/registries",
            json={
                "name": "myself",
                "type": "wharf",
                "url": server.url + "/",  # the trailing slash goes
                "credential": {"type": "oauth", "access_key": ADMIN[0], "access_secret": ADMIN[1]},
            },
            headers={"X-Resource-Name-In-Location": "false"},
        )
    )
    listed = api(server, "GET", "/registries", params={"page_size": 1, "sort": "-name"})
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "2"
    assert [d["name"] for d in listed.json()] == ["ref"]
    assert 'rel="next"' in listed.headers["Link"]
    assert ALICE[1] not in listed.text and ADMIN[1] not in listed.text
    by_q = api(server, "GET", "/registries", params={"q": "type=wharf"}).json()
    assert [d["id"] for d in by_q] == [wharf_id]
    assert by_q[0]["url"] == server.url
    by_name = api(server, "GET", "/registries", params={"name": "yse"}).json()
    assert [d["name"] for d in by_name] == ["myself"]
    for registry in (registry_id, wharf_id):
        assert api(server, "DELETE", f"/registries/{registry}").status_code == 200


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"credential": {"type": "basic", "access_key": "alice", "access_secret": "no"}}, 400,
         "unhealthy"),
        ({"credential": None}, 400, "unhealthy"),
        ({"type": "quay-like"}, 400, "invalid registry type"),
        ({"name": ""}, 400, "name cannot be empty"),
        ({"name": "x" * 65}, 400, "max length"),
        ({"url": "ftp://127.0.0.1"}, 400, "scheme"),
        ({"url": f"http://127.0.0.1:{free_port()}"}, 400, "unhealthy"),
        ({"ca_certificate": "not a certificate"}, 400, "PEM"),
        ({"credential": {"type": "apikey", "access_key": "a", "access_secret": "b"}}, 400,
         "credential type"),
        ({"insecure": "yes"}, 422, ""),
    ],
)  # fmt: skip
def test_what_cannot_be_stored(
    server: InProcessServer, reference: Peer, change: dict[str, Any], status: int, message: str
) -> None:
    body = {**reference_body(reference, "refused"), **change}
    r = api(server, "POST", "/registries", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["errors"][0]["message"]
    assert "refused" not in [d["name"] for d in api(server, "GET", "/registries").json()]


def test_names_are_unique_and_bodies_must_be_json(server: InProcessServer, reference: Peer) -> None:
    registry_id = created_id(
        api(server, "POST", "/registries", json=reference_body(reference, "u"))
    )
    again = api(server, "POST", "/registries", json=reference_body(reference, "u"))
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "CONFLICT"
    assert api(server, "POST", "/registries", data=b"{").status_code == 422
    assert api(server, "GET", "/registries/nope").status_code == 422
    assert api(server, "GET", "/registries", params={"q": "name"}).status_code == 400
    assert api(server, "DELETE", f"/registries/{registry_id}").status_code == 200


def test_ping_by_body_and_by_id(server: InProcessServer, reference: Peer) -> None:
    good = {"type": "docker-registry", "url": reference.url, "credential_type": "basic",
            "access_key": ALICE[0], "access_secret": ALICE[1]}  # fmt: skip
    assert api(server, "POST", "/registries/ping", json=good).status_code == 200
    bad = api(server, "POST", "/registries/ping", json={**good, "access_secret": "wrong"})
    assert bad.status_code == 400 and "unhealthy" in bad.json()["errors"][0]["message"]
    anonymous = {"type": "docker-registry", "url": reference.url}
    assert api(server, "POST", "/registries/ping", json=anonymous).status_code == 400
    missing = api(server, "POST", "/registries/ping", json={"type": "docker-registry"})
    assert missing.status_code == 400

    registry_id = created_id(
        api(server, "POST", "/registries", json=reference_body(reference, "p"))
    )
    assert api(server, "POST", "/registries/ping", json={"id": registry_id}).status_code == 200
    # a stored registry's address is its own: another URL in the body is ignored
    elsewhere = {"id": registry_id, "url": f"http://127.0.0.1:{free_port()}", "insecure": True}
    assert api(server, "POST", "/registries/ping", json=elsewhere).status_code == 200
    # another credential may be tried
    wrong = {"id": registry_id, "access_secret": "wrong"}
    assert api(server, "POST", "/registries/ping", json=wrong).status_code == 400
    assert api(server, "POST", "/registries/ping", json={"id": 999999}).status_code == 404
    assert api(server, "DELETE", f"/registries/{registry_id}").status_code == 200


def test_update_keeps_the_secret_only_at_the_same_address(
    server: InProcessServer, reference: Peer
) -> None:
    registry_id = created_id(
        api(server, "POST", "/registries", json=reference_body(reference, "m"))
    )
    path = f"/registries/{registry_id}"
    assert api(server, "PUT", path, json={"description": "new words"}).status_code == 200
    doc = api(server, "GET", path).json()
    assert doc["description"] == "new words" and doc["credential"]["access_secret"] == "*****"
    # the same registry under another address: without the secret again, the stored one
    # is not sent there, so the registry does not answer and nothing changes
    moved = reference.url.replace("127.0.0.1", "localhost")
    refused = api(server, "PUT", path, json={"url": moved})
    assert refused.status_code == 400 and "unhealthy" in refused.text
    assert api(server, "GET", path).json()["url"] == reference.url
    assert (
        api(server, "PUT", path, json={"url": moved, "access_secret": ALICE[1]}).status_code == 200
    )
    assert api(server, "GET", path).json()["url"] == moved
    other = created_id(api(server, "POST", "/registries", json=reference_body(reference, "m2")))
    taken = api(server, "PUT", path, json={"name": "m2"})
    assert taken.status_code == 409
    assert api(server, "PUT", "/registries/999999", json={"name": "x"}).status_code == 404
    for registry in (registry_id, other):
        assert api(server, "DELETE", f"/registries/{registry}").status_code == 200
    assert api(server, "GET", path).status_code == 404
    assert api(server, "DELETE", path).status_code == 404


def test_info_and_adapters(server: InProcessServer, reference: Peer) -> None:
    adapters = api(server, "GET", "/replication/adapters").json()
    assert set(adapters) == {"wharf", "harbor", "docker-registry", "oci", "docker-hub"}
    infos = api(server, "GET", "/replication/adapterinfos").json()
    assert infos["docker-hub"]["endpoint_pattern"] == {
        "endpoint_type": "EndpointPatternTypeFix",
        "endpoints": [{"key": "hub.docker.com", "value": "https://hub.docker.com"}],
    }
    assert infos["wharf"]["endpoint_pattern"]["endpoint_type"] == "EndpointPatternTypeStandard"
    registry_id = created_id(
        api(server, "POST", "/registries", json=reference_body(reference, "i"))
    )
    info = api(server, "GET", f"/registries/{registry_id}/info").json()
    assert info["type"] == "docker-registry"
    assert {f["type"] for f in info["supported_resource_filters"]} == {"name", "tag", "resource"}
    assert info["supported_triggers"] == ["manual", "scheduled"]
    assert info["supported_copy_by_chunk"] is True
    assert api(server, "GET", "/registries/999999/info").status_code == 404
    assert api(server, "DELETE", f"/registries/{registry_id}").status_code == 200


def test_changes_are_audited(server: InProcessServer, reference: Peer) -> None:
    registry_id = created_id(
        api(server, "POST", "/registries", json=reference_body(reference, "a"))
    )
    assert api(server, "PUT", f"/registries/{registry_id}", json={"description": "d"}).ok
    assert api(server, "DELETE", f"/registries/{registry_id}").ok
    query = {"q": f"resource=registries/{registry_id}", "page_size": 100}
    # (ids of deleted registries may be given again: the name tells this one's events)
    mine = [e for e in api(server, "GET", "/audit-logs", params=query).json() if e["detail"] == "a"]
    assert sorted(e["operation"] for e in mine) == ["create", "delete", "update"]
    assert {e["resource_type"] for e in mine} == {"registry"}
    assert {e["username"] for e in mine} == {"admin"}


def test_the_health_check_records_who_stopped_answering(tmp_path: Path) -> None:
    certificate, key = make_certificate(tmp_path)

    async def main() -> None:
        events = EventBus()
        seen: list[Any] = []

        async def record(event: Any) -> None:
            seen.append(event)

        events.subscribe(record)
        store = make_replication_store(sqlite_database(tmp_path / "wharf.db"))
        await store.open()
        try:
            service = RegistryService(store, events)
            with run_reference_registry(
                tmp_path / "peer", users=dict([ALICE]), tls=(certificate, key)
            ) as peer:
                body = Registry(
                    name="tls",
                    type="docker-registry",
                    url=peer.url,
                    access_key=ALICE[0],
                    access_secret=ALICE[1],
                    ca_certificate=certificate.read_text(),
                )
                created = await service.create(SYSTEM, body)
                assert created.credential_type == "basic" and created.status == HEALTHY
                assert await service.check_all() == 0
                peer.kill()
                assert await service.check_all() == 1
                stored = await store.get_registry(created.id)
                assert stored is not None and stored.status == UNHEALTHY
            assert [type(e) for e in seen] == [ReplicationChanged]
        finally:
            await store.close()

    asyncio.run(main())
