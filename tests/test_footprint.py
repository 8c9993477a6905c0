"""What a registry on the embedded default (SQLite, local disk, no LDAP) keeps out of
memory: boto3 (S3), asyncpg (PostgreSQL) and ldap3 load only when the configuration
asks for them. Run in a fresh interpreter so this test process's imports don't count."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, json, sys
from aiohttp.test_utils import TestClient, TestServer
from wharf.registry.config import load_settings
from wharf.registry.http.app import create_app
from wharf.registry.http.server import prepare

settings = load_settings(None, {"data_dir": sys.argv[1]}, {})

async def main():
    await prepare(settings)
    async with TestClient(TestServer(create_app(settings))) as client:
        for path in ("/v2/", "/api/v2.0/systeminfo", "/api/v2.0/projects", "/readyz"):
            (await client.get(path)).release()

asyncio.run(main())
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""

OPTIONAL = {"boto3", "botocore", "s3transfer", "asyncpg", "ldap3", "pyasn1"}


def test_embedded_default_loads_no_optional_backend(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "aiohttp" in loaded and "wharf" in loaded  # the registry did load and serve
    assert loaded & OPTIONAL == set()
