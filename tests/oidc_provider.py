"""A throwaway OpenID provider for the OIDC tests: ``tests/oidc/provider.mjs`` (the npm
package ``oidc-provider`` 8.x on Node.js), installed into ``tests/oidc/node_modules`` by
``npm ci`` on first use, started on a free port with users and a signing key of the
test's making (so tests can also sign ID tokens the provider would, e.g. expired ones).

    with run_provider(folder, redirect_uri, USERS) as op:
        op.issuer, op.client_id, op.client_secret, op.signing_key, op.disable(sub)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.helpers import free_port

FOLDER = Path(__file__).resolve().parent / "oidc"
KID = "wharf-test-key"


def ensure_installed() -> str | None:
    """Why the provider can't run here, or None (installs its npm packages if needed)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are needed (bash tests/system-deps.sh)"
    if not (FOLDER / "node_modules" / "oidc-provider").is_dir():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=FOLDER,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            return f"npm ci failed in {FOLDER}: {done.stderr[-2000:]}"
    return None


@dataclass
class Provider:
    issuer: str
    client_id: str
    client_secret: str
    signing_key: rsa.RSAPrivateKey
    process: subprocess.Popen[str]

    def disable(self, sub: str) -> None:
        r = requests.post(f"{self.issuer}/test/disable", params={"sub": sub}, timeout=5)
        assert r.status_code == 204, r.text

    def sign(self, claims: dict[str, Any], key: rsa.RSAPrivateKey | None = None) -> str:
        """An ID token as the provider would sign it (or with another ``key``)."""
        return jwt.encode(claims, key or self.signing_key, "RS256", headers={"kid": KID})


@contextmanager
def run_provider(
    folder: Path, redirect_uri: str, users: list[dict[str, Any]]
) -> Iterator[Provider]:
    why = ensure_installed()
    if why:
        pytest.skip(why)
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    jwk.update({"kid": KID, "use": "sig", "alg": "RS256"})
    config = {
        "port": port,
        "issuer": issuer,
        "client_id": "wharf",
        "client_secret": "Client-Secret-For-Tests-0123456789",
        "redirect_uris": [redirect_uri],
        "signing_jwk": jwk,
        "users": users,
    }
    config_path = folder / "provider.json"
    config_path.write_text(json.dumps(config))
    log = (folder / "provider.log").open("w")
    process = subprocess.Popen(
        ["node", str(FOLDER / "provider.mjs"), str(config_path)],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=FOLDER,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        line = process.stdout.readline()
        if line.strip() != "ready" or time.monotonic() > deadline:
            raise RuntimeError(
                "the OpenID provider did not start: " + (folder / "provider.log").read_text()
            )
        yield Provider(issuer, "wharf", config["client_secret"], key, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
