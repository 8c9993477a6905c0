"""The web UI in a real browser: a `wharf serve` (access control on, the embedded default)
with an image pushed by skopeo, and the browser tests of ui/e2e/*.e2e.mjs (node's test
runner driving Debian's chromium with playwright-core; axe-core on every page), which
write the screenshots of docs/screenshots/.

The UI must be built (`make ui`, which `make test` and `make run` do first)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.clients import make_image, run
from tests.helpers import Server, run_wharf

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parent.parent
UI = ROOT / "ui"
ADMIN_PASSWORD = "Browser-Tests-1"
CHROMIUM = "/usr/bin/chromium"


def _client_env(base: Path) -> dict[str, str]:
    """skopeo's configuration, kept off the host's registries and credentials."""
    (base / "registries.conf").write_text("")
    (base / "auth.json").write_text("{}")
    (base / "tmp").mkdir(exist_ok=True)
    return {
        "CONTAINERS_REGISTRIES_CONF": str(base / "registries.conf"),
        "REGISTRY_AUTH_FILE": str(base / "auth.json"),
        "TMPDIR": str(base / "tmp"),
        "NO_PROXY": "127.0.0.1,localhost",
    }


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not (UI / "dist" / "index.html").is_file():
        pytest.fail("the UI is not built: run `make ui`")
    if not (UI / "node_modules" / "playwright-core").is_dir():
        pytest.fail("ui/node_modules is missing: run `make ui`")
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run `bash tests/system-deps.sh`")
    data = tmp_path_factory.mktemp("ui-wharf") / "data"
    env = {"WHARF_ADMIN_PASSWORD": ADMIN_PASSWORD, "WHARF_UI__DIR": str(UI / "dist")}
    with run_wharf(data, workers=1, auth=True, env=env) as server:
        yield server
    assert '"level":"error"' not in server.log(), server.log()[-5000:]


def test_browser(ui_server: Server, tmp_path: Path) -> None:
    registry = ui_server.url.split("://", 1)[1]
    clients = _client_env(tmp_path)
    layout = tmp_path / "image"
    make_image(layout, "v1", layers=2, files_per_layer=1, file_size=4096)
    image = f"oci:{layout}:v1"
    for tag in ("v1", "latest"):
        run(
            [
                "skopeo",
                "copy",
                "--dest-tls-verify=false",
                "--dest-creds",
                f"admin:{ADMIN_PASSWORD}",
                image,
                f"docker://{registry}/library/demo:{tag}",
            ],
            env=clients,
        )
    env = {
        **os.environ,
        "E2E_URL": ui_server.url,
        "E2E_REGISTRY": registry,
        "E2E_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "E2E_IMAGE": image,
        "E2E_CHROMIUM": CHROMIUM,
        "E2E_SCREENSHOTS": str(ROOT / "docs" / "screenshots"),
        # the server's data directory: the admin tests plant an orphan blob for GC to free
        "E2E_DATA": str(ui_server.data_dir),
        **{f"E2E_SKOPEO_ENV_{k}": v for k, v in clients.items()},
    }
    # UI_E2E_ONLY=projects runs ui/e2e/projects.e2e.mjs alone (while writing a page's tests)
    only = os.environ.get("UI_E2E_ONLY", "")
    files = sorted(
        str(p.relative_to(UI))
        for p in (UI / "e2e").glob("*.e2e.mjs")
        if not only or p.name.startswith(only)
    )
    assert files, f"no browser tests in ui/e2e (UI_E2E_ONLY={only!r})"
    done = subprocess.run(
        ["node", "--test", "--test-concurrency=1", "--test-reporter=spec", *files],
        cwd=UI,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, (
        f"browser tests failed (exit {done.returncode}):\n{done.stdout[-20000:]}\n"
        f"{done.stderr[-5000:]}"
    )
