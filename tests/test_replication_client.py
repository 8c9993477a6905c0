"""The outbound OCI client (``wharf.replication.client``) against real peers started here:
a Wharf with Docker token auth (``wharf serve``), the reference registry (distribution 2.8)
with HTTP Basic users from htpasswd, the reference registry taking tokens from the Wharf's
token service on another port (Docker Hub's shape), the reference registry over https,
and a proxy in front of it that answers 429/503, drops connections and cuts bodies."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import time
import tracemalloc
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
import requests

from tests.artifacts import OCI_LAYER, push_image, push_referrer, read_blob
from tests.faultproxy import Fault, FaultProxy
from tests.helpers import Server, free_port, run_wharf
from tests.peers import Peer, TokenAuth, run_reference_registry
from tests.tls import make_certificate
from wharf.registry.oci.manifests import DOCKER_LIST, OCI_INDEX
from wharf.replication.client.auth import AuthFailed, parse_challenges, pick_challenge
from wharf.replication.client.blobs import BytesSource, DigestMismatch, FileSource, digest_bytes
from wharf.replication.client.client import (
    BlobOutcome,
    Descriptor,
    Manifest,
    RegistryClient,
    copy_blob,
    referrers_tag,
)
from wharf.replication.client.endpoint import (
    Credential,
    Endpoint,
    InvalidEndpoint,
    check_ca_certificate,
)
from wharf.replication.client.transport import (
    ClientOptions,
    Denied,
    NotFound,
    RegistryUnreachable,
    RetryPolicy,
    retry_after,
)

T = TypeVar("T")
PEERS = pytest.mark.slow  # registry processes started by the module's fixtures
ALICE = ("alice", "Alice-Secret-1")
ADMIN = ("admin", "Peer-Admin-Pass-1")
FAST_RETRY = ClientOptions(retry=RetryPolicy(attempts=4, backoff=0.01, max_delay=2.0))


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


# --- peers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    directory = tmp_path_factory.mktemp("reference-basic")
    with run_reference_registry(directory, users=dict([ALICE])) as peer:
        yield peer


@pytest.fixture(scope="module")
def wharf_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("wharf-peer") / "data"
    with run_wharf(data, auth=True, env={"WHARF_ADMIN_PASSWORD": ADMIN[1]}) as server:
        for project in ("peer", "hub"):
            r = requests.post(
                f"{server.url}/api/v2.0/projects",
                json={"project_name": project, "metadata": {"public": "false"}},
                auth=ADMIN,
                timeout=30,
            )
            assert r.status_code == 201, r.text
        yield server


def _signing_certificate(data_dir: Path, directory: Path) -> Path:
    """A self-signed certificate over the Wharf's token signing key, for a registry that
    trusts its tokens (distribution finds the key by the libtrust ``kid``)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    with sqlite3.connect(data_dir / "wharf.db") as db:
        (private_pem,) = db.execute(
            "SELECT private_key FROM signing_keys WHERE active = 1 ORDER BY created DESC"
        ).fetchone()
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wharf token signer")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    path = directory / "token-signer.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(scope="module")
def hub_style(wharf_peer: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """The reference registry whose token service is the Wharf peer (another host:port)."""
    directory = tmp_path_factory.mktemp("reference-token")
    token = TokenAuth(
        realm=f"{wharf_peer.url}/service/token",
        service="wharf",
        issuer="wharf-token-service",
        certificates=_signing_certificate(wharf_peer.data_dir, directory),
    )
    with run_reference_registry(directory, token=token) as peer:
        yield peer


def wharf_endpoint(server: Server, kind: str = "basic") -> Endpoint:
    return Endpoint(server.url, "wharf", Credential(*ADMIN, kind=kind))


def reference_endpoint(peer: Peer, **kw: Any) -> Endpoint:
    return Endpoint(peer.url, "docker-registry", Credential(*ALICE), **kw)


@pytest.fixture(params=["wharf", "reference"])
def peer(request: pytest.FixtureRequest) -> tuple[Endpoint, str]:
    """(endpoint, a repository prefix the credential may push under) of each peer."""
    if request.param == "wharf":
        return wharf_endpoint(request.getfixturevalue("wharf_peer")), "peer"
    return reference_endpoint(request.getfixturevalue("reference")), "team"


# --- units ----------------------------------------------------------------------------------


def test_endpoint_types_urls_and_names() -> None:
    hub = Endpoint("https://hub.docker.com/", "docker-hub")
    assert hub.api_url == "https://registry-1.docker.io"
    assert hub.repository("alpine") == "library/alpine"
    assert hub.repository("bitnami/redis") == "bitnami/redis"
    assert not hub.kind.catalog
    mirror = Endpoint("https://mirror.example.com/", "docker-hub")
    assert mirror.api_url == "https://mirror.example.com"  # a Hub mirror keeps its address
    other = Endpoint("http://127.0.0.1:5000/", "docker-registry")
    assert other.api_url == "http://127.0.0.1:5000"
    assert other.repository("alpine") == "alpine"
    for bad in ("ftp://x", "http://", "http://h/?q=1", "registry.example.com"):
        with pytest.raises(InvalidEndpoint):
            Endpoint(bad)
    with pytest.raises(InvalidEndpoint):
        Endpoint("http://h", "quay-like")
    with pytest.raises(InvalidEndpoint):
        Credential("u", "p", kind="apikey")
    with pytest.raises(InvalidEndpoint):
        check_ca_certificate("not a certificate")
    assert "p" not in repr(Credential("u", "p"))


def test_challenges_are_parsed_like_the_spec_writes_them() -> None:
    challenges = parse_challenges(
        [
            'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
            'scope="repository:a/b:pull,push repository:c:pull"',
            'Basic realm="a \\"quoted\\" realm, with comma"',
        ]
    )
    assert [c.scheme for c in challenges] == ["bearer", "basic"]
    bearer = challenges[0]
    assert bearer.realm == "https://auth.example.com/token"
    assert bearer.service == "registry.example.com"
    assert bearer.scopes == ("repository:a/b:pull,push", "repository:c:pull")
    assert challenges[1].realm == 'a "quoted" realm, with comma'
    both = parse_challenges(['Basic realm="x", Bearer realm="y",error="insufficient_scope"'])
    chosen = pick_challenge(both)
    assert chosen is not None and chosen.scheme == "bearer" and chosen.insufficient_scope
    assert pick_challenge(parse_challenges(["Negotiate"])) is None


def test_retry_after_and_backoff() -> None:
    assert retry_after({"Retry-After": "7"}) == 7.0
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470) == 10.0
    assert retry_after({"Retry-After": "soon"}) is None
    assert retry_after({}) is None
    policy = RetryPolicy(attempts=5, backoff=0.5, max_delay=3.0)
    assert policy.delay(1, 100.0) == 3.0  # capped, even when the remote asks for more
    assert 0.25 <= policy.delay(1, None) <= 0.5
    assert 1.0 <= policy.delay(3, None) <= 2.0
    assert policy.delay(10, None) == 3.0


