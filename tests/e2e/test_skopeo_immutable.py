"""skopeo against an immutable tag (a `wharf serve` process, two workers, access control
on): the first copy creates the tag, a copy of another image onto it is refused with the
rule named in skopeo's error, the tag still pulls the first image, a new tag is fine, and
`skopeo delete` of the held tag is refused too; once the rule is disabled the tag moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import Server, run_wharf

from .clients import CommandFailed, Layout, make_image, run

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ADMIN = ("admin", "Immutable-E2e-Admin-1")
NO_TLS = ["--src-tls-verify=false", "--dest-tls-verify=false"]
CREDS = f"{ADMIN[0]}:{ADMIN[1]}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("wharf-immutable-e2e") / "data"
    with run_wharf(data, workers=2, auth=True, env={"WHARF_ADMIN_PASSWORD": ADMIN[1]}) as s:
        r = requests.post(
            f"{s.url}/api/v2.0/projects", json={"project_name": "rel"}, auth=ADMIN, timeout=30
        )
        assert r.status_code == 201, r.text
        yield s


def test_skopeo_cannot_overwrite_an_immutable_tag(
    tmp_path: Path, server: Server, client_env: dict[str, str]
) -> None:
    registry = server.url.split("://", 1)[1]
    rules = f"{server.url}/api/v2.0/projects/rel/immutabletagrules"
    r = requests.post(
        rules,
        json={
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
            "scope_selectors": {
                "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
            },
        },
        auth=ADMIN,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    rule_id = r.headers["Location"].rsplit("/", 1)[1]
    first = make_image(tmp_path / "first", "v1", layers=2)
    second = make_image(tmp_path / "second", "v1", layers=2)
    target = f"docker://{registry}/rel/app:v1"

    def copy(src: str, dest: str) -> None:
        run(
            ["skopeo", "copy", *NO_TLS, "--src-creds", CREDS, "--dest-creds", CREDS, src, dest],
            env=client_env,
        )

    copy(f"oci:{first.path}:v1", target)  # a new tag: allowed
    with pytest.raises(CommandFailed) as refused:
        copy(f"oci:{second.path}:v1", target)
    assert "denied" in str(refused.value).lower()
    assert f"immutable rule {rule_id}" in str(refused.value)
    # the tag still holds the first image
    out = Layout(tmp_path / "out")
    copy(target, f"oci:{out.path}:v1")
    assert out.descriptor("v1")["digest"] == first.descriptor("v1")["digest"]
    copy(f"oci:{second.path}:v1", f"docker://{registry}/rel/app:v2")  # another new tag
    with pytest.raises(CommandFailed):
        run(["skopeo", "delete", "--tls-verify=false", "--creds", CREDS, target], env=client_env)
    # disabled: the tag moves
    r = requests.put(
        f"{rules}/{rule_id}", json={"id": int(rule_id), "disabled": True}, auth=ADMIN, timeout=30
    )
    assert r.status_code == 200
    copy(f"oci:{second.path}:v1", target)
    moved = Layout(tmp_path / "moved")
    copy(target, f"oci:{moved.path}:v1")
    assert moved.descriptor("v1")["digest"] == second.descriptor("v1")["digest"]
