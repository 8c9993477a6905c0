"""Proxy-cache projects against real upstreams: the reference registry (htpasswd users,
Basic auth) behind a pass-through proxy that counts requests, can throttle bodies and can
fail every request (upstream down), and a second Wharf with token auth. Pulls by skopeo
with the upstream up, then down (the cached copy is served), then changed (a new digest
under the same tag after the check interval); concurrent misses fetch a blob once; a blob
streams to the client while it is stored; a cut upstream stream stores nothing; pushes are
refused; cached content is collected by GC; the registry a proxy project names cannot be
deleted."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from tests.artifacts import push_image, push_index
from tests.faultproxy import Fault, FaultProxy
from tests.inproc import ADMIN, InProcessServer, serve_in_process
from tests.peers import Peer, run_reference_registry
from wharf.replication.client.blobs import BytesSource, digest_bytes
from wharf.replication.client.client import Manifest, RegistryClient
from wharf.replication.client.endpoint import Credential, Endpoint
from wharf.replication.client.transport import RemoteError

pytestmark = pytest.mark.slow  # registry processes per module

T = TypeVar("T")
ALICE = ("alice", "Alice-Secret-1")
INTERVAL = 1.0  # proxy.manifest_check_interval of the server under test
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


class LoopThread:
    """An event loop on a thread of its own, for the counting proxy."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    with run_reference_registry(tmp_path_factory.mktemp("proxy-up"), users=dict([ALICE])) as peer:
        yield peer


@pytest.fixture(scope="module")
def gate(upstream: Peer) -> Iterator[FaultProxy]:
    loop = LoopThread()
    proxy = FaultProxy(upstream.url)
    loop.run(proxy.__aenter__())
    try:
        yield proxy
    finally:
        loop.run(proxy.__aexit__(None, None, None))
        loop.stop()


@pytest.fixture(autouse=True)
def _gate_up(gate: FaultProxy) -> None:
    gate.down = False
    gate.rate = None
    gate.faults.clear()


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    data = tmp_path_factory.mktemp("proxy-local") / "data"
    proxy = {"manifest_check_interval": INTERVAL, "upstream_timeout": 5, "index_wait": 30}
    with serve_in_process(data, auth=True, admin_password=ADMIN[1], proxy=proxy) as app:
        yield app
    assert not app.errors, app.error_log()


def api(server: InProcessServer, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, f"{server.url}/api/v2.0{path}", auth=ADMIN, timeout=30, **kw)


