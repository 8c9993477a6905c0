"""`wharf serve` serving the web UI: the built files at /, page URLs answered with
index.html (deep links) without shadowing the APIs and probes, cache headers, the
Content-Security-Policy, the message when the UI is not built, the `ui.dir` setting, and
Harbor's form sign-in (POST /c/login) that gives the browser its session."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import wharf.registry.config as config
from wharf.registry.config import ConfigError, load_settings

from .inproc import ADMIN, InProcessServer, serve_in_process

INDEX = (
    b"<!doctype html><html><head>"
    b'<script type="module" src="/assets/app-1a2b3c.js"></script></head></html>'
)
SCRIPT = b"console.log('wharf');"


def _built(root: Path) -> Path:
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "assets" / "app-1a2b3c.js").write_bytes(SCRIPT)
    (root / "assets" / "app-1a2b3c.js.gz").write_bytes(gzip.compress(SCRIPT))
    (root / "favicon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    return root


@pytest.fixture(scope="module")
def ui_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    base = tmp_path_factory.mktemp("ui-serving")
    dist = _built(base / "dist")
    (base / "secret.txt").write_text("outside the UI")
    with serve_in_process(
        base / "data", auth=True, admin_password=ADMIN[1], ui={"dir": str(dist)}
    ) as server:
        yield server
    assert not server.errors, server.error_log()


def get(server: InProcessServer, path: str, **kwargs: object) -> requests.Response:
    return requests.get(server.url + path, timeout=10, allow_redirects=False, **kwargs)  # type: ignore[arg-type]


def assert_secure(response: requests.Response) -> None:
    csp = response.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ):
        assert directive in csp, csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["/", "/projects", "/projects/library/members", "/sign-in?next=%2Fprojects", "/apis"]
)
def test_page_urls_answer_the_app(ui_app: InProcessServer, path: str) -> None:
    response = get(ui_app, path)
    assert response.status_code == 200
    assert response.content == INDEX
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-cache"
    assert_secure(response)


def test_hashed_assets_are_cached_for_a_year(ui_app: InProcessServer) -> None:
    response = get(ui_app, "/assets/app-1a2b3c.js")
    assert response.status_code == 200
    assert response.content == SCRIPT
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "javascript" in response.headers["Content-Type"]
    assert_secure(response)
    head = requests.head(
        ui_app.url + "/assets/app-1a2b3c.js", headers={"Accept-Encoding": "identity"}, timeout=10
    )
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(SCRIPT))


def test_the_build_s_gzip_copies_go_to_browsers_that_take_them(ui_app: InProcessServer) -> None:
    packed = get(ui_app, "/assets/app-1a2b3c.js", headers={"Accept-Encoding": "gzip"})
    assert packed.headers.get("Content-Encoding") == "gzip"
    assert packed.content == SCRIPT  # requests unpacks it
    assert packed.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    plain = get(ui_app, "/assets/app-1a2b3c.js", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers and plain.content == SCRIPT


def test_other_files_are_revalidated(ui_app: InProcessServer) -> None:
    response = get(ui_app, "/favicon.svg")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    "path", ["/assets/app-old.js", "/assets/", "/favicon.ico", "/projects/x/logo.png"]
)
def test_missing_files_are_404_not_the_page(ui_app: InProcessServer, path: str) -> None:
    response = get(ui_app, path)
    assert response.status_code == 404
    assert response.content != INDEX


@pytest.mark.parametrize(
    "path", ["/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt"]
)
def test_nothing_outside_the_ui_directory(ui_app: InProcessServer, path: str) -> None:
    response = requests.get(ui_app.url + path, timeout=10)
    assert b"outside the UI" not in response.content


def test_the_apis_and_probes_are_not_shadowed(ui_app: InProcessServer) -> None:
    v2 = get(ui_app, "/v2/")
    assert v2.status_code == 401 and "Bearer" in v2.headers["WWW-Authenticate"]
    info = get(ui_app, "/api/v2.0/systeminfo")
    assert info.status_code == 200 and "auth_mode" in info.json()
    assert get(ui_app, "/healthz").json()["status"] == "ok"
    assert get(ui_app, "/readyz").json()["status"] == "ok"
    assert "text/plain" in get(ui_app, "/metrics").headers["Content-Type"]
    assert get(ui_app, "/service/token").status_code == 200
    # unknown paths under a reserved prefix are that surface's 404, never the UI's page
    for path in (
        "/api/v2.0/no-such-thing",
        "/api/v3/projects",
        "/api",
        "/c/no-such-thing",
        "/service/nope",
        "/healthz/x",
        "/metrics/x",
    ):
        response = get(ui_app, path)
        assert response.status_code in (401, 404), (path, response.status_code)
        assert response.content != INDEX, path
    # and only GET/HEAD reach the UI
    response = requests.post(ui_app.url + "/projects", timeout=10)
    assert response.status_code in (404, 405) and response.content != INDEX


def test_form_sign_in_gives_a_session_with_csrf(ui_app: InProcessServer) -> None:
    http = requests.Session()
    refused = http.post(
        ui_app.url + "/c/login", data={"principal": ADMIN[0], "password": "wrong"}, timeout=10
    )
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert "sid" not in http.cookies
    missing = http.post(ui_app.url + "/c/login", data={"principal": ADMIN[0]}, timeout=10)
    assert missing.status_code == 400
    ok = http.post(
        ui_app.url + "/c/login", data={"principal": ADMIN[0], "password": ADMIN[1]}, timeout=10
    )
    assert ok.status_code == 200
    assert "sid" in http.cookies and "__csrf" in http.cookies
    me = http.get(ui_app.url + "/api/v2.0/users/current", timeout=10)
    assert me.status_code == 200 and me.json()["username"] == ADMIN[0]
    # a change needs the CSRF header (double submit)
    body = {"project_name": "ui-session", "metadata": {"public": "false"}}
    bare = http.post(ui_app.url + "/api/v2.0/projects", json=body, timeout=10)
    assert bare.status_code == 401
    token = {"X-Harbor-CSRF-Token": http.cookies["__csrf"]}
    made = http.post(ui_app.url + "/api/v2.0/projects", json=body, headers=token, timeout=10)
    assert made.status_code == 201
    # signing out ends the browser's session
    http.get(ui_app.url + "/c/log_out", timeout=10)
    assert "sid" not in http.cookies
    assert http.get(ui_app.url + "/api/v2.0/users/current", timeout=10).status_code == 401


def test_robots_sign_in_to_the_registry_only(ui_app: InProcessServer) -> None:
    admin = (ADMIN[0], ADMIN[1])
    made = requests.post(
        ui_app.url + "/api/v2.0/robots",
        auth=admin,
        json={
            "name": "uibot",
            "level": "project",
            "duration": -1,
            "permissions": [
                {
                    "kind": "project",
                    "namespace": "library",
                    "access": [{"resource": "repository", "action": "pull"}],
                }
            ],
        },
        timeout=10,
    )
    assert made.status_code == 201, made.text
    robot = made.json()
    response = requests.post(
        ui_app.url + "/c/login",
        data={"principal": robot["name"], "password": robot["secret"]},
        timeout=10,
    )
    assert response.status_code == 401
    assert "sid" not in response.cookies


def test_an_unbuilt_ui_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "DEFAULT_UI_DIR", tmp_path / "not-built")
    with serve_in_process(tmp_path / "data", auth=True, admin_password=ADMIN[1]) as server:
        response = get(server, "/")
        assert response.status_code == 503
        assert "npm ci" in response.text and "not built" in response.text
        assert_secure(response)
        # only the front door explains: any other path is an unknown endpoint, a 4xx
        stray = get(server, "/projects")
        assert stray.status_code == 404 and stray.json()["errors"][0]["code"] == "NOT_FOUND"
        assert get(server, "/api/v2.0/systeminfo").status_code == 200
        assert not server.errors, server.error_log()


def test_without_access_control_the_page_says_why(tmp_path: Path) -> None:
    with serve_in_process(tmp_path / "data", ui={"dir": str(_built(tmp_path / "dist"))}) as server:
        response = get(server, "/")
        assert response.status_code == 404
        assert "access control" in response.text
        assert get(server, "/v2/").status_code == 200
        stray = get(server, "/nothing/here")
        assert stray.status_code == 404 and stray.json()["errors"][0]["code"] == "NOT_FOUND"


def test_ui_dir_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ui"):
        load_settings(None, {"data_dir": str(tmp_path)}, {"WHARF_UI__DIR": str(tmp_path / "x")})
    settings = load_settings(None, {"ui": {"dir": str(_built(tmp_path / "dist"))}}, {})
    assert settings.ui.root == tmp_path / "dist"
