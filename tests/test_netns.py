"""testbed.netns: a process in a network namespace of its own reaches the host's services
over the back link and is reached over the front link; ``cut`` takes the back link down
and leaves the front one up; ``restore`` brings it back; and the namespace, its processes
and both veth pairs are gone afterwards, even when the block fails (or, for a run that was
killed, at the next run)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from testbed import netns
from testbed.netns import Namespace, netns_unavailable, network_namespace

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        netns_unavailable() is not None, reason=f"no network namespaces: {netns_unavailable()}"
    ),
]

CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    print("connected")
except OSError as exc:
    print(type(exc).__name__)
"""


def _connect_from_inside(ns: Namespace, host: str, port: int, timeout: float = 1.0) -> str:
    command = ns.command([sys.executable, "-c", CONNECT, host, str(port), str(timeout)])
    return subprocess.run(command, capture_output=True, text=True, timeout=30).stdout.strip()


def _reaches_inside(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


@contextmanager
def _listening(host: str) -> Iterator[int]:
    """A TCP listener on the host at ``host``; its port."""
    listener = socket.socket()
    listener.bind((host, 0))
    listener.listen(16)
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                listener.accept()[0].close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def _exists(*args: str) -> bool:
    return subprocess.run(["ip", *args], capture_output=True).returncode == 0


def test_cut_and_restore_and_everything_removed_even_when_the_block_fails() -> None:
    with pytest.raises(RuntimeError, match="the test failed"), network_namespace() as ns:
        names = (ns.name, ns.front.host_if, ns.back.host_if)
        # a server inside, listening on the front link (as a replica does)
        serve = f"import socket,time; s=socket.socket(); s.bind(('{ns.front.inner}', 18555));"
        serve += " s.listen(); print('up', flush=True); time.sleep(600)"
        inside = subprocess.Popen(
            ns.command([sys.executable, "-c", serve]), stdout=subprocess.PIPE, text=True
        )
        assert inside.stdout is not None and inside.stdout.readline().strip() == "up"
        with _listening(ns.back.outer) as port:
            assert _connect_from_inside(ns, ns.back.outer, port) == "connected"
            assert _reaches_inside(ns.front.inner, 18555)
            ns.cut()
            # the packets vanish: a timeout (or, once the neighbour entry failed, unreachable)
            assert _connect_from_inside(ns, ns.back.outer, port) in {"TimeoutError", "OSError"}
            assert _reaches_inside(ns.front.inner, 18555)  # the front link still answers
            ns.restore()
            assert _connect_from_inside(ns, ns.back.outer, port) == "connected"
        raise RuntimeError("the test failed")
    assert (
        ns.name not in subprocess.run(["ip", "netns", "list"], capture_output=True).stdout.decode()
    )
    assert not _exists("netns", "pids", names[0])
    assert not _exists("link", "show", names[1]) and not _exists("link", "show", names[2])
    assert inside.wait(10) == -9  # what ran inside was killed with it


def test_a_namespace_left_by_a_killed_run_is_removed_by_the_next() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid is free now: the "run" that made the namespace is gone
    name = f"{netns.PREFIX}{dead.pid}-abc123"
    subprocess.run(["ip", "netns", "add", name], check=True)
    leftover = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "600"])
    time.sleep(0.2)
    try:
        assert name in netns.sweep_stale()
        assert leftover.wait(10) == -9
        assert (
            name not in subprocess.run(["ip", "netns", "list"], capture_output=True).stdout.decode()
        )
    finally:
        leftover.kill()
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
