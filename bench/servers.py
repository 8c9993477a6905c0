"""Start/stop of the registries under test, and peak-RSS sampling of their process trees."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REFERENCE_BIN = "/usr/bin/docker-registry"
REPO_ROOT = Path(__file__).resolve().parent.parent
WHARF_BIN = REPO_ROOT / ".venv" / "bin" / "wharf"

REFERENCE_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {data}
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  secret: wharf-bench-not-secret
"""


class ServerStartError(RuntimeError):
    pass


def free_port(lo: int = 20000, hi: int = 32000) -> int:
    """A currently bindable TCP port on 127.0.0.1 below the ephemeral range."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(lo, hi)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ServerStartError("no free port found")


@dataclass
class Server:
    """A registry process started by the bench (its own process group)."""

    name: str
    argv: list[str]
    port: int
    workdir: Path
    data_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=Path)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, ready_timeout: float = 30.0) -> None:
        self.log_path = self.workdir / f"{self.name}.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - owned by the child for its lifetime
        try:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **self.env},
            )
        except OSError as exc:
            raise ServerStartError(f"{self.name}: cannot exec {self.argv[0]}: {exc}") from exc
        finally:
            log.close()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(
                    f"{self.name} exited with {self.proc.returncode} during start-up:\n"
                    + self.log_tail()
                )
            try:
                with urllib.request.urlopen(self.url + "/v2/", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        self.stop()
        raise ServerStartError(f"{self.name} not ready after {ready_timeout}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 20) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def stop(self, grace: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # start_new_session: the group id is the child's own pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(5)


def reference_server(workdir: Path) -> Server:
    port = free_port()
    data = workdir / "reference-data"
    data.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "reference-config.yml"
    cfg.write_text(REFERENCE_CONFIG.format(data=data, port=port))
    if not Path(REFERENCE_BIN).exists():
        raise ServerStartError(
            f"{REFERENCE_BIN} missing: install the Debian package docker-registry"
        )
    return Server("reference", [REFERENCE_BIN, "serve", str(cfg)], port, workdir, data)


def wharf_server(workdir: Path) -> Server:
    port = free_port()
    data = workdir / "wharf-data"
    data.mkdir(parents=True, exist_ok=True)
    exe = str(WHARF_BIN) if WHARF_BIN.exists() else (shutil.which("wharf") or str(WHARF_BIN))
    argv = [exe, "serve", "--listen", f"127.0.0.1:{port}", "--data", str(data)]
    # The reference runs without auth, so Wharf does too: like is compared with like.
    env = {"WHARF_AUTH__ENABLED": "false"}
    return Server("wharf", argv, port, workdir, data, env=env)


# --- memory sampling ---------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (via /proc/PID/task/TID/children)."""
    out: list[int] = []
    todo = [root]
    while todo and len(out) < 4096:
        pid = todo.pop()
        out.append(pid)
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
            except OSError:
                continue
    return out


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def pss_bytes(pid: int) -> int:
    """Proportional set size: shared pages (a forked worker's copy of the supervisor's
    imports) split among the processes sharing them, so a tree's sum is its real
    footprint where the sum of RSS counts shared pages once per process."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def tree_rss(root: int) -> int:
    return sum(rss_bytes(p) for p in process_tree(root))


def tree_pss(root: int) -> int:
    return sum(pss_bytes(p) for p in process_tree(root))


def tree_cpu(root: int) -> float:
    return sum(cpu_seconds(p) for p in process_tree(root))


class RssSampler:
    """Samples the summed RSS and PSS of a process tree every ``interval`` s in a
    background thread."""

    def __init__(self, root_pid: int | None, interval: float = 0.1) -> None:
        self.root = root_pid
        self.interval = interval
        self.peak = 0
        self.peak_pss = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cpu_start = 0.0
        self.cpu_used = 0.0

    def __enter__(self) -> RssSampler:
        if self.root is not None:
            self.cpu_start = tree_cpu(self.root)
            self.peak = tree_rss(self.root)
            self.peak_pss = tree_pss(self.root)
            self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        assert self.root is not None
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, tree_rss(self.root))
            self.peak_pss = max(self.peak_pss, tree_pss(self.root))
            self.samples += 1

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self.root is not None:
            self.peak = max(self.peak, tree_rss(self.root))
            self.peak_pss = max(self.peak_pss, tree_pss(self.root))
            # CPU of processes still alive at the end (workers that exited are not counted).
            self.cpu_used = max(0.0, tree_cpu(self.root) - self.cpu_start)
