"""Login latency through the token endpoint (``GET /service/token`` with Basic): 200
sequential logins each of a local user, an LDAP user (real slapd) and an OIDC user's CLI
secret (real oidc-provider; checked with the provider at most every 60 s, the default, and
on every use). Prints median and p95 (run with ``-s`` to see them)."""

from __future__ import annotations

import base64
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.inproc import ADMIN, serve_in_process
from tests.ldap_server import run_slapd
from tests.oidc_provider import run_provider
from tests.test_oidc import browser_login, current

pytestmark = [pytest.mark.services, pytest.mark.slow]

LOGINS = 200


def measure(url: str, user: str, password: str) -> tuple[float, float]:
    """(median, p95) in milliseconds of LOGINS sequential logins on one connection."""
    session = requests.Session()
    header = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    times = []
    for _ in range(LOGINS):
        started = time.perf_counter()
        r = session.get(f"{url}/service/token", params={"service": "wharf"}, headers=header)
        times.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, r.text
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


@pytest.fixture(scope="module")
def figures() -> Iterator[dict[str, tuple[float, float]]]:
    found: dict[str, tuple[float, float]] = {}
    yield found
    print("\n| login (token endpoint, Basic) | median ms | p95 ms |\n|---|---|---|")
    for name, (median, p95) in found.items():
        print(f"| {name} | {median:.1f} | {p95:.1f} |")


def test_local_user(tmp_path: Path, figures: dict[str, tuple[float, float]]) -> None:
    with serve_in_process(tmp_path / "db", auth=True, admin_password=ADMIN[1]) as wharf:
        figures["local user (scrypt, then cached 60 s)"] = measure(wharf.url, *ADMIN)


def test_ldap_user(tmp_path: Path, figures: dict[str, tuple[float, float]]) -> None:
    with run_slapd(tmp_path / "ldap") as slapd:
        alice = slapd.add_user("alice", "Alice-Pass-1")
        slapd.add_group("devs", (alice,))
        env = {f"WHARF_AUTH__{k.upper()}": str(v) for k, v in slapd.settings().items()}
        with serve_in_process(
            tmp_path / "w", auth=True, admin_password=ADMIN[1], environ=env
        ) as wharf:
            figures["LDAP user (search, bind, 1 group)"] = measure(
                wharf.url, "alice", "Alice-Pass-1"
            )


def test_oidc_cli_secret(tmp_path: Path, figures: dict[str, tuple[float, float]]) -> None:
    with serve_in_process(tmp_path / "w", auth=True, admin_password=ADMIN[1]) as wharf:
        users = [
            {
                "sub": "s1",
                "username": "alice",
                "password": "pw",
                "name": "alice",
                "email": "a@example.org",
                "groups": ["devs"],
            }
        ]
        with run_provider(tmp_path / "op", f"{wharf.url}/c/oidc/callback", users) as op:
            settings = {
                "auth_mode": "oidc_auth",
                "oidc_endpoint": op.issuer,
                "oidc_client_id": op.client_id,
                "oidc_client_secret": op.client_secret,
                "oidc_scope": "openid,offline_access,profile,email,groups",
                "oidc_groups_claim": "groups",
                "oidc_user_claim": "preferred_username",
                "oidc_auto_onboard": True,
            }
            r = requests.put(f"{wharf.url}/api/v2.0/configurations", json=settings, auth=ADMIN)
            assert r.status_code == 200, r.text
            browser, _ = browser_login(wharf, "alice", "pw")
            secret = current(wharf, browser)["oidc_user_meta"]["secret"]
            figures["OIDC CLI secret (provider checked every 60 s)"] = measure(
                wharf.url, "alice", secret
            )
            requests.put(
                f"{wharf.url}/api/v2.0/configurations",
                json={"oidc_cli_check_interval": 0},
                auth=ADMIN,
            )
            figures["OIDC CLI secret (provider refresh every login)"] = measure(
                wharf.url, "alice", secret
            )
