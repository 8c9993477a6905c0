"""Replicas behind a load balancer (tests/topology.py): any request may land on any
replica. An upload started on one continues on another and finishes on a third; a token
one issues is accepted by all; the conformance suite passes through the load balancer; and
killing things (a replica, Redis, PostgreSQL) mid-traffic loses nothing acknowledged; a
replica cut off from the network says it is not ready and gets no traffic.

On SQLite and PostgreSQL with a shared directory; what proves something about S3 (an
upload's multipart parts made by different replicas, kill -9 mid-upload, real clients)
also on PostgreSQL + S3 (``on_s3_too``, ``s3_only``). The conformance suite is not run
again there: ``test_api_s3.py`` runs it on S3, and this module through the LB."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from conformance import run
from testbed.netns import netns_unavailable

from .helpers import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256
from .services import needs_redis, restart_redis, stop_redis
from .topology import (
    ADMIN,
    S3_VARIANT,
    Topology,
    needs_haproxy,
    on_s3_too,
    postgresql_only,
    topology,
)

pytestmark = [pytest.mark.services, pytest.mark.slow, needs_redis, needs_haproxy]
__all__ = ["topology"]  # the fixture, for pytest
MiB = 1024 * 1024
s3_only = pytest.mark.parametrize("topology", [S3_VARIANT], indirect=True)


def _token(url: str, repo: str, actions: str = "push,pull") -> str:
    """A bearer token from the replica at ``url`` (its realm is the LB's public URL; ask
    this replica's own /service/token, to know who issued it)."""
    challenge = requests.get(f"{url}/v2/", timeout=10).headers["WWW-Authenticate"]
    service = re.search(r'service="([^"]+)"', challenge)
    assert service, challenge
    r = requests.get(
        f"{url}/service/token",
        params={"service": service.group(1), "scope": f"repository:{repo}:{actions}"},
        auth=ADMIN,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def _path(location: str) -> str:
    return location[location.index("/v2/") :]


def _s3_staging(topology: Topology, upload_id: str) -> tuple[list[int], list[str]]:
    """The sizes of the parts in the open multipart upload(s) of upload ``upload_id``,
    and the keys of its other staging objects (segments), straight from the bucket."""
    assert topology.s3 is not None
    s3: Any = topology.s3.client()
    bucket, prefix = topology.s3.bucket, f"uploads/{upload_id}/"
    parts = []
    for mpu in s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", []):
        listed = s3.list_parts(Bucket=bucket, Key=mpu["Key"], UploadId=mpu["UploadId"])
        parts += [part["Size"] for part in listed.get("Parts", [])]
    objects = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return parts, [o["Key"] for o in objects]


def _s3_blob_size(topology: Topology, digest: str) -> int:
    assert topology.s3 is not None
    s3: Any = topology.s3.client()
    hexa = digest.split(":")[1]
    key = f"blobs/sha256/{hexa[:2]}/{hexa}"
    return int(s3.head_object(Bucket=topology.s3.bucket, Key=key)["ContentLength"])


@on_s3_too
def test_upload_started_on_a_continues_on_b_and_finishes_on_c(topology: Topology) -> None:
    a, b, c = (topology.replica(n) for n in "abc")
    repo = "library/moving-upload"
    token = _token(a.url, repo)  # issued by A, used on B and C
    auth = {"Authorization": f"Bearer {token}"}
    # on S3 (5 MiB parts) each of A's and B's chunks completes a part of one multipart upload
    chunk = 6 * MiB if topology.s3 is not None else MiB
    data = os.urandom(2 * chunk + 3 * MiB + 17)
    parts = [data[:chunk], data[chunk : 2 * chunk], data[2 * chunk :]]
    r = requests.post(f"{a.url}/v2/{repo}/blobs/uploads/", headers=auth, timeout=10)
    assert r.status_code == 202, r.text
    path = _path(r.headers["Location"])
    upload_id = path.split("/")[-1].split("?")[0]
    r = requests.patch(
        f"{a.url}{path}",
        data=parts[0],
        headers={**auth, "Content-Range": f"0-{len(parts[0]) - 1}"},
        timeout=10,
    )
    assert r.status_code == 202, r.text
    path = _path(r.headers["Location"])
    if topology.s3 is not None:  # A uploaded the first part, the rest waits in a segment
        assert _s3_staging(topology, upload_id)[0] == [5 * MiB]
    # B picks it up where A left it: its status, then the next chunk
    r = requests.get(f"{b.url}{path}", headers=auth, timeout=10)
    assert (r.status_code, r.headers["Range"]) == (204, f"0-{len(parts[0]) - 1}")
    start = len(parts[0])
    r = requests.patch(
        f"{b.url}{path}",
        data=parts[1],
        headers={**auth, "Content-Range": f"{start}-{start + len(parts[1]) - 1}"},
        timeout=10,
    )
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == f"0-{start + len(parts[1]) - 1}"
    path = _path(r.headers["Location"])
    if topology.s3 is not None:  # B continued the same multipart upload: a second part
        assert _s3_staging(topology, upload_id)[0] == [5 * MiB, 5 * MiB]
    digest = sha256(data)
    r = requests.put(
        f"{c.url}{path}",
        params={"digest": digest},
        data=parts[2],
        headers={**auth, "Content-Type": "application/octet-stream"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    for replica in (a, b, c):
        got = requests.get(f"{replica.url}/v2/{repo}/blobs/{digest}", headers=auth, timeout=10)
        assert got.status_code == 200
        assert hashlib.sha256(got.content).hexdigest() == digest.split(":")[1]
    if topology.s3 is not None:  # C completed it: the blob in place, no staging left
        assert _s3_blob_size(topology, digest) == len(data)
        assert _s3_staging(topology, upload_id) == ([], [])


@s3_only
def test_kill_9_of_a_replica_mid_chunked_upload_on_s3(topology: Topology) -> None:
    """B dies (SIGKILL) while a PATCH streams into it, after it has put a part into the
    upload's multipart upload, and while two clients push images through the LB. The
    chunked upload's client asks another replica where the upload stands, finds only what
    was acknowledged, resumes there (B's lease is not waited out: its process is gone) and
    finishes: no part of the blob is visible before, all of it after, and nothing B left in
    the bucket survives the commit. The pushers lose nothing acknowledged."""
    a, b, c = (topology.replica(n) for n in "abc")
    repo = "library/s3-killed-upload"
    auth = {"Authorization": f"Bearer {_token(a.url, repo)}"}
    data = os.urandom(14 * MiB + 5)
    digest = sha256(data)
    first = 6 * MiB  # A's PATCH: one 5 MiB part and a 1 MiB segment
    upload: dict[str, str] = {}

    def chaos() -> None:
        r = requests.post(f"{a.url}/v2/{repo}/blobs/uploads/", headers=auth, timeout=10)
        assert r.status_code == 202, r.text
        path = _path(r.headers["Location"])
        upload["id"] = path.split("/")[-1].split("?")[0]
        r = requests.patch(
            f"{a.url}{path}",
            data=data[:first],
            headers={**auth, "Content-Range": f"0-{first - 1}"},
            timeout=30,
        )
        assert r.status_code == 202, r.text
        path = _path(r.headers["Location"])
        _kill_b_while_it_receives(topology, f"{b.url}{path}", auth, data[first : 12 * MiB])
        try:
            # where the upload stands: what A's PATCH acknowledged, none of B's bytes
            r = requests.get(f"{c.url}{path}", headers=auth, timeout=10)
            assert (r.status_code, r.headers["Range"]) == (204, f"0-{first - 1}")
            for replica in (a, c):
                url = f"{replica.url}/v2/{repo}/blobs/{digest}"
                assert requests.head(url, headers=auth, timeout=10).status_code == 404
            r = requests.patch(
                f"{c.url}{path}",
                data=data[first:],
                headers={**auth, "Content-Range": f"{first}-{len(data) - 1}"},
                timeout=30,
            )
            assert r.status_code == 202, r.text
            r = requests.put(
                f"{a.url}{_path(r.headers['Location'])}",
                params={"digest": digest},
                headers=auth,
                timeout=30,
            )
            assert r.status_code == 201, r.text
        finally:
            b.start()
        topology.wait_ready(b)

    pushers = _traffic(topology, "library/s3-kill9", 0.0, chaos)
    _nothing_acknowledged_lost(topology, "library/s3-kill9", pushers)
    for replica in (a, b, c):
        r = requests.get(f"{replica.url}/v2/{repo}/blobs/{digest}", headers=auth, timeout=30)
        assert r.status_code == 200 and r.content == data
    assert _s3_blob_size(topology, digest) == len(data)
    assert _s3_staging(topology, upload["id"]) == ([], [])  # B's orphaned part went too
    print(f"kill -9 on S3: {sum(len(p.acked_tags) for p in pushers)} images pushed meanwhile")


def _kill_b_while_it_receives(
    topology: Topology, url: str, auth: dict[str, str], chunk: bytes
) -> None:
    """PATCH ``chunk`` to replica b at ``url`` as a streamed body that then stalls; SIGKILL
    b as soon as a second part of the upload is in the bucket."""
    upload_id = url.split("/")[-1].split("?")[0]
    release = threading.Event()
    outcome: list[object] = []

    def body() -> Iterator[bytes]:
        for offset in range(0, len(chunk), MiB):
            yield chunk[offset : offset + MiB]
        release.wait(30)  # the request stays open

    def patch() -> None:
        try:
            outcome.append(requests.patch(url, data=body(), headers=auth, timeout=30))
        except requests.RequestException as exc:
            outcome.append(exc)

    sender = threading.Thread(target=patch)
    sender.start()
    try:
        deadline = time.monotonic() + 20
        while len(_s3_staging(topology, upload_id)[0]) < 2:
            assert time.monotonic() < deadline, "b never uploaded a part"
            time.sleep(0.05)
        topology.replica("b").kill(signal.SIGKILL)
    finally:
        release.set()
        sender.join(30)
    assert isinstance(outcome[0], requests.ConnectionError), outcome  # never answered


def test_a_token_issued_by_one_replica_is_accepted_by_all(topology: Topology) -> None:
    repo = "library/tokens"
    for issuer in topology.replicas:
        token = _token(issuer.url, repo, "pull")
        for replica in topology.replicas:
            r = requests.get(
                f"{replica.url}/v2/{repo}/tags/list",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            # authenticated and authorised (the repository does not exist yet)
            assert r.status_code == 404, (issuer.name, replica.name, r.text)
            assert r.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    # and without one, a push is refused (`library` is public: anonymous pulls are allowed)
    r = requests.post(f"{topology.replicas[0].url}/v2/{repo}/blobs/uploads/", timeout=10)
    assert r.status_code == 401


def test_every_replica_is_ready_and_the_lb_spreads_requests(topology: Topology) -> None:
    for replica in topology.replicas:
        r = requests.get(f"{replica.url}/readyz", timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["checks"] == {"database": "ok", "storage": "ok", "redis": "ok"}
    served = _served_by(topology, 30)
    assert set(served) == {r.name for r in topology.replicas}, served


def _served_by(topology: Topology, n: int) -> dict[str, int]:
    """How many of ``n`` requests through the LB each replica answered (by its metrics)."""
    before = {r.name: _request_count(r.url) for r in topology.replicas}
    for _ in range(n):
        assert requests.get(f"{topology.lb.url}/v2/", timeout=10).status_code == 401
    after = {r.name: _request_count(r.url) for r in topology.replicas}
    return {name: after[name] - before[name] for name in after if after[name] > before[name]}


def _request_count(url: str) -> int:
    """Requests to /v2/ (the base endpoint) this replica has answered."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    total = 0
    for line in text.splitlines():
        if line.startswith("wharf_http_requests_total{") and 'endpoint="base"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def test_conformance_suite_passes_through_the_load_balancer(topology: Topology) -> None:
    out = io.StringIO()
    report = run(
        topology.lb.url,
        namespace="library/conformance",
        crossmount_namespace="library/crossmount",
        username=ADMIN[0],
        password=ADMIN[1],
        out=out,
        timeout=30,
    )
    assert report.passed > 50, out.getvalue()
    assert report.ok, "\n".join(f"{r.id}: {r.reason}" for r in report.failures())


RETRYABLE = {502, 503, 504}


class Pusher:
    """Pushes small images through the load balancer the way a retrying client does
    (each request again on a connection error or a 502/503/504), recording what the
    registry acknowledged and every status it answered."""

    def __init__(self, url: str, repo: str, token: str, deadline: float) -> None:
        self.url = url
        self.repo = repo
        self.deadline = deadline
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.acked_blobs: dict[str, bytes] = {}
        self.attempted_blobs: dict[str, int] = {}
        self.acked_tags: dict[str, str] = {}
        self.statuses: dict[str, int] = {}
        self.retries = 0
        self.longest = 0.0  # the slowest single answer, seconds (a hang would show here)

    def _send(self, method: str, path: str, **kwargs: object) -> requests.Response:
        while True:
            started = time.monotonic()
            try:
                r = self.http.request(method, self.url + path, timeout=15, **kwargs)  # type: ignore[arg-type]
            except requests.ConnectionError:
                self.statuses["connection-error"] = self.statuses.get("connection-error", 0) + 1
                r = None
            self.longest = max(self.longest, time.monotonic() - started)
            if r is not None:
                key = str(r.status_code)
                self.statuses[key] = self.statuses.get(key, 0) + 1
                if r.status_code not in RETRYABLE:
                    return r
                if r.status_code == 503 and r.headers.get("Content-Type", "").startswith(
                    "application/json"
                ):
                    assert r.json()["errors"][0]["code"] == "UNAVAILABLE", r.text
            if time.monotonic() > self.deadline:
                raise AssertionError(f"{method} {path}: still failing at the deadline")
            self.retries += 1
            time.sleep(0.1)

    def push_blob(self, data: bytes) -> str:
        digest = sha256(data)
        self.attempted_blobs[digest] = len(data)
        r = self._send(
            "POST", f"/v2/{self.repo}/blobs/uploads/", params={"digest": digest}, data=data
        )
        assert r.status_code == 201, r.text
        self.acked_blobs[digest] = data
        return digest

    def push_image(self, tag: str) -> None:
        layer = os.urandom(64 * 1024 + int.from_bytes(os.urandom(2), "big"))
        config = json.dumps({"tag": tag}).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": self.push_blob(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": OCI_LAYER, "digest": self.push_blob(layer), "size": len(layer)}
            ],
        }
        body = json.dumps(manifest).encode()
        r = self._send(
            "PUT",
            f"/v2/{self.repo}/manifests/{tag}",
            data=body,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert r.status_code == 201, r.text
        self.acked_tags[tag] = sha256(body)

    def run(self, name: str, stop: threading.Event) -> None:
        n = 0
        while not stop.is_set():
            self.push_image(f"{name}-{n}")
            n += 1


def _traffic(topology: Topology, repo: str, seconds: float, during: object) -> list[Pusher]:
    """Two pushers through the LB for ``seconds`` while ``during()`` runs; their records."""
    token = _token(topology.lb.url, repo)
    stop = threading.Event()
    pushers = [Pusher(topology.lb.url, repo, token, time.monotonic() + 25) for _ in range(2)]
    errors: list[BaseException] = []

    def work(pusher: Pusher, name: str) -> None:
        try:
            pusher.run(name, stop)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p, f"t{i}")) for i, p in enumerate(pushers)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    try:
        assert callable(during)
        during()
        time.sleep(max(0.0, seconds - (time.monotonic() - started)))
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not errors, errors
    return pushers


def _nothing_acknowledged_lost(topology: Topology, repo: str, pushers: list[Pusher]) -> None:
    token = _token(topology.lb.url, repo, "pull")
    auth = {"Authorization": f"Bearer {token}"}
    for pusher in pushers:
        assert pusher.acked_tags, "no image was pushed at all"
        for tag, digest in pusher.acked_tags.items():
            r = requests.get(
                f"{topology.lb.url}/v2/{repo}/manifests/{tag}",
                headers={**auth, "Accept": OCI_MANIFEST},
                timeout=10,
            )
            assert r.status_code == 200, (tag, r.text)
            assert r.headers["Docker-Content-Digest"] == digest
        for digest, data in pusher.acked_blobs.items():
            r = requests.get(
                f"{topology.lb.url}/v2/{repo}/blobs/{digest}", headers=auth, timeout=10
            )
            assert r.status_code == 200, (digest, r.text)
            assert r.content == data
        # a blob is there in full or not at all, on every replica, acknowledged or not
        for digest, size in pusher.attempted_blobs.items():
            for replica in topology.replicas:
                r = requests.head(
                    f"{replica.url}/v2/{repo}/blobs/{digest}", headers=auth, timeout=10
                )
                assert r.status_code in (200, 404), r.status_code
                if r.status_code == 200:
                    assert int(r.headers["Content-Length"]) == size


def test_kill_9_a_replica_mid_push_loses_nothing_acknowledged(topology: Topology) -> None:
    repo = "library/kill9"
    victim = topology.replica("b")
    timeline: dict[str, float] = {}

    def chaos() -> None:
        time.sleep(1.0)
        victim.kill(signal.SIGKILL)
        killed = time.monotonic()
        time.sleep(1.5)
        victim.start()
        timeline["back"] = topology.wait_ready(victim) + (time.monotonic() - killed)

    pushers = _traffic(topology, repo, 5.0, chaos)
    _nothing_acknowledged_lost(topology, repo, pushers)
    statuses: dict[str, int] = {}
    for pusher in pushers:
        for key, count in pusher.statuses.items():
            statuses[key] = statuses.get(key, 0) + count
    print(
        f"kill -9: {sum(len(p.acked_tags) for p in pushers)} images acknowledged, "
        f"retries {sum(p.retries for p in pushers)}, statuses {statuses}, "
        f"replica ready {timeline['back']:.1f}s after the kill, "
        f"slowest answer {max(p.longest for p in pushers):.2f}s"
    )
    assert max(p.longest for p in pushers) < 15


def test_redis_killed_during_traffic_then_back(topology: Topology) -> None:
    repo = "library/redis-outage"
    seen: dict[str, object] = {}

    def chaos() -> None:
        time.sleep(0.8)
        stop_redis(topology.redis)
        time.sleep(0.5)
        ready = [requests.get(f"{r.url}/readyz", timeout=10) for r in topology.replicas]
        seen["down"] = [(r.status_code, r.json()["checks"]["redis"]) for r in ready]
        time.sleep(1.5)
        restart_redis(topology.redis)
        back = time.monotonic()
        for replica in topology.replicas:
            topology.wait_ready(replica)
        seen["recovered"] = time.monotonic() - back

    pushers = _traffic(topology, repo, 5.0, chaos)
    assert seen["down"] == [(503, "failed")] * 3
    _nothing_acknowledged_lost(topology, repo, pushers)
    statuses: dict[str, int] = {}
    for pusher in pushers:
        for key, count in pusher.statuses.items():
            statuses[key] = statuses.get(key, 0) + count
    print(
        f"redis outage: statuses {statuses}, every replica ready {seen['recovered']:.1f}s "
        f"after Redis was back, slowest answer {max(p.longest for p in pushers):.2f}s"
    )
    assert max(p.longest for p in pushers) < 15


def test_a_replica_cut_off_by_the_network_is_not_ready_and_the_lb_stops_sending_to_it(
    topology: Topology,
) -> None:
    """Replica c lives in a network namespace of its own: the link it reaches PostgreSQL
    and Redis by goes down (clients and HAProxy still reach it over its other link)."""
    if topology.netns is None:
        pytest.skip(
            f"no network namespace here ({netns_unavailable()}): "
            "test_a_replica_cut_off_through_a_tcp_link_stand_in runs instead"
        )
    # both PostgreSQL and Redis are behind the link; on SQLite, Redis is
    expected = {"database", "redis"} if topology.postgres is not None else {"redis"}
    _cut_off_and_back(topology, expected)


def test_a_replica_cut_off_through_a_tcp_link_stand_in(topology: Topology) -> None:
    """Where network namespaces can't be made: c reaches PostgreSQL (on SQLite: Redis)
    through a TCP forwarder in this process, which then black-holes."""
    if topology.link is None:
        pytest.skip("network namespaces work here: the netns test cuts replica c off for real")
    _cut_off_and_back(topology, {"database"} if topology.postgres is not None else {"redis"})


def _cut_off_and_back(topology: Topology, expected: set[str]) -> None:
    cut = topology.isolated
    topology.cut()
    try:
        started = time.monotonic()
        r = requests.get(f"{cut.url}/readyz", timeout=10)
        assert time.monotonic() - started < 5
        assert r.status_code == 503
        assert expected <= set(r.json()["failed"]), r.text
        # HAProxy needs two failed checks (300 ms apart, each as slow as /readyz's own
        # timeouts on the cut replica): poll for the moment it takes c out of rotation
        served = _served_by_until(topology, lambda seen: cut.name not in seen)
        assert cut.name not in served, served
        assert set(served) == {r.name for r in topology.replicas} - {cut.name}
        out_of_rotation = time.monotonic() - started
    finally:
        topology.restore()
    back = topology.wait_ready(cut)
    served = _served_by_until(topology, lambda seen: cut.name in seen)  # one good check
    assert cut.name in served, served
    print(f"cut off: out of rotation within {out_of_rotation:.1f}s, ready {back:.1f}s after")


def _served_by_until(
    topology: Topology, done: Callable[[dict[str, int]], bool], within: float = 20.0
) -> dict[str, int]:
    """Who serves 20 requests through the LB, asked again until ``done`` or ``within``."""
    deadline = time.monotonic() + within
    served = _served_by(topology, 20)
    while not done(served) and time.monotonic() < deadline:
        time.sleep(0.3)
        served = _served_by(topology, 20)
    return served


@postgresql_only
def test_postgres_restarted_during_traffic_fails_cleanly_and_recovers(
    topology: Topology,
) -> None:
    pg = topology.postgres
    assert pg is not None
    repo = "library/pg-restart"
    seen: dict[str, float] = {}

    def chaos() -> None:
        time.sleep(0.8)
        pg.stop()
        time.sleep(0.5)
        started = time.monotonic()
        r = requests.get(f"{topology.lb.url}/v2/{repo}/tags/list", timeout=30)
        seen["answer"] = time.monotonic() - started
        assert r.status_code == 503, r.text
        assert r.json()["errors"][0]["code"] == "UNAVAILABLE"
        ready = [requests.get(f"{x.url}/readyz", timeout=10) for x in topology.replicas]
        assert [x.status_code for x in ready] == [503] * 3
        time.sleep(1.5)
        pg.start()
        back = time.monotonic()
        for replica in topology.replicas:
            topology.wait_ready(replica)
        seen["recovered"] = time.monotonic() - back

    pushers = _traffic(topology, repo, 6.0, chaos)
    _nothing_acknowledged_lost(topology, repo, pushers)
    statuses: dict[str, int] = {}
    for pusher in pushers:
        for key, count in pusher.statuses.items():
            statuses[key] = statuses.get(key, 0) + count
    print(
        f"postgres restart: statuses {statuses}, a read answered in {seen['answer']:.2f}s "
        f"while down, every replica ready {seen['recovered']:.1f}s after it was back, "
        f"slowest answer {max(p.longest for p in pushers):.2f}s"
    )
    assert "503" in statuses
    assert max(p.longest for p in pushers) < 10


@pytest.mark.skipif(
    shutil.which("skopeo") is None or shutil.which("umoci") is None,
    reason="skopeo and umoci are not installed (bash tests/system-deps.sh)",
)
@on_s3_too
def test_skopeo_copies_through_the_load_balancer(topology: Topology, tmp_path: Path) -> None:
    from .e2e.clients import make_image
    from .e2e.clients import run as run_client

    env = {
        "CONTAINERS_REGISTRIES_CONF": str(tmp_path / "registries.conf"),
        "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"),
        "TMPDIR": str(tmp_path),
    }
    (tmp_path / "registries.conf").write_text("")
    (tmp_path / "auth.json").write_text("{}")
    src = make_image(tmp_path / "src", "v1", layers=3)
    digest, _, raw = src.manifest("v1")
    ref = f"docker://{topology.lb.url.removeprefix('http://')}/library/skopeo-ha:v1"
    creds = f"{ADMIN[0]}:{ADMIN[1]}"
    # each of skopeo's requests may land on another replica (its token comes from one)
    push = ["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", creds]
    run_client([*push, f"oci:{src.path}:v1", ref], env=env)
    back = tmp_path / "back"
    run_client(
        ["skopeo", "copy", "--src-tls-verify=false", "--src-creds", creds, ref, f"oci:{back}:v1"],
        env=env,
    )
    index = json.loads((back / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    blob = back / "blobs" / "sha256" / digest.split(":")[1]
    assert blob.read_bytes() == raw