# --- ping and credentials -------------------------------------------------------------------


@PEERS
def test_ping_with_each_kind_of_credential(wharf_peer: Server, reference: Peer) -> None:
    async def main() -> None:
        async with RegistryClient(wharf_endpoint(wharf_peer)) as client:
            ping = await client.ping()
            assert ping.auth_scheme == "bearer" and ping.api_version == "registry/2.0"
        async with RegistryClient(reference_endpoint(reference)) as client:
            assert (await client.ping()).auth_scheme == "basic"
        wrong = Endpoint(wharf_peer.url, "wharf", Credential("admin", "wrong-password"))
        async with RegistryClient(wrong) as client:
            with pytest.raises(AuthFailed):
                await client.ping()
        wrong = Endpoint(reference.url, "docker-registry", Credential("alice", "nope"))
        async with RegistryClient(wrong) as client:
            with pytest.raises(Denied):
                await client.ping()
        anonymous = Endpoint(reference.url, "docker-registry")
        async with RegistryClient(anonymous) as client:
            with pytest.raises(AuthFailed, match="wants a username"):
                await client.ping()

    run(main())


def test_an_unreachable_registry_is_reported_after_the_retries() -> None:
    async def main() -> None:
        endpoint = Endpoint(f"http://127.0.0.1:{free_port()}", "oci")
        async with RegistryClient(endpoint, FAST_RETRY) as client:
            with pytest.raises(RegistryUnreachable):
                await client.ping()
            assert client.transport.stats.retries == FAST_RETRY.retry.attempts - 1

    run(main())


