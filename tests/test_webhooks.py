"""Project webhooks through Harbor's API, against a real receiver (an aiohttp server this
test starts, plain or TLS with a self-signed certificate): policies and their checks,
deliveries through a receiver outage and its recovery (nothing lost; a repeat only ever
with the same event id), the Default and CloudEvents payloads, skip_cert_verify, the
executions/tasks/log views, and a skopeo push notified end to end. Backoff and timeouts
are shrunk through the configuration so the retries take milliseconds."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
import requests
from aiohttp import web

from tests.artifacts import push_image
from tests.e2e.clients import make_image, run
from tests.helpers import free_port
from tests.inproc import ADMIN, InProcessServer, serve_in_process
from tests.tls import make_certificate
from wharf.replication.client.client import RegistryClient
from wharf.replication.client.endpoint import Credential, Endpoint

T = TypeVar("T")
JOBS = {"poll_interval": 0.05, "lease": 5, "shutdown_grace": 1}
WEBHOOKS = {
    "backoff": 0.05,
    "max_backoff": 0.3,
    "timeout": 2,
    "max_attempts": 40,
    "policy_refresh": 0,
    "pull_flush_interval": 0.05,
}
AUTH_HEADER = "Bearer receiver-secret-token"


@dataclass
class Delivery:
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """An HTTP(S) webhook receiver on a fixed port, in a thread of its own: it records
    what it accepts, can answer 503 (``failing``) or be down altogether (``stop``)."""

    port: int
    ssl_context: ssl.SSLContext | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    refused: int = 0  # 503s answered
    failing: bool = False
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.failing:
            self.refused += 1
            return web.Response(status=503, text="receiver busy")
        self.deliveries.append(Delivery(dict(request.headers), orjson.loads(body)))
        return web.Response(status=200)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def open_loop(self) -> None:
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()

    def close_loop(self) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)

    def start(self) -> None:
        async def up() -> web.AppRunner:
            app = web.Application()
            app.router.add_post("/hook", self._handle)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", self.port, ssl_context=self.ssl_context)
            await site.start()
            return runner

        self._runner = self._call(up())

    def stop(self) -> None:
        if self._runner is not None:
            self._call(self._runner.cleanup())
            self._runner = None

    def of(self, event_type: str) -> list[Delivery]:
        return [d for d in self.deliveries if event_type in (d.body.get("type"), _ce(d))]


def _ce(delivery: Delivery) -> str:
    ce_types = {
        "harbor.artifact.pushed": "PUSH_ARTIFACT",
        "harbor.artifact.pulled": "PULL_ARTIFACT",
    }
    return ce_types.get(str(delivery.body.get("type")), "")


@contextmanager
def receiver_on(port: int, ssl_context: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    receiver = Receiver(port, ssl_context)
    receiver.open_loop()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
        receiver.close_loop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiver_on(free_port()) as found:
        yield found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    data = tmp_path_factory.mktemp("webhooks") / "data"
    with serve_in_process(
        data, auth=True, admin_password=ADMIN[1], jobs=JOBS, webhooks=WEBHOOKS
    ) as app:
        yield app
    assert not app.errors, app.error_log()


def api(server: InProcessServer, method: str, path: str, **kw: Any) -> requests.Response:
    kw.setdefault("auth", ADMIN)
    return requests.request(method, f"{server.url}/api/v2.0{path}", timeout=30, **kw)


def new_project(server: InProcessServer, name: str) -> None:
    r = api(server, "POST", "/projects", json={"project_name": name})
    assert r.status_code == 201, r.text


def add_policy(
    server: InProcessServer,
    project: str,
    address: str,
    *,
    name: str = "hook",
    event_types: tuple[str, ...] = ("PUSH_ARTIFACT",),
    payload_format: str = "Default",
    skip_cert_verify: bool = False,
    auth_header: str = AUTH_HEADER,
) -> int:
    body = {
        "name": name,
        "description": "test",
        "enabled": True,
        "event_types": list(event_types),
        "targets": [
            {
                "type": "http",
                "address": address,
                "auth_header": auth_header,
                "skip_cert_verify": skip_cert_verify,
                "payload_format": payload_format,
            }
        ],
    }
    r = api(server, "POST", f"/projects/{project}/webhook/policies", json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def client(server: InProcessServer) -> RegistryClient:
    return RegistryClient(Endpoint(server.url, "wharf", Credential(*ADMIN)))


def push(server: InProcessServer, repo: str, tags: list[str]) -> list[str]:
    async def go() -> list[str]:
        async with client(server) as c:
            return [(await push_image(c, repo, tag, layers=1, size=256)).digest for tag in tags]

    return asyncio.run(go())


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def executions(server: InProcessServer, project: str, policy_id: int) -> list[dict[str, Any]]:
    r = api(
        server,
        "GET",
        f"/projects/{project}/webhook/policies/{policy_id}/executions",
        params={"page_size": 100},
    )
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


# --- policies ------------------------------------------------------------------------


def test_policies_crud_checks_and_masked_secret(server: InProcessServer) -> None:
    new_project(server, "crud")
    base = "/projects/crud/webhook"
    r = api(server, "GET", f"{base}/events")
    assert r.status_code == 200
    events = r.json()
    assert events["event_type"] == [
        "PUSH_ARTIFACT",
        "PULL_ARTIFACT",
        "DELETE_ARTIFACT",
        "QUOTA_EXCEED",
        "QUOTA_WARNING",
        "REPLICATION",
        "TAG_RETENTION",
    ]
    assert not any(t.startswith("SCANNING") for t in events["event_type"])
    assert events["notify_type"] == ["http"]
    assert events["payload_formats"] == [
        {"notify_type": "http", "formats": ["Default", "CloudEvents"]}
    ]

    policy_id = add_policy(server, "crud", "http://127.0.0.1:9/hook", name="first")
    r = api(server, "GET", f"{base}/policies/{policy_id}")
    assert r.status_code == 200
    doc = r.json()
    assert doc["name"] == "first" and doc["enabled"] is True and doc["creator"] == "admin"
    assert doc["event_types"] == ["PUSH_ARTIFACT"]
    target = doc["targets"][0]
    assert target["auth_header"] == "*****"  # never shown again
    assert target["address"] == "http://127.0.0.1:9/hook"
    assert target["payload_format"] == "Default" and target["skip_cert_verify"] is False

    # the same name twice in a project: 409; bad bodies: 400
    r = api(
        server,
        "POST",
        f"{base}/policies",
        json={**doc, "targets": [{"address": "http://x/", "type": "http"}]},
    )
    assert r.status_code == 409, r.text
    for bad in (
        {"event_types": ["SCANNING_FAILED"]},
        {"event_types": []},
        {"targets": [{"address": "ftp://x/hook", "type": "http"}]},
        {"targets": [{"address": "http://x/hook", "type": "slack"}]},
        {"targets": [{"address": "http://x/hook", "payload_format": "XML"}]},
        {"targets": []},
        {"name": ""},
    ):
        body = {
            "name": "other",
            "event_types": ["PUSH_ARTIFACT"],
            "targets": [{"address": "http://x/hook", "type": "http"}],
            **bad,
        }
        r = api(server, "POST", f"{base}/policies", json=body)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["errors"][0]["code"] == "BAD_REQUEST"
    r = api(server, "POST", f"{base}/policies", json={"name": 5})
    assert r.status_code == 422

    # the masked header sent back keeps the stored one; the rest changes
    doc["description"] = "changed"
    doc["event_types"] = ["PUSH_ARTIFACT", "DELETE_ARTIFACT"]
    doc["enabled"] = False
    r = api(server, "PUT", f"{base}/policies/{policy_id}", json=doc)
    assert r.status_code == 200, r.text
    r = api(server, "GET", f"{base}/policies", params={"q": "name=first"})
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "1"
    listed = r.json()[0]
    assert listed["description"] == "changed" and listed["enabled"] is False
    assert listed["event_types"] == ["PUSH_ARTIFACT", "DELETE_ARTIFACT"]
    assert listed["targets"][0]["auth_header"] == "*****"

    r = api(server, "GET", f"{base}/lasttrigger")
    assert r.status_code == 200
    assert {(t["policy_name"], t["event_type"]) for t in r.json()} == {
        ("first", "PUSH_ARTIFACT"),
        ("first", "DELETE_ARTIFACT"),
    }
    assert all(t["last_trigger_time"] is None for t in r.json())

    # maintainers read, developers don't; only project admins change (Harbor's roles)
    for user, role in (("maint", 4), ("dev", 2)):
        r = api(
            server,
            "POST",
            "/users",
            json={
                "username": user,
                "email": f"{user}@example.com",
                "realname": user,
                "password": "Pass-Word-123",
            },
        )
        assert r.status_code == 201, r.text
        r = api(
            server,
            "POST",
            "/projects/crud/members",
            json={"role_id": role, "member_user": {"username": user}},
        )
        assert r.status_code == 201, r.text
    maint, dev = ("maint", "Pass-Word-123"), ("dev", "Pass-Word-123")
    assert api(server, "GET", f"{base}/policies", auth=maint).status_code == 200
    assert api(server, "GET", f"{base}/policies/{policy_id}", auth=maint).status_code == 200
    assert api(server, "DELETE", f"{base}/policies/{policy_id}", auth=maint).status_code == 403
    assert api(server, "GET", f"{base}/policies", auth=dev).status_code == 403

    # signed-out callers are told to sign in; unknown ids are 404
    assert api(server, "GET", f"{base}/policies", auth=None).status_code == 401
    assert api(server, "GET", f"{base}/policies/99999").status_code == 404
    r = api(server, "DELETE", f"{base}/policies/{policy_id}")
    assert r.status_code == 200
    assert api(server, "GET", f"{base}/policies/{policy_id}").status_code == 404
    assert api(server, "GET", "/projects/nosuch/webhook/policies").status_code == 404


def test_hostile_input_is_a_client_error(server: InProcessServer) -> None:
    new_project(server, "hostile")
    base = "/projects/hostile/webhook"
    good = {"name": "x", "event_types": ["PUSH_ARTIFACT"]}
    for method, path, body, status in (
        ("GET", f"{base}/policies/99999999999999", None, 404),  # past a 32-bit id
        ("GET", f"{base}/policies/99999999999999999999999", None, 422),  # past int64
        ("GET", f"{base}/policies/abc", None, 422),
        ("GET", f"{base}/policies/1/executions/99999999999/tasks", None, 404),
        ("GET", f"{base}/jobs", None, 422),  # policy_id is required
        ("GET", f"{base}/jobs?policy_id=x", None, 422),
        ("POST", f"{base}/policies", b"[]", 422),
        ("POST", f"{base}/policies", {**good, "targets": [{"address": "http://[::1"}]}, 400),
        ("POST", f"{base}/policies", {**good, "targets": [{"address": "http://a:0/"}]}, 400),
        ("POST", f"{base}/policies", {**good, "targets": [{"address": "http://a/\x00"}]}, 400),
        ("POST", f"{base}/policies", {**good, "name": "a\x00", "targets": []}, 400),
        ("POST", f"{base}/policies", {**good, "targets": [None]}, 422),
    ):
        data = body if isinstance(body, bytes | None) else orjson.dumps(body)
        r = api(server, method, path, data=data, headers={"Content-Type": "application/json"})
        assert r.status_code == status, (method, path, body, r.text)
        assert r.json()["errors"][0]["message"]


def test_outage_and_recovery_lose_nothing(server: InProcessServer, receiver: Receiver) -> None:
    """Pushes while the receiver is down (connection refused), then answering 503, then
    back: every push is delivered, and any repeat carries the event id it had before."""
    new_project(server, "outage")
    policy_id = add_policy(server, "outage", receiver.url)
    receiver.stop()
    tags = [f"v{n}" for n in range(6)]
    digests = push(server, "outage/app", tags[:3])
    wait_for(
        lambda: sum(e["status"] == "Pending" for e in executions(server, "outage", policy_id)) == 3
    )
    receiver.failing = True
    receiver.start()
    digests += push(server, "outage/app", tags[3:])
    wait_for(lambda: receiver.refused >= 6)
    assert receiver.deliveries == []
    receiver.failing = False
    wait_for(lambda: len({d.headers["Webhook-Id"] for d in receiver.deliveries}) == 6)
    wait_for(lambda: all(e["status"] == "Success" for e in executions(server, "outage", policy_id)))

    # each event once per event id; a repeat (none expected here) would be the same event
    by_id: dict[str, dict[str, Any]] = {}
    for delivery in receiver.deliveries:
        event_id = delivery.headers["Webhook-Id"]
        assert by_id.setdefault(event_id, delivery.body) == delivery.body
        assert delivery.headers["Authorization"] == AUTH_HEADER
    assert sorted(
        (b["event_data"]["resources"][0]["tag"], b["event_data"]["resources"][0]["digest"])
        for b in by_id.values()
    ) == sorted(zip(tags, digests, strict=True))
    assert len(receiver.deliveries) == 6  # nothing twice

    found = executions(server, "outage", policy_id)
    assert len(found) == 6
    first = found[-1]
    assert first["vendor_type"] == "WEBHOOK" and first["vendor_id"] == policy_id
    assert first["trigger"] == "EVENT" and first["extra_attrs"]["event_type"] == "PUSH_ARTIFACT"
    assert first["metrics"]["task_count"] == 1 and first["metrics"]["success_task_count"] == 1
    base = f"/projects/outage/webhook/policies/{policy_id}/executions/{first['id']}"
    r = api(server, "GET", f"{base}/tasks")
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "1"
    task = r.json()[0]
    assert task["status"] == "Success" and task["run_count"] > 1  # retried through the outage
    r = api(server, "GET", f"{base}/tasks/{task['id']}/log")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert "failed" in r.text and "HTTP 200" in r.text
    assert api(server, "GET", f"{base}/tasks/{task['id'] + 100000}/log").status_code == 404
    r = api(
        server,
        "GET",
        f"/projects/outage/webhook/policies/{policy_id}/executions",
        params={"q": "status=Error"},
    )
    assert r.status_code == 200 and r.json() == []
    r = api(server, "GET", "/projects/outage/webhook/jobs", params={"policy_id": policy_id})
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "6"
    job = r.json()[0]
    assert job["status"] == "finished" and job["event_type"] == "PUSH_ARTIFACT"
    assert orjson.loads(job["job_detail"])["type"] == "PUSH_ARTIFACT"
    # status is an array in Harbor's document: repeated or comma-separated (go-swagger's csv)
    for status, count in (("error,finished", "6"), ("pending,error", "0"), ("running", "0")):
        r = api(
            server,
            "GET",
            "/projects/outage/webhook/jobs",
            params={"policy_id": policy_id, "status": status},
        )
        assert r.status_code == 200 and r.headers["X-Total-Count"] == count, status
    r = api(
        server,
        "GET",
        "/projects/outage/webhook/jobs",
        params=[("policy_id", policy_id), ("status", "stopped"), ("status", "finished")],
    )
    assert r.headers["X-Total-Count"] == "6"
    r = api(server, "GET", "/projects/outage/webhook/lasttrigger")
    assert r.json()[0]["last_trigger_time"] is not None


def test_default_and_cloudevents_payloads(server: InProcessServer, receiver: Receiver) -> None:
    new_project(server, "shapes")
    default_id = add_policy(
        server,
        "shapes",
        receiver.url,
        name="default",
        event_types=("PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT"),
    )
    cloud_id = add_policy(
        server, "shapes", receiver.url, name="cloud", payload_format="CloudEvents"
    )
    (digest,) = push(server, "shapes/team/app", ["1.0"])

    async def pull_and_delete() -> None:
        async with client(server) as c:
            await c.manifest("shapes/team/app", "1.0")
            assert await c.delete_manifest("shapes/team/app", digest)

    wait_for(lambda: len(receiver.deliveries) == 2)
    asyncio.run(pull_and_delete())
    wait_for(lambda: len(receiver.deliveries) == 4)

    plain = [d for d in receiver.deliveries if d.headers["Content-Type"] == "application/json"]
    cloud = [
        d
        for d in receiver.deliveries
        if d.headers["Content-Type"] == "application/cloudevents+json"
    ]
    assert len(plain) == 3 and len(cloud) == 1
    by_type = {d.body["type"]: d.body for d in plain}
    assert set(by_type) == {"PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT"}
    pushed = by_type["PUSH_ARTIFACT"]
    assert set(pushed) == {"type", "occur_at", "operator", "event_data"}
    assert pushed["operator"] == "admin" and abs(pushed["occur_at"] - time.time()) < 60
    resource = pushed["event_data"]["resources"][0]
    host = server.settings.listen  # external_url's host when set, else the listen address
    assert resource == {
        "digest": digest,
        "tag": "1.0",
        "resource_url": f"{host}/shapes/team/app:1.0",
    }
    assert pushed["event_data"]["repository"] == {
        "name": "team/app",
        "namespace": "shapes",
        "repo_full_name": "shapes/team/app",
        "repo_type": "private",
    }
    assert by_type["PULL_ARTIFACT"]["event_data"]["resources"][0]["tag"] == "1.0"
    deleted = by_type["DELETE_ARTIFACT"]["event_data"]["resources"][0]
    # deleted by digest: named by the tag that went with it, as Harbor names it
    assert deleted == {
        "digest": digest,
        "tag": "1.0",
        "resource_url": f"{host}/shapes/team/app:1.0",
    }

    event = cloud[0]
    ce = event.body
    assert ce["specversion"] == "1.0"
    assert ce["id"] == event.headers["Webhook-Id"]
    project_id = api(server, "GET", "/projects/shapes").json()["project_id"]
    assert ce["source"] == f"/projects/{project_id}/webhook/policies/{cloud_id}"
    assert ce["type"] == "harbor.artifact.pushed"
    assert ce["datacontenttype"] == "application/json"
    assert ce["operator"] == "admin"
    assert time.strptime(ce["time"], "%Y-%m-%dT%H:%M:%SZ")
    assert ce["data"] == pushed["event_data"]
    # every delivery of the default policy is one execution of it
    assert len(executions(server, "shapes", default_id)) == 3


def test_skip_cert_verify_with_a_self_signed_receiver(
    server: InProcessServer, tmp_path: Path
) -> None:
    cert, key = make_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with receiver_on(free_port(), context) as receiver:
        new_project(server, "tls")
        checked = add_policy(server, "tls", receiver.url, name="checked")
        skipped = add_policy(server, "tls", receiver.url, name="skipped", skip_cert_verify=True)
        push(server, "tls/app", ["v1"])
        wait_for(lambda: len(receiver.deliveries) == 1)
    (delivered,) = executions(server, "tls", skipped)
    assert delivered["status"] == "Success"
    # the checked one fails its attempts on the certificate, and says so
    (refused,) = executions(server, "tls", checked)
    assert refused["status"] in ("Pending", "Running")
    execution = f"/projects/tls/webhook/policies/{checked}/executions/{refused['id']}"
    log = f"{execution}/tasks/{refused['id']}/log"
    wait_for(lambda: "certificate" in api(server, "GET", log).text)
    assert len(receiver.deliveries) == 1
    # deleting the policy stops what it had not delivered
    assert api(server, "DELETE", f"/projects/tls/webhook/policies/{checked}").status_code == 200
    assert api(server, "GET", log).status_code == 404


@pytest.mark.e2e
def test_skopeo_push_notifies_push_artifact(
    server: InProcessServer, receiver: Receiver, tmp_path: Path
) -> None:
    new_project(server, "skopeo")
    add_policy(server, "skopeo", receiver.url, payload_format="CloudEvents")
    image = make_image(tmp_path / "src", "v1", layers=2)
    registry = server.url.split("://", 1)[1]
    run(
        [
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            f"--dest-creds={ADMIN[0]}:{ADMIN[1]}",
            f"oci:{image.path}:v1",
            f"docker://{registry}/skopeo/app:v1",
        ]
    )
    wait_for(lambda: len(receiver.deliveries) == 1)
    event = receiver.deliveries[0].body
    assert event["type"] == "harbor.artifact.pushed"
    resource = event["data"]["resources"][0]
    assert resource["tag"] == "v1"
    assert resource["digest"] == image.descriptor("v1")["digest"]
    assert event["data"]["repository"]["repo_full_name"] == "skopeo/app"
