"""The proxy cache pulled by docker (a private dockerd) through a `wharf serve` of two
worker processes, the reference registry (htpasswd users) upstream: an anonymous pull of a
public proxy project, the tag changed upstream (a new digest after the check interval, set
through WHARF_PROXY__MANIFEST_CHECK_INTERVAL), then the upstream stopped (the cached copy is
pulled). Concurrent misses spread over both worker processes fetch a blob from upstream
once (the lease across processes), counted in the upstream's own access log."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.helpers import Server, run_wharf
from tests.inproc import ADMIN
from tests.peers import Peer, run_reference_registry
from wharf.replication.client.blobs import BytesSource
from wharf.replication.client.client import RegistryClient
from wharf.replication.client.endpoint import Credential, Endpoint

from .clients import make_image, run, sha256_digest
from .conftest import Dockerd

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ALICE = ("alice", "Alice-Secret-1")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    with run_reference_registry(
        tmp_path_factory.mktemp("proxy-e2e-up"), users=dict([ALICE])
    ) as peer:
        yield peer


@pytest.fixture(scope="module")
def wharf(tmp_path_factory: pytest.TempPathFactory, upstream: Peer) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("proxy-e2e") / "data"
    env = {"WHARF_ADMIN_PASSWORD": ADMIN[1], "WHARF_PROXY__MANIFEST_CHECK_INTERVAL": "1"}
    with run_wharf(data, workers=2, auth=True, env=env) as server:
        api = f"{server.url}/api/v2.0"
        r = requests.post(
            f"{api}/registries",
            auth=ADMIN,
            timeout=30,
            json={
                "name": "reference",
                "type": "docker-registry",
                "url": upstream.url,
                "credential": {"type": "basic", "access_key": ALICE[0], "access_secret": ALICE[1]},
            },
        )
        assert r.status_code == 201, r.text
        registry_id = int(r.headers["Location"].rsplit("/", 1)[1])
        r = requests.post(
            f"{api}/projects",
            auth=ADMIN,
            timeout=30,
            json={
                "project_name": "hub-proxy",
                "registry_id": registry_id,
                "metadata": {"public": "true"},
            },
        )
        assert r.status_code == 201, r.text
        yield server


def push_upstream(tmp_path: Path, upstream: Peer, ref: str, tag: str) -> str:
    """An image built offline, pushed to the upstream as docker schema 2; its digest."""
    layout = make_image(tmp_path / f"src-{tag}-{time.monotonic_ns()}", tag, layers=2)
    host = upstream.url.split("://", 1)[1]
    digest_file = tmp_path / f"digest-{time.monotonic_ns()}"
    run([
        "skopeo", "copy", "--format", "v2s2", "--dest-tls-verify=false",
        "--dest-creds", ":".join(ALICE), "--digestfile", str(digest_file),
        f"oci:{layout.path}:{tag}", f"docker://{host}/{ref}",
    ])  # fmt: skip
    return digest_file.read_text().strip()


def pulled_digest(dockerd: Dockerd, ref: str) -> str:
    out = dockerd.docker("pull", ref).stdout
    match = re.search(r"Digest: (sha256:[0-9a-f]{64})", out)
    assert match, out
    return match.group(1)


def test_docker_pulls_up_changed_down(
    tmp_path: Path, dockerd: Dockerd, wharf: Server, upstream: Peer
) -> None:
    ref = f"{wharf.url.split('://', 1)[1]}/hub-proxy/library/e2e:v1"
    first = push_upstream(tmp_path, upstream, "library/e2e:v1", "v1")
    assert pulled_digest(dockerd, ref) == first  # anonymous: the proxy project is public
    second = push_upstream(tmp_path, upstream, "library/e2e:v1", "v1")
    assert second != first
    time.sleep(1.2)
    dockerd.docker("rmi", ref)
    assert pulled_digest(dockerd, ref) == second
    # wait until the second image is cached, then take the upstream away
    deadline = time.monotonic() + 30
    manifest = f"{wharf.url}/v2/hub-proxy/library/e2e/manifests/{second}"
    artifact = (
        f"{wharf.url}/api/v2.0/projects/hub-proxy/repositories/library%252Fe2e/artifacts/{second}"
    )
    while requests.get(artifact, auth=ADMIN, timeout=10).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert requests.head(manifest, auth=ADMIN, timeout=10).status_code == 200
    upstream.stop()
    time.sleep(1.2)
    dockerd.docker("rmi", ref)
    assert pulled_digest(dockerd, ref) == second
    assert "serving the cached copy" in wharf.log()


def test_concurrent_misses_across_processes_fetch_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    directory = tmp_path_factory.mktemp("proxy-e2e-once")
    with run_reference_registry(directory / "up", users=dict([ALICE])) as peer:
        data = os.urandom(24 * 1024 * 1024)
        digest = sha256_digest(data)

        async def seed() -> None:
            endpoint = Endpoint(peer.url, "docker-registry", Credential(*ALICE))
            async with RegistryClient(endpoint) as client:
                await client.push_blob("library/once", digest, BytesSource(data))

        asyncio.run(seed())
        env = {"WHARF_ADMIN_PASSWORD": ADMIN[1]}
        with run_wharf(directory / "data", workers=2, auth=True, env=env) as server:
            api = f"{server.url}/api/v2.0"
            body = {
                "name": "reference",
                "type": "docker-registry",
                "url": peer.url,
                "credential": {"type": "basic", "access_key": ALICE[0], "access_secret": ALICE[1]},
            }
            r = requests.post(f"{api}/registries", auth=ADMIN, json=body, timeout=30)
            assert r.status_code == 201, r.text
            registry_id = int(r.headers["Location"].rsplit("/", 1)[1])
            body = {"project_name": "hub-proxy", "registry_id": registry_id}
            r = requests.post(f"{api}/projects", auth=ADMIN, json=body, timeout=30)
            assert r.status_code == 201, r.text
            url = f"{server.url}/v2/hub-proxy/library/once/blobs/{digest}"

            def get(_: int) -> bytes:
                with requests.Session() as session:  # a connection each: both workers serve
                    return session.get(url, auth=ADMIN, timeout=120).content

            with ThreadPoolExecutor(8) as pool:
                bodies = list(pool.map(get, range(8)))
            assert all(b == data for b in bodies)
            log = peer.log()
            served = re.compile(
                r'msg="response completed".*http\.request\.method=GET .*'
                rf'uri="/v2/library/once/blobs/{digest}".*http\.response\.status=200'
            )
            gets = [line for line in log.splitlines() if served.search(line)]
            assert len(gets) == 1, log[-4000:]