# --- blobs ----------------------------------------------------------------------------------


@PEERS
def test_blobs_monolithic_chunked_existing_mounted_ranged(peer: tuple[Endpoint, str]) -> None:
    endpoint, prefix = peer

    async def main() -> None:
        async with RegistryClient(endpoint) as client:
            whole = os.urandom(3 * 1024 * 1024 + 11)
            digest = digest_bytes(whole)
            repo = f"{prefix}/blobs-{os.urandom(3).hex()}"
            assert await client.blob_size(repo, digest) is None
            assert await client.push_blob(repo, digest, BytesSource(whole)) is BlobOutcome.UPLOADED
            assert await client.push_blob(repo, digest, BytesSource(whole)) is BlobOutcome.EXISTED
            patches = client.transport.stats.by_method.get("PATCH", 0)
            chunked = os.urandom(2 * 1024 * 1024 + 5)
            outcome = await client.push_blob(
                repo, digest_bytes(chunked), BytesSource(chunked), chunk_size=512 * 1024
            )
            assert outcome is BlobOutcome.UPLOADED
            assert client.transport.stats.by_method["PATCH"] - patches == 5  # 4 full + 1
            assert await read_blob(client, repo, digest_bytes(chunked)) == chunked
            assert await read_blob(client, repo, digest, offset=1000) == whole[1000:]
            assert await client.blob_size(repo, digest) == len(whole)
            other = f"{prefix}/mounted-{os.urandom(3).hex()}"
            posts = client.transport.stats.by_method["POST"]
            outcome = await client.push_blob(other, digest, BytesSource(whole), mount_from=[repo])
            assert outcome is BlobOutcome.MOUNTED
            assert client.transport.stats.by_method["POST"] - posts == 1  # no upload
            assert await client.blob_size(other, digest) == len(whole)
            empty = b""
            assert (
                await client.push_blob(repo, digest_bytes(empty), BytesSource(empty))
                is BlobOutcome.UPLOADED
            )

    run(main())


@PEERS
def test_bytes_that_are_not_the_digest_never_land(peer: tuple[Endpoint, str]) -> None:
    endpoint, prefix = peer

    async def main() -> None:
        async with RegistryClient(endpoint) as client:
            repo = f"{prefix}/lies"
            claimed = digest_bytes(b"what we say")
            for chunk_size in (None, 4):
                with pytest.raises(DigestMismatch):
                    await client.push_blob(
                        repo, claimed, BytesSource(b"what we send"), chunk_size=chunk_size
                    )
                assert await client.blob_size(repo, claimed) is None

    run(main())


