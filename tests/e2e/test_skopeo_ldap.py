"""skopeo with LDAP credentials against a `wharf serve` process in the LDAP mode (a real
OpenLDAP, tests/ldap_server.py): push into a project a directory group may push to, pull
back, a wrong password refused; and the server's whole log, at debug level, holds none of
the passwords used."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import Server, run_wharf
from tests.ldap_server import GROUPS, Slapd, run_slapd

from .clients import CommandFailed, make_image, run

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.timeout(300)]

ADMIN_PASSWORD = "Ldap-E2e-Admin-1"
ALICE_PASSWORD = "Alice-Skopeo-Pass-7"
WRONG_PASSWORD = "Not-Alices-Pass-9"


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with run_slapd(tmp_path_factory.mktemp("slapd-e2e") / "ldap") as server:
        alice = server.add_user("alice", ALICE_PASSWORD)
        server.add_group("builders", (alice,))
        yield server


@pytest.fixture(scope="module")
def ldap_wharf(tmp_path_factory: pytest.TempPathFactory, directory: Slapd) -> Iterator[Server]:
    env = {
        "WHARF_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "WHARF_LOG__LEVEL": "debug",
        **{f"WHARF_AUTH__{k.upper()}": str(v) for k, v in directory.settings().items()},
    }
    data = tmp_path_factory.mktemp("wharf-ldap-e2e") / "data"
    with run_wharf(data, workers=2, auth=True, env=env) as server:
        project = requests.post(
            f"{server.url}/api/v2.0/projects",
            json={"project_name": "builds"},
            auth=("admin", ADMIN_PASSWORD),
        )
        assert project.status_code == 201, project.text
        member = requests.post(
            f"{server.url}/api/v2.0/projects/builds/members",
            json={"role_id": 2, "member_group": {"ldap_group_dn": f"cn=builders,{GROUPS}"}},
            auth=("admin", ADMIN_PASSWORD),
        )
        assert member.status_code == 201, member.text
        yield server


def test_skopeo_with_ldap_credentials(
    tmp_path: Path, ldap_wharf: Server, client_env: dict[str, str]
) -> None:
    registry = ldap_wharf.url.split("://", 1)[1]
    src = make_image(tmp_path / "src", "v1", layers=2)
    target = f"docker://{registry}/builds/app:v1"
    run(
        [
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            f"alice:{ALICE_PASSWORD}",
            f"oci:{src.path}:v1",
            target,
        ],
        env=client_env,
    )
    pulled = tmp_path / "pulled"
    run(
        [
            "skopeo",
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            f"alice:{ALICE_PASSWORD}",
            target,
            f"oci:{pulled}:v1",
        ],
        env=client_env,
    )
    assert (pulled / "index.json").exists()
    with pytest.raises(CommandFailed, match=r"(?i)unauthorized|authentication"):
        run(
            [
                "skopeo",
                "inspect",
                "--tls-verify=false",
                "--creds",
                f"alice:{WRONG_PASSWORD}",
                target,
            ],
            env=client_env,
        )
    log = ldap_wharf.log()
    assert '"level":"error"' not in log, log[-3000:]
    for secret in (ALICE_PASSWORD, WRONG_PASSWORD, ADMIN_PASSWORD, directory_password()):
        assert secret not in log


def directory_password() -> str:
    return Slapd.search_password
