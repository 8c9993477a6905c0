"""`wharf gc` run from a cron-like loop (zero grace window, --delete-untagged) while
skopeo copies images in and out: every copy succeeds and pulls back byte for byte."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from tests.helpers import WHARF, Server

from .clients import Layout, make_image, run, unique_repo

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

NO_TLS = ["--src-tls-verify=false", "--dest-tls-verify=false"]


def test_gc_loop_while_skopeo_copies(
    tmp_path: Path, registry: str, client_env: dict[str, str], e2e_server: Server
) -> None:
    stop = threading.Event()
    runs: list[int] = []

    def gc_loop() -> None:
        env = {**os.environ, **e2e_server.env, "WHARF_AUTH__ENABLED": "false"}
        command = [WHARF, "gc", "--data", str(e2e_server.data_dir), "--grace", "0"]
        while not stop.is_set():
            done = subprocess.run(
                [*command, "--delete-untagged", "--json"],
                capture_output=True,
                text=True,
                timeout=120,
                env=env,
            )
            runs.append(done.returncode)

    loop = threading.Thread(target=gc_loop, daemon=True)
    loop.start()
    try:
        images = [make_image(tmp_path / f"src{n}", "v1", layers=3) for n in range(3)]
        # copy until the collector has finished at least two runs while copies were going
        # on (bounded: a slow machine gets more rounds, not a weaker check)
        for round_ in range(8):
            if round_ >= 2 and runs.count(0) >= 2:
                break
            for n, src in enumerate(images):
                repo = unique_repo("gc")
                ref = f"docker://{registry}/{repo}"
                run(["skopeo", "copy", *NO_TLS, f"oci:{src.path}:v1", f"{ref}:v1"], env=client_env)
                # registry to registry (mounts) and back out
                other = f"docker://{registry}/{unique_repo('gc')}:v1"
                run(["skopeo", "copy", *NO_TLS, f"{ref}:v1", other], env=client_env)
                out = Layout(tmp_path / f"out{round_}-{n}")
                run(["skopeo", "copy", *NO_TLS, other, f"oci:{out.path}:v1"], env=client_env)
                digest = src.descriptor("v1")["digest"]
                assert out.descriptor("v1")["digest"] == digest
                for blob in src.image_blobs(digest):
                    assert out.blob(blob) == src.blob(blob)
    finally:
        stop.set()
        loop.join(180)
    assert runs and all(code in (0, 3) for code in runs), runs
    assert runs.count(0) >= 2