@PEERS
def test_a_big_blob_streams_through_without_being_held(reference: Peer, tmp_path: Path) -> None:
    size = 48 * 1024 * 1024
    path = tmp_path / "big"
    digest = hashlib.sha256()
    with path.open("wb") as f:
        block = os.urandom(1024 * 1024)
        for i in range(size // len(block)):
            piece = block[:-1] + bytes([i % 256])
            f.write(piece)
            digest.update(piece)
    expected = "sha256:" + digest.hexdigest()

    async def main() -> tuple[int, int]:
        async with RegistryClient(reference_endpoint(reference)) as client:
            await client.ping()
            tracemalloc.start()
            try:
                await client.push_blob("team/big", expected, FileSource(path))
                _, pushed_peak = tracemalloc.get_traced_memory()
                tracemalloc.reset_peak()
                check = hashlib.sha256()
                async with client.blob("team/big", expected) as stream:
                    async for chunk in stream.chunks():
                        check.update(chunk)
                _, pulled_peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert "sha256:" + check.hexdigest() == expected
            return pushed_peak, pulled_peak

    pushed_peak, pulled_peak = run(main())
    assert pushed_peak < 8 * 1024 * 1024, pushed_peak
    assert pulled_peak < 8 * 1024 * 1024, pulled_peak


# --- manifests ------------------------------------------------------------------------------


@PEERS
def test_manifests_and_indexes_of_every_media_type(peer: tuple[Endpoint, str]) -> None:
    endpoint, prefix = peer

    async def main() -> None:
        async with RegistryClient(endpoint) as client:
            repo = f"{prefix}/multi-{os.urandom(3).hex()}"
            oci = await push_image(client, repo, "oci")
            docker = await push_image(client, repo, "docker", docker=True)
            for media_type, children in ((OCI_INDEX, [oci, docker]), (DOCKER_LIST, [docker])):
                doc = {
                    "schemaVersion": 2,
                    "mediaType": media_type,
                    "manifests": [
                        {
                            "mediaType": child.media_type,
                            "digest": child.digest,
                            "size": len(child.body),
                            "platform": {"architecture": "amd64", "os": "linux"},
                        }
                        for child in children
                    ],
                }
                index = Manifest.of(orjson.dumps(doc), media_type)
                tag = "list" if media_type == DOCKER_LIST else "index"
                pushed = await client.put_manifest(repo, tag, index)
                assert pushed.digest == index.digest
                got = await client.manifest(repo, tag)
                assert (got.media_type, got.body, got.digest) == (
                    media_type,
                    index.body,
                    index.digest,
                )
                assert got.is_index and [c.digest for c in got.children()] == [
                    c.digest for c in children
                ]
            for manifest, tag in ((oci, "oci"), (docker, "docker")):
                by_digest = await client.manifest(repo, manifest.digest)
                assert by_digest.body == manifest.body
                assert by_digest.media_type == manifest.media_type
                head = await client.manifest_descriptor(repo, tag)
                assert head is not None and head.digest == manifest.digest
                assert head.size == len(manifest.body)
                assert [b.digest for b in by_digest.blobs()] == [b.digest for b in manifest.blobs()]
            assert await client.manifest_descriptor(repo, "absent") is None
            with pytest.raises(NotFound):
                await client.manifest(repo, "absent")
            assert sorted([t async for t in client.tags(repo, page_size=2)]) == [
                "docker",
                "index",
                "list",
                "oci",
            ]
            assert [t async for t in client.tags(f"{prefix}/never-pushed")] == []
            assert await client.delete_manifest(repo, oci.digest)
            assert await client.manifest_descriptor(repo, oci.digest) is None

    run(main())


@PEERS
def test_catalog_follows_pages(wharf_peer: Server, reference: Peer) -> None:
    async def main() -> None:
        for endpoint, prefix in (
            (wharf_endpoint(wharf_peer), "peer"),
            (reference_endpoint(reference), "team"),
        ):
            async with RegistryClient(endpoint) as client:
                names = [f"{prefix}/cat-{i}-{os.urandom(2).hex()}" for i in range(3)]
                for name in names:
                    await push_image(client, name, "v1", layers=1)
                listed = [name async for name in client.catalog(page_size=2)]
                assert set(names) <= set(listed)
                assert len(listed) == len(set(listed))
                catalog_gets = client.transport.stats.by_method["GET"]
                assert catalog_gets >= 2  # several pages were asked for

    run(main())


# --- referrers ------------------------------------------------------------------------------


@PEERS
def test_referrers_by_api_or_by_tag_schema(peer: tuple[Endpoint, str]) -> None:
    endpoint, prefix = peer

    async def main() -> None:
        async with RegistryClient(endpoint) as client:
            repo = f"{prefix}/signed-{os.urandom(3).hex()}"
            image = await push_image(client, repo, "v1")
            signature, pushed = await push_referrer(client, repo, image, "application/x.sig")
            sbom, _ = await push_referrer(client, repo, image, "application/x.sbom")
            found = await client.referrers(repo, image.digest)
            assert {e["digest"] for e in found} == {signature.digest, sbom.digest}
            by_kind = {e["digest"]: e.get("artifactType") for e in found}
            assert by_kind[signature.digest] == "application/x.sig"
            only = await client.referrers(repo, image.digest, "application/x.sbom")
            assert [e["digest"] for e in only] == [sbom.digest]
            fallback_index = await client.manifest_descriptor(repo, referrers_tag(image.digest))
            if endpoint.type == "wharf":
                # Wharf indexes referrers itself: no tag-schema index is written
                assert pushed.subject_acknowledged
                assert fallback_index is None
            else:
                assert not pushed.subject_acknowledged
                assert fallback_index is not None and fallback_index.media_type == OCI_INDEX
            assert await client.referrers(repo, signature.digest) == []

    run(main())


# --- between remotes ------------------------------------------------------------------------


@PEERS
def test_copy_an_image_from_one_remote_to_another(wharf_peer: Server, reference: Peer) -> None:
    async def main() -> None:
        async with (
            RegistryClient(wharf_endpoint(wharf_peer)) as source,
            RegistryClient(reference_endpoint(reference)) as destination,
        ):
            image = await push_image(source, "peer/copied", "v1", layers=3, size=300_000)
            outcomes = []
            for blob in image.blobs():
                outcomes.append(
                    await copy_blob(
                        source, "peer/copied", destination, "team/copied", blob, chunk_size=100_000
                    )
                )
            assert outcomes == [BlobOutcome.UPLOADED] * 4
            await destination.put_manifest("team/copied", "v1", image)
            again = [
                await copy_blob(source, "peer/copied", destination, "team/copied", blob)
                for blob in image.blobs()
            ]
            assert again == [BlobOutcome.EXISTED] * 4  # nothing copied twice
            copied = await destination.manifest("team/copied", "v1")
            assert copied.digest == image.digest
            for blob in image.blobs():
                data = await read_blob(destination, "team/copied", blob.digest)
                assert digest_bytes(data) == blob.digest

    run(main())


@PEERS
def test_token_service_on_another_host(wharf_peer: Server, hub_style: Peer) -> None:
    """Docker Hub's shape: the registry's challenge names a realm on another host."""

    async def main() -> None:
        for kind in ("basic", "oauth"):
            endpoint = Endpoint(hub_style.url, "docker-registry", Credential(*ADMIN, kind=kind))
            async with RegistryClient(endpoint) as client:
                ping = await client.ping()
                assert ping.auth_scheme == "bearer"
                challenge = client.transport.auth.challenge
                assert challenge is not None and challenge.realm.startswith(wharf_peer.url)
                image = await push_image(client, f"hub/app-{kind}", "v1")
                assert (await client.manifest(f"hub/app-{kind}", "v1")).digest == image.digest
                grants = client.transport.auth.grants
                if kind == "basic":
                    assert set(grants) == {"get"}
                else:  # the password grant once, then refresh tokens for new scopes
                    assert grants[0] == "password" and set(grants[1:]) == {"refresh_token"}
                    assert len(grants) >= 3
                # the token service grants nothing in a project that does not exist
                with pytest.raises(Denied):
                    await push_image(client, "nowhere/app", "v1")
        anonymous = Endpoint(hub_style.url, "docker-registry")
        async with RegistryClient(anonymous) as client:
            with pytest.raises(Denied):
                await client.manifest("hub/app-basic", "v1")

    run(main())


# --- faults ---------------------------------------------------------------------------------


@PEERS
def test_retries_honour_retry_after_and_resume_uploads(reference: Peer) -> None:
    async def main() -> None:
        async with FaultProxy(reference.url) as proxy:
            endpoint = Endpoint(proxy.url, "docker-registry", Credential(*ALICE))
            async with RegistryClient(endpoint, FAST_RETRY) as client:
                await client.ping()
                # 429 with Retry-After: the client waits what the remote asked
                proxy.inject(Fault("HEAD", "/blobs/", "status", 429, {"Retry-After": "1"}))
                data = os.urandom(200_000)
                started = time.monotonic()
                await client.push_blob("team/faults", digest_bytes(data), BytesSource(data))
                assert time.monotonic() - started >= 0.95
                assert client.transport.stats.retries == 1
                # 503 twice on the upload's start: retried after short backoffs
                proxy.inject(Fault("POST", "/blobs/uploads/", "status", 503, times=2))
                data = os.urandom(200_000)
                await client.push_blob("team/faults", digest_bytes(data), BytesSource(data))
                assert client.transport.stats.retries == 3
                # the connection dropped during a monolithic PUT: a new upload from the start
                proxy.inject(Fault("PUT", "digest=", "drop"))
                data = os.urandom(1024 * 1024)
                outcome = await client.push_blob(
                    "team/faults", digest_bytes(data), BytesSource(data)
                )
                assert outcome is BlobOutcome.UPLOADED
                assert await read_blob(client, "team/faults", digest_bytes(data)) == data
                # dropped during the third PATCH of a chunked upload: resumed from there
                proxy.seen.clear()
                proxy.inject(Fault("PATCH", "/blobs/uploads/", "drop", after=2))
                data = os.urandom(1024 * 1024)
                await client.push_blob(
                    "team/faults", digest_bytes(data), BytesSource(data), chunk_size=256 * 1024
                )
                patches = [s for s in proxy.seen if s.method == "PATCH"]
                posts = [s for s in proxy.seen if s.method == "POST"]
                assert len(posts) == 1  # one upload session, resumed
                assert [p.fault for p in patches].count("drop") == 1
                assert len(patches) == 5  # 4 pieces, one of them sent twice
                assert await read_blob(client, "team/faults", digest_bytes(data)) == data

    run(main())


@PEERS
def test_a_source_cut_off_midway_is_read_again(reference: Peer, wharf_peer: Server) -> None:
    async def main() -> None:
        async with FaultProxy(reference.url) as proxy:
            source_endpoint = Endpoint(proxy.url, "docker-registry", Credential(*ALICE))
            async with (
                RegistryClient(source_endpoint, FAST_RETRY) as source,
                RegistryClient(wharf_endpoint(wharf_peer), FAST_RETRY) as destination,
            ):
                data = os.urandom(2 * 1024 * 1024)
                digest = digest_bytes(data)
                await source.push_blob("team/cut", digest, BytesSource(data))
                proxy.inject(Fault("GET", f"/blobs/{digest}", "truncate"))
                blob = Descriptor(OCI_LAYER, digest, len(data))
                outcome = await copy_blob(source, "team/cut", destination, "peer/cut", blob)
                assert outcome is BlobOutcome.UPLOADED
                gets = [s for s in proxy.seen if s.method == "GET" and digest in s.path]
                assert [g.fault for g in gets] == ["truncate", None]
                assert await read_blob(destination, "peer/cut", digest) == data

    run(main())


# --- TLS ------------------------------------------------------------------------------------


@PEERS
def test_tls_with_a_ca_certificate_a_ca_bundle_or_insecure(tmp_path: Path) -> None:
    certificate, key = make_certificate(tmp_path)
    pem = certificate.read_text()
    check_ca_certificate(pem)
    with run_reference_registry(
        tmp_path / "tls", users=dict([ALICE]), tls=(certificate, key)
    ) as peer:

        async def main() -> None:
            untrusted = reference_endpoint(peer)
            async with RegistryClient(untrusted, FAST_RETRY) as client:
                with pytest.raises(RegistryUnreachable, match=r"(?i)certificate"):
                    await client.ping()
                assert client.transport.stats.retries == 0  # a bad certificate is final
            for endpoint, options in (
                (reference_endpoint(peer, ca_certificate=pem), None),
                (reference_endpoint(peer), ClientOptions(ca_bundle=certificate)),
                (reference_endpoint(peer, insecure=True), None),
            ):
                async with RegistryClient(endpoint, options) as client:
                    assert (await client.ping()).auth_scheme == "basic"
                    image = await push_image(client, "team/tls", "v1", layers=1)
                    assert (await client.manifest("team/tls", "v1")).digest == image.digest

        run(main())
