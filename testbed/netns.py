"""A network namespace of its own for one process (a replica), joined to the host by two
veth pairs, so that a test can cut it off the network like a real partition:

- the **front** link: clients and the load balancer reach the process there;
- the **back** link: the process reaches the shared services (PostgreSQL, Redis) there.

``cut()`` takes the host end of the back link down: packets the process sends to the
services vanish (connections hang, new ones time out), while the front link still answers,
so the process can say it is not ready. ``restore()`` brings the link back up.

    with network_namespace() as ns:
        ns.command(["wharf", "serve", "--listen", f"{ns.front.inner}:5000"])  # to Popen
        ns.back.outer                  # where services listen for it (on the host)
        ns.cut(); ns.restore()

Names can't collide between parallel runs: the namespace is ``wharf-<pid>-<random>``, the
interfaces ``wh<random>f``/``wh<random>b`` (+ ``0`` host end, ``1`` inside) and the subnet a
random ``10.x.y.0/29`` no interface or route of the host uses. The namespace, its processes
and both pairs go when the block is left, whatever happened in it; namespaces left behind
by a run that was killed (its pid gone) are removed by the next one. Needs root and
``ip`` (iproute2): ``netns_unavailable()`` says why not, for a skip.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import re
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

PREFIX = "wharf-"
_OURS = re.compile(rf"^{PREFIX}(\d+)-[0-9a-f]{{6}}$")


class NetnsError(RuntimeError):
    pass


def _ip(*args: str, check: bool = True) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@functools.cache
def netns_unavailable() -> str | None:
    """Why network namespaces can't be used here (for a skip reason), or None."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    probe = f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
    try:
        _ip("netns", "add", probe)
    except NetnsError as exc:
        return f"`ip netns add` fails here: {exc}"
    try:
        token = secrets.token_hex(3)
        _ip("link", "add", f"wh{token}p0", "type", "veth", "peer", "name", f"wh{token}p1")
        _ip("link", "del", f"wh{token}p0")
    except NetnsError as exc:
        return f"veth pairs can't be made here: {exc}"
    finally:
        _ip("netns", "del", probe, check=False)
    return None


@dataclass(frozen=True)
class Link:
    """One veth pair: ``outer`` is the host end's address, ``inner`` the namespace end's."""

    host_if: str
    inner_if: str
    outer: str
    inner: str
    prefix: int


@dataclass
class Namespace:
    name: str
    front: Link
    back: Link
    cut_off: bool = False

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the namespace (``ip netns exec`` execs it: same pid)."""
        return ["ip", "netns", "exec", self.name, *argv]

    def cut(self) -> None:
        """Take the back link down: the services can't be reached from inside any more."""
        _ip("link", "set", self.back.host_if, "down")
        self.cut_off = True

    def restore(self) -> None:
        _ip("link", "set", self.back.host_if, "up")
        # neighbour entries that failed while the link was down would answer "no route to
        # host" for a while: forget them
        _ip("-n", self.name, "neigh", "flush", "dev", self.back.inner_if, check=False)
        self.cut_off = False

    def pids(self) -> list[int]:
        """The processes running inside."""
        return _pids(self.name)


def _pids(name: str) -> list[int]:
    out = _ip("netns", "pids", name, check=False)
    return [int(p) for p in out.split() if p.isdigit()]


def _host_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network an address or route of the host covers (default route aside)."""
    found: list[ipaddress.IPv4Network] = []
    for line in _ip("-4", "-o", "addr", "show").splitlines():
        match = re.search(r"\binet (\S+)", line)
        if match:
            found.append(ipaddress.IPv4Interface(match.group(1)).network)
    for line in _ip("-4", "route", "show", "table", "all").splitlines():
        first = line.split()[0] if line.split() else ""
        if first in ("local", "broadcast", "unreachable", "blackhole", "prohibit"):
            first = line.split()[1]
        if first != "default":
            with contextlib.suppress(ValueError):
                found.append(ipaddress.IPv4Network(first, strict=False))
    return found


def _free_subnet() -> ipaddress.IPv4Network:
    taken = _host_networks()
    for _ in range(100):
        third, second = secrets.randbelow(256), 100 + secrets.randbelow(150)
        subnet = ipaddress.IPv4Network(f"10.{second}.{third}.{8 * secrets.randbelow(32)}/29")
        if not any(subnet.overlaps(net) for net in taken):
            return subnet
    raise NetnsError("no free 10.x.y.0/29 for the veth pairs")


def _owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove(name: str) -> None:
    """Kill what still runs inside namespace ``name``, then delete it (its interfaces and
    so both veth pairs go with it)."""
    for pid in _pids(name):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _ip("netns", "del", name, check=False)


def sweep_stale() -> list[str]:
    """Remove our namespaces whose creating process is gone (a run killed before it could
    clean up); the names removed."""
    removed = []
    for line in _ip("netns", "list", check=False).splitlines():
        name = line.split(" ", 1)[0]
        match = _OURS.match(name)
        if match and not _owner_alive(int(match.group(1))):
            remove(name)
            removed.append(name)
    return removed


@contextlib.contextmanager
def network_namespace() -> Iterator[Namespace]:
    """A fresh namespace with a front and a back link to the host; removed on exit."""
    why = netns_unavailable()
    if why is not None:
        raise NetnsError(why)
    sweep_stale()
    token = secrets.token_hex(3)
    name = f"{PREFIX}{os.getpid()}-{token}"
    subnet = _free_subnet()
    hosts = list(subnet.hosts())  # a /29: .1-.6; two /30s inside it
    front = Link(f"wh{token}f0", f"wh{token}f1", str(hosts[0]), str(hosts[1]), 30)
    back = Link(f"wh{token}b0", f"wh{token}b1", str(hosts[4]), str(hosts[5]), 30)
    try:
        _ip("netns", "add", name)
        _ip("-n", name, "link", "set", "lo", "up")
        for link in (front, back):
            _ip("link", "add", link.host_if, "type", "veth", "peer", "name", link.inner_if)
            _ip("link", "set", link.inner_if, "netns", name)
            _ip("addr", "add", f"{link.outer}/{link.prefix}", "dev", link.host_if)
            _ip("link", "set", link.host_if, "up")
            _ip("-n", name, "addr", "add", f"{link.inner}/{link.prefix}", "dev", link.inner_if)
            _ip("-n", name, "link", "set", link.inner_if, "up")
        yield Namespace(name, front, back)
    finally:
        remove(name)
        for link in (front, back):  # in case one was never moved into the namespace
            _ip("link", "del", link.host_if, check=False)
