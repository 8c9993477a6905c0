"""Auth configuration (from WHARF_* variables) through the application in this process:
Basic on /v2 off, external URL realm, ES256."""

from __future__ import annotations

from pathlib import Path

import jwt
import requests

from .inproc import serve_in_process

ADMIN = ("admin", "Admin-Pass-1")


def test_basic_off_external_realm_and_es256(tmp_path: Path) -> None:
    env = {
        "WHARF_ADMIN_PASSWORD": ADMIN[1],
        "WHARF_AUTH__BASIC_ON_V2": "false",
        "WHARF_AUTH__ALGORITHM": "ES256",
        "WHARF_AUTH__SERVICE": "reg.example.com",
        "WHARF_EXTERNAL_URL": "https://reg.example.com",
    }
    with serve_in_process(tmp_path / "data", auth=True, environ=env) as server:
        r = requests.get(f"{server.url}/v2/", auth=ADMIN, timeout=10)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == (
            'Bearer realm="https://reg.example.com/service/token",service="reg.example.com"'
        )
        t = requests.get(
            f"{server.url}/service/token",
            params={"service": "reg.example.com", "scope": "repository:library/x:pull"},
            auth=ADMIN,
            timeout=10,
        )
        assert t.status_code == 200, t.text
        token = t.json()["token"]
        assert jwt.get_unverified_header(token)["alg"] == "ES256"
        assert jwt.decode(token, options={"verify_signature": False})["aud"] == "reg.example.com"
        headers = {"Authorization": f"Bearer {token}"}
        assert requests.get(f"{server.url}/v2/", headers=headers, timeout=10).status_code == 200
        keys = requests.get(f"{server.url}/service/keys", timeout=10).json()["keys"]
        assert jwt.get_unverified_header(token)["kid"] in {k["kid"] for k in keys}
