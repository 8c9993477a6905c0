"""A webhook receiver's cost on push-images (issue 15: a slow or dead receiver never slows a
push): two Wharf servers side by side (SQLite, access control on, project ``bench`` in
each); A has a project webhook policy (PUSH_ARTIFACT and PULL_ARTIFACT) whose target is a
receiver that hangs (accepts connections, never answers), a refused port, or one that
answers 200 at once; B has no policy. Rounds alternate A B A B, and the ratio A/B is what
the webhook costs (target: within 5 % of none).

    .venv/bin/python -m bench.webhooks --rounds 8 [--receiver hang|refused|ok] [--order both]
    .venv/bin/python -m bench.webhooks --idle 500 [--receiver hang|refused|none] [--seconds 30]

Half the rounds bench the server with the webhook first, half second (``--order`` picks
one way only): going first or second biases a single leg's ratio by several per cent.
``--idle N`` measures instead what an otherwise idle server burns with a backlog: one
server with the policy, N push events (one image tagged N times), then the server's CPU
seconds (all its processes) over ``--seconds``, and how many deliveries are in each state
(``--receiver none``: the same without a policy, what an idle server costs anyway)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from bench.ab import run_legs, verdict
from bench.client import Registry
from bench.scenarios import make_image, push_image, put_manifest
from bench.servers import Server, free_port, tree_cpu, wharf_server

ADMIN = ("admin", "Bench-Webhooks-1")
EVENTS = ["PUSH_ARTIFACT", "PULL_ARTIFACT"]


class Answering(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@contextlib.contextmanager
def receiver(kind: str) -> Iterator[str]:
    """The address of a receiver of ``kind``, alive while the context is."""
    if kind == "none":
        yield ""
        return
    if kind == "refused":
        yield f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
        return
    if kind == "ok":
        server = ThreadingHTTPServer(("127.0.0.1", 0), Answering)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/hook"
        finally:
            server.shutdown()
            server.server_close()
        return
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    held: list[socket.socket] = []  # accepted and never answered

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        listener.close()
        for conn in held:
            conn.close()


def start(work: Path, name: str, workers: int) -> Server:
    server = wharf_server(work / name)
    server.name = name
    server.argv += ["--workers", str(workers)]
    server.env.update({"WHARF_AUTH__ENABLED": "true", "WHARF_ADMIN_PASSWORD": ADMIN[1]})
    server.start()
    return server


def prepare(server: Server, address: str | None) -> int | None:
    """Project ``bench``, with a webhook policy to ``address`` when given (its id)."""
    api = f"{server.url}/api/v2.0"
    project = {"project_name": "bench", "metadata": {"public": "false"}}
    requests.post(f"{api}/projects", json=project, auth=ADMIN, timeout=30).raise_for_status()
    if address is None:
        return None
    policy = {
        "name": "bench-hook",
        "enabled": True,
        "event_types": EVENTS,
        "targets": [{"type": "http", "address": address}],
    }
    r = requests.post(f"{api}/projects/bench/webhook/policies", json=policy, auth=ADMIN, timeout=30)
    r.raise_for_status()
    found = requests.get(f"{api}/projects/bench/webhook/policies", auth=ADMIN, timeout=30)
    (stored,) = found.json()
    assert stored["targets"][0]["address"] == address, stored
    return int(stored["id"])


def states(server: Server, policy_id: int) -> dict[str, int]:
    """How many deliveries of the policy are in each state (Harbor's names)."""
    counts: dict[str, int] = {}
    page = 1
    while True:
        r = requests.get(
            f"{server.url}/api/v2.0/projects/bench/webhook/policies/{policy_id}/executions",
            params={"page": page, "page_size": 100},
            auth=ADMIN,
            timeout=30,
        )
        r.raise_for_status()
        for execution in r.json():
            counts[execution["status"]] = counts.get(execution["status"], 0) + 1
        if len(r.json()) < 100:
            return counts
        page += 1


async def push_events(server: Server, count: int) -> None:
    """``count`` PUSH_ARTIFACT events: one image, then its manifest under ``count`` tags."""
    async with Registry(server.url, user=ADMIN[0], password=ADMIN[1]) as reg:
        image = make_image("idle", 0, 1024)
        await push_image(reg, "bench/idle", image)
        queue = list(range(1, count))

        async def worker() -> None:
            while queue:
                n = queue.pop()
                await put_manifest(reg, "bench/idle", f"t{n:05d}", image.manifest)

        await asyncio.gather(*(worker() for _ in range(8)))


def idle(args: argparse.Namespace, work: Path) -> int:
    server = start(work, "idle", args.workers)
    try:
        with receiver(args.receiver) as address:
            policy_id = prepare(server, address or None)
            began = time.monotonic()
            asyncio.run(push_events(server, args.idle))
            print(
                f"{args.idle} push events in {time.monotonic() - began:.1f}s; "
                f"receiver {args.receiver} at {address}",
                flush=True,
            )
            time.sleep(args.settle)  # the first attempts time out; the backlog settles
            if policy_id is not None:
                print(f"after {args.settle:g}s: {states(server, policy_id)}", flush=True)
            cpu, wall = tree_cpu(server.pid), time.monotonic()
            time.sleep(args.seconds)
            used, elapsed = tree_cpu(server.pid) - cpu, time.monotonic() - wall
            print(
                f"idle with the backlog: {used:.2f} CPU s in {elapsed:.1f}s "
                f"= {100 * used / elapsed:.1f} % of one core (all server processes); "
                f"deliveries: {states(server, policy_id) if policy_id is not None else 'none'}",
                flush=True,
            )
    finally:
        server.stop()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--receiver", choices=("hang", "refused", "ok", "none"), default="hang")
    parser.add_argument(
        "--order",
        choices=("both", "feature-first", "feature-second"),
        default="both",
        help="which server each round benches first; both: half the rounds each way",
    )
    parser.add_argument("--idle", type=int, default=0, help="measure idle CPU with N deliveries")
    parser.add_argument("--seconds", type=float, default=30.0, help="with --idle: measured")
    parser.add_argument("--settle", type=float, default=15.0, help="with --idle: before")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wharf-bench-webhooks-") as tmp:
        work = Path(tmp)
        if args.idle:
            return idle(args, work)
        if args.receiver == "none":
            parser.error("--receiver none is for --idle (the baseline of an idle server)")
        with receiver(args.receiver) as address:
            first = start(work, "webhook", args.workers)
            try:
                second = start(work, "plain", args.workers)
                try:
                    hooked, plain = first, second
                    prepare(hooked, address)
                    prepare(plain, None)
                    label = f"a webhook to a {args.receiver} receiver"
                    print(f"{label}: {hooked.url}; none: {plain.url}", flush=True)
                    ran = run_legs(hooked, plain, args.order, args.rounds, work, ADMIN)
                    if isinstance(ran, int):
                        return ran
                    print(verdict(label, *ran))
                    return 0
                finally:
                    second.stop()
            finally:
                first.stop()


if __name__ == "__main__":
    raise SystemExit(main())
