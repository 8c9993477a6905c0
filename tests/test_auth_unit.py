"""Unit tests of wharf.auth: scopes, key ids, roles, passwords, tokens (hardening)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from wharf.auth.keys import KeyRing, jwk_thumbprint, libtrust_kid
from wharf.auth.models import (
    DELETE,
    LIST,
    MEMBERS,
    PULL,
    PUSH,
    ROLE_PERMISSIONS,
    Role,
    project_of,
)
from wharf.auth.passwords import hash_password, hash_secret, verify_password
from wharf.auth.scopes import Scope, parse_scope, parse_scopes
from wharf.auth.service import AuthService, Principal
from wharf.auth.sqlite_store import SQLiteAuthStore
from wharf.auth.tokens import InvalidToken, TokenService
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.wiring import sqlite_database

# --- scopes --------------------------------------------------------------------------

name_part = st.from_regex(r"[a-z0-9]+(?:[._-][a-z0-9]+)*", fullmatch=True)
hostport = st.builds(
    lambda h, p: f"{h}:{p}",
    st.from_regex(r"[a-z0-9]+(\.[a-z0-9]+)*", fullmatch=True),
    st.integers(1, 65535),
)
repo_names = st.builds(
    lambda host, parts: "/".join(([host] if host else []) + parts),
    st.one_of(st.none(), hostport),
    st.lists(name_part, min_size=1, max_size=4),
)
actions = st.sets(st.sampled_from(["pull", "push", "delete", "*"]), min_size=1)


@given(repo_names, actions)
def test_scope_round_trip_with_host_port_names(name: str, acts: set[str]) -> None:
    text = f"repository:{name}:{','.join(sorted(acts))}"
    scope = parse_scope(text)
    assert scope == Scope("repository", name, frozenset(acts))
    assert str(scope) == text


@given(st.text(max_size=60))
def test_parse_scope_never_raises(text: str) -> None:
    scope = parse_scope(text)
    if scope is not None:
        assert scope.name and scope.actions


def test_scope_forms() -> None:
    assert parse_scope("registry:catalog:*") == Scope("registry", "catalog", frozenset({"*"}))
    assert parse_scope("repository(plugin):a/b:pull") == Scope(
        "repository", "a/b", frozenset({"pull"})
    )
    assert parse_scope("repository:localhost:5000/a/b:pull,push") == Scope(
        "repository", "localhost:5000/a/b", frozenset({"pull", "push"})
    )
    for bad in ("", "repository", "repository:a", "repository::pull", "repository:a:", ":a:pull"):
        assert parse_scope(bad) is None, bad
    merged = parse_scopes(["repository:a:pull repository:b:push", "repository:a:push", "junk"])
    assert merged == [
        Scope("repository", "a", frozenset({"pull", "push"})),
        Scope("repository", "b", frozenset({"push"})),
    ]


# --- roles ---------------------------------------------------------------------------


def test_role_table_matches_harbor() -> None:
    registry = {PULL, PUSH, DELETE}
    assert ROLE_PERMISSIONS[Role.PROJECT_ADMIN] & registry == {PULL, PUSH, DELETE}
    assert ROLE_PERMISSIONS[Role.MAINTAINER] & registry == {PULL, PUSH, DELETE}
    assert ROLE_PERMISSIONS[Role.DEVELOPER] & registry == {PULL, PUSH}
    assert ROLE_PERMISSIONS[Role.GUEST] & registry == {PULL}
    assert ROLE_PERMISSIONS[Role.LIMITED_GUEST] & registry == {PULL}
    # Harbor: limited guests list repositories and artifacts too
    assert all(LIST in ROLE_PERMISSIONS[r] for r in Role)
    assert [r for r in Role if MEMBERS in ROLE_PERMISSIONS[r]] == [Role.PROJECT_ADMIN]
    # only project admins read the project's log; members from guest up list its robots
    assert [r for r in Role if "log:list" in ROLE_PERMISSIONS[r]] == [Role.PROJECT_ADMIN]
    assert [r for r in Role if "robot:list" in ROLE_PERMISSIONS[r]] == [
        Role.PROJECT_ADMIN,
        Role.DEVELOPER,
        Role.GUEST,
        Role.MAINTAINER,
    ]
    assert [int(r) for r in Role] == [1, 2, 3, 4, 5]


def test_principal_permissions() -> None:
    p = Principal("user", "bob", roles={"team": Role.DEVELOPER}, public=frozenset({"library"}))
    assert p.repo_actions("team/app") == {PULL, PUSH}
    assert p.repo_actions("library/nginx") == {PULL}
    assert p.repo_actions("other/x") == frozenset()
    robot = Principal("robot", "robot$team+ci", robot_permissions={"team": frozenset({PULL})})
    assert robot.repo_actions("team/a/b") == {PULL} and robot.can_list("team/a")
    assert Principal("user", "root", sysadmin=True).repo_actions("any/x") == {PULL, PUSH, DELETE}
    assert project_of("library/nginx") == "library" and project_of("solo") == "solo"


# --- passwords -----------------------------------------------------------------------


def test_password_hashing() -> None:
    stored = hash_password("Secret123", n=2**10)
    assert stored.startswith("scrypt$") and "Secret123" not in stored
    assert verify_password("Secret123", stored)
    assert not verify_password("Secret124", stored)
    assert hash_password("Secret123", n=2**10) != stored  # salted
    secret = hash_secret("abc")
    assert verify_password("abc", secret) and not verify_password("abd", secret)
    assert not verify_password("x", "garbage") and not verify_password("x", "scrypt$1$2")


# --- key ids -------------------------------------------------------------------------


def test_libtrust_kid_format() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    kid = libtrust_kid(key)
    groups = kid.split(":")
    assert len(groups) == 12 and all(len(g) == 4 for g in groups)
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    assert kid.replace(":", "") == expected


def test_jwk_thumbprint_rfc7638_example() -> None:
    # The RSA key of RFC 7638 section 3.1 and its published thumbprint.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
        "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
        "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
        "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    n_int = int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)), "big")
    key = rsa.RSAPublicNumbers(65537, n_int).public_key()
    assert jwk_thumbprint(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


# --- tokens --------------------------------------------------------------------------


@pytest.fixture
def tokens(tmp_path: Path) -> Iterator[tuple[TokenService, AuthService]]:
    loop = asyncio.new_event_loop()
    database = sqlite_database(tmp_path / "wharf.db")
    meta = SQLiteStore(database)
    loop.run_until_complete(meta.open())
    store = SQLiteAuthStore(database)
    loop.run_until_complete(store.open())
    service = TokenService(store, issuer="wharf-test", service="wharf")
    loop.run_until_complete(service.load())
    auth = AuthService(store, service)
    service.loop = loop  # type: ignore[attr-defined]
    yield service, auth
    loop.run_until_complete(store.close())
    loop.run_until_complete(meta.close())
    loop.close()


def _verify(service: TokenService, token: str) -> Any:
    return service.loop.run_until_complete(service.verify(token))  # type: ignore[attr-defined]


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "wharf-test",
        "sub": "bob",
        "aud": "wharf",
        "exp": now + 300,
        "nbf": now,
        "iat": now,
        "jti": "x",
        "access": [{"type": "repository", "name": "a/b", "actions": ["pull"]}],
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def _own_key(service: TokenService) -> Any:
    assert service._signing is not None
    return service._signing[1]


def test_issue_and_verify(tokens: tuple[TokenService, AuthService]) -> None:
    service, _ = tokens
    issued = service.issue("bob", [Scope("repository", "a/b", frozenset({"pull"}))])
    header = jwt.get_unverified_header(issued.token)
    assert header["alg"] == "RS256" and header["kid"] == service.kid
    assert len(header["kid"].split(":")) == 12
    claims = _verify(service, issued.token)
    assert claims.subject == "bob" and claims.actions("repository", "a/b") == {"pull"}
    assert issued.expires_in == 300 and issued.issued_at.endswith("Z")
    payload = jwt.decode(issued.token, options={"verify_signature": False})
    assert set(payload) >= {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"}
    with pytest.raises(InvalidToken):  # an access token is not a refresh token and back
        service.loop.run_until_complete(service.verify(issued.token, refresh=True))  # type: ignore[attr-defined]
    with pytest.raises(InvalidToken):
        _verify(service, service.issue_refresh("bob"))


def _sign(key: Any, claims: dict[str, Any], kid: str, alg: str = "RS256") -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def test_token_hardening(tokens: tuple[TokenService, AuthService]) -> None:
    service, _ = tokens
    key, kid = _own_key(service), service.kid
    good = _sign(key, _claims(), kid)
    _verify(service, good)
    head, payload, sig = good.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged["access"][0]["actions"] = ["pull", "push"]
    tampered = ".".join(
        [head, base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("="), sig]
    )
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = {
        "tampered": tampered,
        "alg none": f"{none_header}.{payload}.",
        "hs256 with public key": jwt.encode(
            _claims(), "secret", algorithm="HS256", headers={"kid": kid}
        ),
        "wrong key, our kid": _sign(other, _claims(), kid),
        "unknown kid": _sign(other, _claims(), libtrust_kid(other.public_key())),
        "expired": _sign(key, _claims(exp=int(time.time()) - 61), kid),
        "not yet valid": _sign(key, _claims(nbf=int(time.time()) + 120), kid),
        "wrong audience": _sign(key, _claims(aud="other"), kid),
        "wrong issuer": _sign(key, _claims(iss="evil"), kid),
        "no exp": _sign(key, _claims(exp=None), kid),
        "no sub": _sign(key, _claims(sub=None), kid),
        "no aud": _sign(key, _claims(aud=None), kid),
        "bad access": _sign(key, _claims(access="everything"), kid),
        "garbage": "not.a.token",
    }
    for label, token in refused.items():
        with pytest.raises(InvalidToken):
            _verify(service, token)
            pytest.fail(label)
    # within the 60 s leeway
    _verify(service, _sign(key, _claims(exp=int(time.time()) - 30), kid))


def test_trusted_external_keys_by_thumbprint_and_x5c(
    tokens: tuple[TokenService, AuthService], tmp_path: Path
) -> None:
    service, _ = tokens
    external = ec.generate_private_key(ec.SECP256R1())
    ca_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)

    def cert(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer, hashes.SHA256())
        )

    ca = cert("root", ca_key, "root", ca_key, True)
    leaf = cert("issuer", leaf_key, "root", ca_key, False)
    bundle = tmp_path / "trust.pem"
    bundle.write_bytes(
        external.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        + ca.public_bytes(serialization.Encoding.PEM)
    )
    service.trusted_keys = [bundle]
    service.issuers.append("external")
    service.loop.run_until_complete(service._reload_ring())  # type: ignore[attr-defined]
    claims = _claims(iss="external")
    by_thumb = _sign(external, claims, jwk_thumbprint(external.public_key()), "ES256")
    assert not _verify(service, by_thumb).ours
    _verify(service, _sign(external, claims, libtrust_kid(external.public_key()), "ES256"))
    x5c = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in (leaf,)]
    chained = jwt.encode(claims, leaf_key, algorithm="ES256", headers={"x5c": x5c})
    assert _verify(service, chained).issuer == "external"
    rogue_ca_key = ec.generate_private_key(ec.SECP256R1())
    rogue = cert("issuer", leaf_key, "root", rogue_ca_key, False)
    bad = [base64.b64encode(rogue.public_bytes(serialization.Encoding.DER)).decode()]
    with pytest.raises(InvalidToken):
        _verify(service, jwt.encode(claims, leaf_key, algorithm="ES256", headers={"x5c": bad}))
    ring = KeyRing.empty()
    with pytest.raises(Exception):  # noqa: B017
        ring.key_for_chain(x5c)


# --- audit batching and retention --------------------------------------------------


def test_audit_batching_and_retention(tokens: tuple[TokenService, AuthService]) -> None:
    service, auth = tokens
    loop = service.loop  # type: ignore[attr-defined]
    from wharf.auth.models import AuditEvent
    from wharf.auth.service import AUDIT_BATCH
    from wharf.auth.store import AuditQuery, Page

    def count() -> int:
        database = auth.store.database  # type: ignore[attr-defined]
        return int(
            loop.run_until_complete(
                database.read(lambda db: db.execute("SELECT COUNT(*) FROM audit_events").fetchone())
            )[0]
        )

    start = count()
    old = AuditEvent("u", "pull", "artifact", "p/r", time=time.time() - 100 * 86400)
    loop.run_until_complete(auth.audit(old, batched=True))
    assert count() == start  # waits for the periodic flush
    loop.run_until_complete(auth.audit(AuditEvent("u", "delete", "artifact", "p/r")))
    assert count() == start + 2  # an unbatched event flushes what waited before it
    for _ in range(AUDIT_BATCH):
        loop.run_until_complete(
            auth.audit(AuditEvent("u", "pull", "artifact", "p/r"), batched=True)
        )
    assert count() == start + 2 + AUDIT_BATCH  # a full batch is written at once
    assert loop.run_until_complete(auth.purge_audit(time.time())) == 1  # 90 days by default
    events, total = loop.run_until_complete(auth.store.list_events(AuditQuery(), Page(0, 10)))
    assert total == start + 1 + AUDIT_BATCH
    assert all(e.time > time.time() - 86400 for e in events)