def create_registry(server: InProcessServer, name: str, kind: str, url: str, creds: Any) -> int:
    body = {
        "name": name,
        "type": kind,
        "url": url,
        "credential": {"type": "basic", "access_key": creds[0], "access_secret": creds[1]},
    }
    r = api(server, "POST", "/registries", json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


@pytest.fixture(scope="module")
def hub(local: InProcessServer, gate: FaultProxy) -> int:
    """The proxy project ``hub-proxy`` of the reference registry (through the gate)."""
    registry_id = create_registry(local, "reference", "docker-registry", gate.url, ALICE)
    r = api(
        local, "POST", "/projects", json={"project_name": "hub-proxy", "registry_id": registry_id}
    )
    assert r.status_code == 201, r.text
    return registry_id


def upstream_client(peer: Peer) -> RegistryClient:
    return RegistryClient(Endpoint(peer.url, "docker-registry", Credential(*ALICE)))


def host(server: InProcessServer) -> str:
    return server.url.split("://", 1)[1]


def skopeo(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(tmp), "XDG_RUNTIME_DIR": str(tmp)}
    return subprocess.run(
        ["skopeo", *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def skopeo_copy(server: InProcessServer, ref: str, tmp: Path) -> str:
    """Copy ``ref`` out of ``server`` with skopeo; the manifest digest it wrote."""
    target = tmp / f"out-{time.monotonic_ns()}"
    done = skopeo(
        "copy", "--src-tls-verify=false", "--src-creds", ":".join(ADMIN),
        f"docker://{host(server)}/{ref}", f"dir:{target}", tmp=tmp,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return digest_bytes((target / "manifest.json").read_bytes())


def v2(server: InProcessServer, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, f"{server.url}/v2/{path}", auth=ADMIN, timeout=60, **kw)


def cached(server: InProcessServer, repo: str, digest: str, within: float = 20) -> None:
    """Wait until the proxy stored ``digest`` in ``repo`` (Harbor's artifact API)."""
    project, _, name = repo.partition("/")
    path = f"/projects/{project}/repositories/{name.replace('/', '%252F')}/artifacts/{digest}"
    deadline = time.monotonic() + within
    while api(server, "GET", path).status_code != 200:
        assert time.monotonic() < deadline, f"{repo}@{digest} never cached"
        time.sleep(0.1)


def blob_gets(gate: FaultProxy, digest: str) -> int:
    return sum(1 for s in gate.seen if s.method == "GET" and s.path.endswith(digest))


def stored_files(server: InProcessServer, digest: str) -> list[Path]:
    return list(server.settings.storage_root.rglob(f"*{digest.split(':')[1]}*"))


def test_proxy_project_api(local: InProcessServer, hub: int) -> None:
    doc = api(local, "GET", "/projects/hub-proxy").json()
    assert doc["registry_id"] == hub
    assert api(local, "GET", "/projects/library").json().get("registry_id") is None
    summary = api(local, "GET", "/projects/hub-proxy/summary").json()
    assert summary["registry"]["id"] == hub and summary["registry"]["type"] == "docker-registry"
    assert not summary["registry"].get("credential")
    r = api(local, "DELETE", f"/registries/{hub}")
    assert r.status_code == 412, r.text
    assert "proxy cache project hub-proxy" in r.json()["errors"][0]["message"]
    # the project's access rules hold: hub-proxy is private
    r = requests.get(f"{local.url}/v2/hub-proxy/library/app/manifests/1.0", timeout=30)
    assert r.status_code == 401, r.text
    r = api(local, "POST", "/projects", json={"project_name": "bad-proxy", "registry_id": 0})
    assert r.status_code == 400, r.text
    r = api(local, "POST", "/projects", json={"project_name": "bad-proxy", "registry_id": 999})
    assert r.status_code == 404, r.text


def test_pushes_are_refused(local: InProcessServer, hub: int) -> None:
    async def main() -> None:
        async with RegistryClient(Endpoint(local.url, "wharf", Credential(*ADMIN))) as client:
            with pytest.raises(RemoteError) as refused:
                await client.push_blob(
                    "hub-proxy/library/app", digest_bytes(b"x"), BytesSource(b"x")
                )
            assert refused.value.status == 403
            assert refused.value.code == "DENIED"
            assert "is a proxy cache project" in str(refused.value)

    run(main())


def test_pull_up_then_down_then_changed(
    local: InProcessServer,
    hub: int,
    upstream: Peer,
    gate: FaultProxy,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def push(tag: str) -> Manifest:
        async with upstream_client(upstream) as client:
            return await push_image(client, "library/app", tag, layers=2, size=20_000)

    first = run(push("1.0"))
    # upstream up: a miss, fetched, served, cached
    assert skopeo_copy(local, "hub-proxy/library/app:1.0", tmp_path) == first.digest
    cached(local, "hub-proxy/library/app", first.digest)
    # a one-component name on a Docker Hub endpoint would map to library/; here the
    # repository is named as upstream names it
    # upstream down: past the interval the tag check fails and the cached copy is served
    gate.down = True
    time.sleep(INTERVAL + 0.1)
    with caplog.at_level(logging.WARNING, logger="wharf.proxy"):
        assert skopeo_copy(local, "hub-proxy/library/app:1.0", tmp_path) == first.digest
    assert any("serving the cached copy" in r.getMessage() for r in caplog.records)
    # no copy and upstream down: a clear error, promptly
    started = time.monotonic()
    r = v2(local, "GET", "hub-proxy/library/never/manifests/1.0")
    assert r.status_code == 503, r.text
    assert r.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert time.monotonic() - started < 10
    # upstream up again and changed: the tag is re-checked after the interval
    gate.down = False
    second = run(push("1.0"))
    assert second.digest != first.digest
    time.sleep(INTERVAL + 0.1)
    assert skopeo_copy(local, "hub-proxy/library/app:1.0", tmp_path) == second.digest
    cached(local, "hub-proxy/library/app", second.digest)
    gate.down = True
    time.sleep(INTERVAL + 0.1)
    assert skopeo_copy(local, "hub-proxy/library/app:1.0", tmp_path) == second.digest
    # by digest, the first image is still there, never re-checked
    r = v2(local, "GET", f"hub-proxy/library/app/manifests/{first.digest}",
           headers={"Accept": first.media_type})  # fmt: skip
    assert r.status_code == 200 and r.content == first.body


def image_and_blob(upstream: Peer, repo: str, size: int) -> tuple[Manifest, bytes]:
    async def main() -> tuple[Manifest, bytes]:
        async with upstream_client(upstream) as client:
            manifest = await push_image(client, repo, "latest", layers=0)
            data = os.urandom(size)
            await client.push_blob(repo, digest_bytes(data), BytesSource(data))
            return manifest, data

    return run(main())


def test_concurrent_misses_fetch_a_blob_once(
    local: InProcessServer, hub: int, upstream: Peer, gate: FaultProxy
) -> None:
    _, data = image_and_blob(upstream, "library/once", 6 * 1024 * 1024)
    digest = digest_bytes(data)
    gate.rate = 12 * 1024 * 1024  # half a second upstream: the misses overlap
    path = f"hub-proxy/library/once/blobs/{digest}"
    with ThreadPoolExecutor(4) as pool:
        bodies = list(pool.map(lambda _: v2(local, "GET", path).content, range(4)))
    assert all(body == data for body in bodies)
    assert blob_gets(gate, digest) == 1
    assert v2(local, "GET", path).content == data  # from the store now
    assert blob_gets(gate, digest) == 1


def test_blob_streams_while_stored(
    local: InProcessServer, hub: int, upstream: Peer, gate: FaultProxy
) -> None:
    size = 16 * 1024 * 1024
    _, data = image_and_blob(upstream, "library/big", size)
    digest = digest_bytes(data)
    gate.rate = 8 * 1024 * 1024  # about 2 s for the whole blob
    started = time.monotonic()
    with v2(local, "GET", f"hub-proxy/library/big/blobs/{digest}", stream=True) as r:
        assert r.status_code == 200
        chunks = r.iter_content(64 * 1024)
        received = bytearray(next(chunks))
        first_byte = time.monotonic() - started
        for chunk in chunks:
            received += chunk
    total = time.monotonic() - started
    assert bytes(received) == data
    assert total > 1.5
    assert first_byte < total / 4, (first_byte, total)


def test_cut_upstream_stream_stores_nothing(
    local: InProcessServer, hub: int, upstream: Peer, gate: FaultProxy
) -> None:
    _, data = image_and_blob(upstream, "library/cut", 2 * 1024 * 1024)
    digest = digest_bytes(data)
    path = f"hub-proxy/library/cut/blobs/{digest}"
    # a HEAD first (it fetches nothing): the upstream's Basic challenge is learnt, so the
    # cut hits the blob GET, not a 401 before it
    assert v2(local, "HEAD", path).status_code == 200
    gate.inject(Fault("GET", digest, "truncate"))
    with pytest.raises(requests.exceptions.RequestException):
        r = v2(local, "GET", path)
        assert len(r.content) < len(data)  # a short body is a failure too
        raise requests.exceptions.ChunkedEncodingError("short body")
    time.sleep(0.2)
    assert stored_files(local, digest) == []
    assert v2(local, "GET", path).content == data  # fetched again, whole this time
    assert blob_gets(gate, digest) == 2


def test_cached_content_is_collected_by_gc(
    local: InProcessServer, hub: int, upstream: Peer, gate: FaultProxy, tmp_path: Path
) -> None:
    async def push(tag: str) -> Manifest:
        async with upstream_client(upstream) as client:
            return await push_image(client, "library/gc", tag, layers=1, size=30_000)

    image, kept = run(push("1")), run(push("2"))
    for tag, manifest in (("1", image), ("2", kept)):
        assert skopeo_copy(local, f"hub-proxy/library/gc:{tag}", tmp_path) == manifest.digest
        cached(local, "hub-proxy/library/gc", manifest.digest)
    layer = image.blobs()[1].digest
    assert stored_files(local, layer)
    r = api(
        local, "DELETE", f"/projects/hub-proxy/repositories/library%252Fgc/artifacts/{image.digest}"
    )
    assert r.status_code == 200, r.text
    # as if cached long ago: past GC's grace window and the pins of fresh writes
    digests = [d.digest for m in (image, kept) for d in (m.descriptor, *m.blobs())]
    db = sqlite3.connect(local.data_dir / "wharf.db", timeout=30)
    with db:
        for digest in digests:
            db.execute("UPDATE blobs SET last_seen = 1000, created = 1000 WHERE digest = ?",
                       (digest,))  # fmt: skip
            db.execute("DELETE FROM blob_pins WHERE digest = ?", (digest,))
    db.close()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "wharf"), "gc", "--data", str(local.data_dir),
         "--grace", "0", "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert stored_files(local, layer) == [], report
    assert stored_files(local, kept.blobs()[1].digest)  # still tagged: kept


def test_token_auth_wharf_upstream(
    local: InProcessServer, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    data = tmp_path_factory.mktemp("proxy-wharf-up") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as other:

        async def push() -> Manifest:
            endpoint = Endpoint(other.url, "wharf", Credential(*ADMIN))
            async with RegistryClient(endpoint) as client:
                return await push_image(client, "library/tool", "v1", layers=2)

        image = run(push())
        registry_id = create_registry(local, "other-wharf", "wharf", other.url, ADMIN)
        r = api(local, "POST", "/projects",
                json={"project_name": "wharf-proxy", "registry_id": registry_id})  # fmt: skip
        assert r.status_code == 201, r.text
        assert skopeo_copy(local, "wharf-proxy/library/tool:v1", tmp_path) == image.digest
        cached(local, "wharf-proxy/library/tool", image.digest)
        assert not other.errors, other.error_log()
    # the upstream is gone entirely (connections refused): the copy is served
    time.sleep(INTERVAL + 0.1)
    assert skopeo_copy(local, "wharf-proxy/library/tool:v1", tmp_path) == image.digest


def test_index_and_docker_hub_names(
    local: InProcessServer, hub: int, upstream: Peer, gate: FaultProxy, tmp_path: Path
) -> None:
    """An index pulled with all its children (skopeo --all) is cached once they are; on a
    Docker-Hub-type endpoint a one-component name is ``library/<name>`` upstream."""

    async def push() -> tuple[Manifest, list[Manifest]]:
        async with upstream_client(upstream) as client:
            children = [await push_image(client, "library/multi", None) for _ in range(2)]
            return await push_index(client, "library/multi", "v1", children), children

    index, children = run(push())
    registry_id = create_registry(local, "hub-like", "docker-hub", gate.url, ALICE)
    r = api(local, "POST", "/projects", json={"project_name": "hubby", "registry_id": registry_id})
    assert r.status_code == 201, r.text
    target = tmp_path / "all"
    done = skopeo(
        "copy", "--all", "--src-tls-verify=false", "--src-creds", ":".join(ADMIN),
        f"docker://{host(local)}/hubby/multi:v1", f"dir:{target}", tmp=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert digest_bytes((target / "manifest.json").read_bytes()) == index.digest
    for child in children:
        cached(local, "hubby/multi", child.digest)
    cached(local, "hubby/multi", index.digest)
    gate.down = True
    time.sleep(INTERVAL + 0.1)
    r = v2(local, "GET", "hubby/multi/manifests/v1", headers={"Accept": index.media_type})
    assert r.status_code == 200 and r.content == index.body
