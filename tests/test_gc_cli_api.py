"""`wharf gc` as a process next to a serving registry, the Harbor API's /system/gc, and
kill -9 mid-sweep followed by a rerun."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import WHARF, Client, Server, run_wharf, sha256
from wharf.gc import Report
from wharf.gc.collector import LEASE_LOST
from wharf.gc.lock import LOST_TAKEN
from wharf.registry.cli.gc import EXIT_FAILED, EXIT_STOPPED, exit_status
from wharf.registry.metadata.base import ManifestRecord
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.oci.names import parse_digest
from wharf.registry.wiring import sqlite_database
from wharf.storage.filesystem import FilesystemDriver

ADMIN_PASSWORD = "Admin-Pass-1"
ADMIN = ("admin", ADMIN_PASSWORD)


def api(server: Server, method: str, path: str, **kw: Any) -> requests.Response:
    kw.setdefault("auth", ADMIN)
    return requests.request(method, f"{server.url}/api/v2.0{path}", timeout=30, **kw)


def age(data_dir: Path) -> None:
    """As if everything had been pushed long ago (and no upload were in flight)."""
    db = sqlite3.connect(data_dir / "wharf.db", timeout=30)
    with db:
        db.execute("UPDATE blobs SET last_seen = 1000, created = 1000")
        db.execute("UPDATE manifests SET created = 1000")
        db.execute("DELETE FROM blob_pins")
    db.close()


def gc_tables(data_dir: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(data_dir / "wharf.db", timeout=30)
    try:
        return [
            row
            for table in ("gc_lock", "gc_marks", "gc_runs", "blobs", "manifests", "tags")
            for row in db.execute(f"SELECT '{table}', * FROM {table} ORDER BY 2, 3")
        ]
    finally:
        db.close()


def wharf_gc(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [WHARF, "gc", "--data", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "WHARF_AUTH__ENABLED": "true", **(env or {})},
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("wharf-gc") / "data"
    with run_wharf(data, auth=True, env={"WHARF_ADMIN_PASSWORD": ADMIN_PASSWORD}) as server:
        yield server


def push(server: Server, repo: str, tag: str | None) -> tuple[str, dict[str, Any]]:
    client = Client(server.url)
    client.http.auth = ADMIN
    return client.push_image(repo, tag, layers=2)


def test_cli_collects_while_serving_and_refuses_a_second_run(server: Server) -> None:
    kept, kept_doc = push(server, "library/kept", "v1")
    dropped, dropped_doc = push(server, "library/dropped", "v1")
    client = Client(server.url)
    client.http.auth = ADMIN
    assert client.request("DELETE", f"/v2/library/dropped/manifests/{dropped}").status_code == 202
    age(server.data_dir)

    before = gc_tables(server.data_dir)
    dry = wharf_gc(server.data_dir, "--grace", "0", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["dry_run"] and report["blobs_swept"] == 4  # manifest, config, 2 layers
    assert gc_tables(server.data_dir) == before  # no lock, no marks, no run recorded

    done = wharf_gc(server.data_dir, "--grace", "0", "--delete-untagged")
    assert done.returncode == 0, done.stderr
    assert "blobs:" in done.stdout and "4 swept" in done.stdout
    for layer in dropped_doc["layers"]:
        r = client.request("HEAD", f"/v2/library/dropped/blobs/{layer['digest']}")
        assert r.status_code == 404
    r = client.request("GET", "/v2/library/kept/manifests/v1")
    assert r.status_code == 200 and sha256(r.content) == kept
    for layer in kept_doc["layers"]:
        r = client.request("GET", f"/v2/library/kept/blobs/{layer['digest']}")
        assert r.status_code == 200 and sha256(r.content) == layer["digest"]

    db = sqlite3.connect(server.data_dir / "wharf.db", timeout=30)
    with db:
        db.execute("UPDATE gc_lock SET owner = 'other', until = ?", (1e12,))
    try:
        busy = wharf_gc(server.data_dir)
        assert busy.returncode == 3 and "another garbage collection is running" in busy.stderr
    finally:
        with db:
            db.execute("UPDATE gc_lock SET until = 0")
        db.close()
    events = api(server, "GET", "/audit-logs", params={"operation": "gc"}).json()
    assert any(e["resource_type"] == "system" and e["operation"] == "gc" for e in events)


def test_harbor_api_runs_now_lists_logs_and_schedules(server: Server) -> None:
    assert api(server, "GET", "/system/gc", auth=None).status_code == 401
    bob = {
        "username": "bob",
        "password": "Bob-Pass-12345",
        "email": "bob@example.com",  # Harbor requires email and realname
        "realname": "Bob",
    }
    r = api(server, "POST", "/users", json=bob)
    assert r.status_code == 201, r.text
    assert api(server, "GET", "/system/gc", auth=("bob", "Bob-Pass-12345")).status_code == 403

    r = api(
        server,
        "POST",
        "/system/gc/schedule",
        json={"schedule": {"type": "Manual"}, "parameters": {"delete_untagged": True}},
    )
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    run_id = int(location.rsplit("/", 1)[1])
    deadline = time.monotonic() + 30
    while True:
        doc = api(server, "GET", f"/system/gc/{run_id}").json()
        if doc["job_status"] != "Running" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert doc["job_status"] == "Success" and doc["job_name"] == "GARBAGE_COLLECTION"
    assert doc["job_kind"] == "MANUAL" and json.loads(doc["job_parameters"])["delete_untagged"]
    assert doc["creation_time"].endswith("Z") and doc["update_time"]
    history = api(server, "GET", "/system/gc", params={"page_size": 1})
    assert history.status_code == 200 and history.headers["X-Total-Count"]
    assert [h["id"] for h in history.json()] == [run_id]
    log = api(server, "GET", f"/system/gc/{run_id}/log")
    assert log.status_code == 200 and "sweep-blobs: done" in log.text
    assert api(server, "GET", "/system/gc/999999").status_code == 404

    r = api(
        server,
        "PUT",
        "/system/gc/schedule",
        json={"schedule": {"type": "Daily"}, "parameters": {"delete_untagged": False}},
    )
    assert r.status_code == 200, r.text
    schedule = api(server, "GET", "/system/gc/schedule").json()
    assert schedule["schedule"]["type"] == "Daily" and schedule["schedule"]["cron"]
    bad = api(server, "POST", "/system/gc/schedule", json={"schedule": {"type": "Sometimes"}})
    assert bad.status_code == 422  # not a type the swagger allows (go-swagger's status)


def fill(data_dir: Path, loose: int) -> list[str]:
    """A store with one tagged image and ``loose`` unreferenced blobs, all long ago."""

    async def main() -> list[str]:
        store = SQLiteStore(sqlite_database(data_dir / "wharf.db"))
        driver = FilesystemDriver(data_dir / "storage")
        await store.open()
        await driver.start()
        kept = []
        for n in range(3):
            data = b"kept %d" % n
            await driver.put_bytes(parse_digest(sha256(data)).key, data)
            await store.add_blob("p/a", sha256(data), len(data))
            kept.append(sha256(data))
        doc = json.dumps({"layers": kept}).encode()
        await driver.put_bytes(parse_digest(sha256(doc)).key, doc)
        record = ManifestRecord(sha256(doc), "application/vnd.oci.image.manifest.v1+json", 9)
        await store.put_manifest("p/a", record, kept, [], "v1")
        for n in range(loose):
            data = b"loose %d" % n
            await driver.put_bytes(parse_digest(sha256(data)).key, data)
            await store.add_blob("p/a", sha256(data), len(data))
        await store.close()
        return [*kept, sha256(doc)]

    kept = asyncio.run(main())
    age(data_dir)
    return kept


def blob_files(data_dir: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(data_dir / "storage" / "blobs"))


def test_kill_9_mid_sweep_then_rerun(tmp_path: Path) -> None:
    data = tmp_path / "data"
    kept = fill(data, 4000)
    env = {**os.environ, "WHARF_AUTH__ENABLED": "false"}
    process = subprocess.Popen(
        [WHARF, "gc", "--data", str(data), "--grace", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 60
    while blob_files(data) > 3000 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    remaining = blob_files(data)
    assert process.returncode == -signal.SIGKILL
    assert 4 < remaining <= 3000  # it died in the middle of the sweep
    # the lease of the dead run must run out before another run may start
    db = sqlite3.connect(data / "wharf.db", timeout=30)
    with db:
        db.execute("UPDATE gc_lock SET until = 0")
    db.close()
    rerun = wharf_gc(data, "--grace", "0", "--json", env={"WHARF_AUTH__ENABLED": "false"})
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["status"] == "Success"
    assert blob_files(data) == 4
    for digest in kept:
        path = data / "storage" / parse_digest(digest).key
        assert sha256(path.read_bytes()) == digest


def test_exit_status_of_a_run_that_lost_the_lock(capsys: pytest.CaptureFixture[str]) -> None:
    message = LEASE_LOST.format(why=LOST_TAKEN)
    assert exit_status(Report(status="Error", message=message)) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith("wharf gc: lost the GC lock: another run took the GC lock over")
    assert exit_status(Report(status="Success")) == 0
    assert exit_status(Report(status="Stopped")) == EXIT_STOPPED
