"""OIDC sign-in against a real OpenID provider (tests/oidc_provider.py: npm oidc-provider):
the browser flow driven by a real HTTP client through the provider's login and consent
forms, automatic onboarding and choosing a username, groups → project roles, the admin
group, CLI secrets for registry clients (refused once the provider drops the user, reset
through the API), a wrong state, and forged or expired ID tokens."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.helpers import Client
from tests.inproc import ADMIN, InProcessServer, serve_in_process
from tests.oidc_provider import Provider, run_provider
from wharf.auth.oidc import OidcProvider, TokenRefused
from wharf.auth.settings import ExternalAuthSettings

pytestmark = pytest.mark.services

USERS = [
    {
        "sub": "sub-alice",
        "username": "alice",
        "password": "alice-pw",
        "name": "Alice Liddell",
        "email": "alice@example.org",
        "groups": ["devs"],
    },
    {
        "sub": "sub-bob",
        "username": "bob",
        "password": "bob-pw",
        "name": "Bob Builder",
        "email": "bob@example.org",
        "groups": [],
    },
    {
        "sub": "sub-dan",
        "username": "dan",
        "password": "dan-pw",
        "name": "Dan",
        "email": "dan@example.org",
        "groups": ["wharf-admins"],
    },
    {
        "sub": "sub-eve",
        "username": "eve",
        "password": "eve-pw",
        "name": "Eve",
        "email": "eve@example.org",
        "groups": ["devs"],
    },
]


@pytest.fixture(scope="module")
def wharf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    data = tmp_path_factory.mktemp("wharf-oidc") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as server:
        yield server
    assert not server.errors, server.error_log()


@pytest.fixture(scope="module")
def provider(
    tmp_path_factory: pytest.TempPathFactory, wharf: InProcessServer
) -> Iterator[Provider]:
    folder = tmp_path_factory.mktemp("provider")
    with run_provider(folder, f"{wharf.url}/c/oidc/callback", USERS) as op:
        settings = {
            "auth_mode": "oidc_auth",
            "oidc_name": "Test IdP",
            "oidc_endpoint": op.issuer,
            "oidc_client_id": op.client_id,
            "oidc_client_secret": op.client_secret,
            "oidc_scope": "openid,offline_access,profile,email,groups",
            "oidc_groups_claim": "groups",
            "oidc_admin_group": "wharf-admins",
            "oidc_user_claim": "preferred_username",
            "oidc_auto_onboard": True,
            "oidc_cli_check_interval": 0,
        }
        r = requests.put(f"{wharf.url}/api/v2.0/configurations", json=settings, auth=ADMIN)
        assert r.status_code == 200, r.text
        yield op


def browser_login(
    wharf: InProcessServer, user: str, password: str
) -> tuple[requests.Session, requests.Response]:
    """Sign in the way a browser does: follow every redirect, fill in the provider's
    login form, then its consent form. The session and the last answer."""
    browser = requests.Session()
    page = browser.get(f"{wharf.url}/c/oidc/login", params={"redirect_url": "/landing"})
    assert page.status_code == 200 and "Sign in" in page.text, page.text
    action = re.search(r'action="([^"]+)"', page.text)
    assert action is not None
    base = page.url.split("/interaction/")[0]
    page = browser.post(base + action.group(1), data={"username": user, "password": password})
    if "Allow" in page.text:  # consent (offline_access)
        action = re.search(r'action="([^"]+)"', page.text)
        assert action is not None
        page = browser.post(base + action.group(1))
    return browser, page


def current(wharf: InProcessServer, browser: requests.Session) -> dict[str, Any]:
    r = browser.get(f"{wharf.url}/api/v2.0/users/current")
    assert r.status_code == 200, r.text
    me: dict[str, Any] = r.json()
    return me


def cli_token(wharf: InProcessServer, user: str, secret: str, scope: str = "") -> requests.Response:
    auth = base64.b64encode(f"{user}:{secret}".encode()).decode()
    params = {"service": "wharf", **({"scope": scope} if scope else {})}
    return requests.get(
        f"{wharf.url}/service/token",
        params=params,
        headers={"Authorization": f"Basic {auth}"},
        timeout=10,
    )


def test_browser_login_onboards_automatically(wharf: InProcessServer, provider: Provider) -> None:
    browser, last = browser_login(wharf, "alice", "alice-pw")
    # back at Wharf, sent where the login started from, with a session
    assert last.history and last.history[-1].headers["Location"] == "/landing"
    assert "sid" in browser.cookies
    me = current(wharf, browser)
    assert me["username"] == "alice" and me["email"] == "alice@example.org"
    secret = me["oidc_user_meta"]["secret"]
    assert len(secret) >= 8
    # docker login with the CLI secret
    assert cli_token(wharf, "alice", secret).status_code == 200
    assert cli_token(wharf, "alice", secret + "x").status_code == 401
    assert cli_token(wharf, "alice", "alice-pw").status_code == 401  # not the provider password
    events = requests.get(
        f"{wharf.url}/api/v2.0/audit-logs", params={"q": "operation=login"}, auth=ADMIN
    ).json()
    assert any(e["username"] == "alice" and "oidc" in str(e) for e in events), events


def test_choosing_a_username(wharf: InProcessServer, provider: Provider) -> None:
    r = requests.put(
        f"{wharf.url}/api/v2.0/configurations", json={"oidc_auto_onboard": False}, auth=ADMIN
    )
    assert r.status_code == 200
    try:
        browser, page = browser_login(wharf, "bob", "bob-pw")
        assert "/c/oidc/onboard" in page.url and 'value="bob"' in page.text
        taken = browser.post(f"{wharf.url}/c/oidc/onboard", json={"username": "admin"})
        assert taken.status_code == 409
        bad = browser.post(f"{wharf.url}/c/oidc/onboard", json={"username": "bo b"})
        assert bad.status_code == 400
        done = browser.post(f"{wharf.url}/c/oidc/onboard", json={"username": "bobby"})
        assert done.status_code == 200, done.text
        assert current(wharf, browser)["username"] == "bobby"
        # the next sign-in finds the same user without asking again
        browser, page = browser_login(wharf, "bob", "bob-pw")
        assert current(wharf, browser)["username"] == "bobby"
    finally:
        requests.put(
            f"{wharf.url}/api/v2.0/configurations", json={"oidc_auto_onboard": True}, auth=ADMIN
        )


def test_groups_claim_grants_project_roles(wharf: InProcessServer, provider: Provider) -> None:
    browser, _ = browser_login(wharf, "alice", "alice-pw")
    secret = current(wharf, browser)["oidc_user_meta"]["secret"]
    r = requests.post(f"{wharf.url}/api/v2.0/projects", json={"project_name": "oteam"}, auth=ADMIN)
    assert r.status_code == 201, r.text
    r = requests.post(
        f"{wharf.url}/api/v2.0/projects/oteam/members",
        json={"role_id": 2, "member_group": {"group_name": "devs"}},
        auth=ADMIN,
    )
    assert r.status_code == 201, r.text
    groups = requests.get(f"{wharf.url}/api/v2.0/usergroups", auth=ADMIN).json()
    assert any(g["group_name"] == "devs" and g["group_type"] == 3 for g in groups), groups
    granted = cli_token(wharf, "alice", secret, "repository:oteam/app:pull,push")
    assert granted.ok
    client = Client(wharf.url)
    client.http.headers["Authorization"] = f"Bearer {granted.json()['token']}"
    client.push_image("oteam/app", "v1")
    # bob is in no group: nothing
    none = cli_token(wharf, "bob", "x")
    assert none.status_code == 401


def test_admin_group_makes_a_system_admin(wharf: InProcessServer, provider: Provider) -> None:
    browser, _ = browser_login(wharf, "dan", "dan-pw")
    me = current(wharf, browser)
    assert me["admin_role_in_auth"] is True and me["sysadmin_flag"] is False
    assert browser.get(f"{wharf.url}/api/v2.0/configurations").status_code == 200
    alice, _ = browser_login(wharf, "alice", "alice-pw")
    assert alice.get(f"{wharf.url}/api/v2.0/configurations").status_code == 403


def test_cli_secret_reset_and_revoked_user(wharf: InProcessServer, provider: Provider) -> None:
    browser, _ = browser_login(wharf, "eve", "eve-pw")
    me = current(wharf, browser)
    old = me["oidc_user_meta"]["secret"]
    assert cli_token(wharf, "eve", old).ok
    url = f"{wharf.url}/api/v2.0/users/{me['user_id']}/cli_secret"
    # a change through the browser session needs the CSRF header
    assert browser.put(url, json={"secret": "New-Cli-Secret-1"}).status_code == 401
    csrf = {"X-Harbor-CSRF-Token": browser.cookies["__csrf"]}
    assert browser.put(url, json={"secret": "weak"}, headers=csrf).status_code == 400
    assert browser.put(url, json={"secret": "New-Cli-Secret-1"}, headers=csrf).status_code == 200
    assert cli_token(wharf, "eve", old).status_code == 401
    assert cli_token(wharf, "eve", "New-Cli-Secret-1").ok
    # the provider drops eve: her CLI secret stops working (checked with the refresh token)
    provider.disable("sub-eve")
    started = time.monotonic()
    assert cli_token(wharf, "eve", "New-Cli-Secret-1").status_code == 401
    assert time.monotonic() - started < 5


def test_the_sign_in_form_in_the_oidc_mode(wharf: InProcessServer, provider: Provider) -> None:
    """The web UI's form (POST /c/login): system admins only, as in Harbor; an OIDC user's
    CLI secret opens no browser session."""
    browser, _ = browser_login(wharf, "alice", "alice-pw")
    secret = current(wharf, browser)["oidc_user_meta"]["secret"]
    refused = requests.post(
        f"{wharf.url}/c/login", data={"principal": "alice", "password": secret}, timeout=10
    )
    assert refused.status_code == 403, refused.text
    assert "sid" not in refused.cookies
    admin = requests.post(
        f"{wharf.url}/c/login", data={"principal": ADMIN[0], "password": ADMIN[1]}, timeout=10
    )
    assert admin.status_code == 200 and "sid" in admin.cookies


def test_wrong_state_is_refused(wharf: InProcessServer, provider: Provider) -> None:
    browser = requests.Session()
    started = browser.get(f"{wharf.url}/c/oidc/login", allow_redirects=False)
    assert started.status_code == 302 and "wharf_oidc_login" in browser.cookies
    r = browser.get(f"{wharf.url}/c/oidc/callback", params={"state": "forged", "code": "x"})
    assert r.status_code == 400 and "state" in r.text
    # and without the login cookie at all
    r = requests.get(f"{wharf.url}/c/oidc/callback", params={"state": "x", "code": "x"})
    assert r.status_code == 400


def test_id_token_verification(provider: Provider) -> None:
    settings = ExternalAuthSettings(
        mode="oidc",
        oidc_endpoint=provider.issuer,
        oidc_client_id=provider.client_id,
        oidc_client_secret=provider.client_secret,
    )
    now = int(time.time())
    good = {
        "iss": provider.issuer,
        "sub": "s",
        "aud": provider.client_id,
        "iat": now,
        "exp": now + 300,
        "nonce": "n1",
    }
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    async def check() -> None:
        client = OidcProvider(settings)
        try:
            claims = await client.verify_id_token(provider.sign(good), "n1")
            assert claims["sub"] == "s"
            refused = {
                "expired": provider.sign({**good, "iat": now - 900, "exp": now - 600}),
                "wrong audience": provider.sign({**good, "aud": "someone-else"}),
                "wrong issuer": provider.sign({**good, "iss": "http://evil.example"}),
                "forged": provider.sign(good, other_key),
                "no expiry": provider.sign({k: v for k, v in good.items() if k != "exp"}),
            }
            for why, token in refused.items():
                with pytest.raises(TokenRefused):
                    await client.verify_id_token(token, "n1")
                    pytest.fail(why)
            with pytest.raises(TokenRefused):  # a replayed token from another login
                await client.verify_id_token(provider.sign(good), "n2")
            unsigned = provider.sign(good).rsplit(".", 1)[0]
            header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
            with pytest.raises(TokenRefused):
                await client.verify_id_token(f"{header}.{unsigned.split('.')[1]}.", "n1")
        finally:
            await client.close()

    asyncio.run(check())


def test_oidc_endpoints_outside_the_oidc_mode(tmp_path: Any) -> None:
    with serve_in_process(tmp_path / "db-mode", auth=True, admin_password=ADMIN[1]) as plain:
        r = requests.get(f"{plain.url}/c/oidc/login", allow_redirects=False)
        assert r.status_code == 412
        me = requests.get(f"{plain.url}/api/v2.0/users/current", auth=ADMIN).json()
        r = requests.put(
            f"{plain.url}/api/v2.0/users/{me['user_id']}/cli_secret",
            json={"secret": "Some-Secret-1"},
            auth=ADMIN,
        )
        assert r.status_code == 412


def test_no_secret_reaches_a_log_line(
    wharf: InProcessServer, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    browser, _ = browser_login(wharf, "alice", "alice-pw")
    secret = current(wharf, browser)["oidc_user_meta"]["secret"]
    assert cli_token(wharf, "alice", secret).ok  # checked with the provider (refresh token)
    assert cli_token(wharf, "alice", "Wrong-Secret-123").status_code == 401
    browser.get(f"{wharf.url}/c/oidc/callback", params={"state": "forged", "code": "c0de"})
    assert caplog.records  # the flows above do log (at debug and info)
    text = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    for leaked in (
        secret,
        "Wrong-Secret-123",
        "alice-pw",
        provider.client_secret,
        ADMIN[1],
        browser.cookies["sid"],
        "eyJ",
    ):  # "eyJ": any JWT (ID/access tokens)
        assert leaked not in text
