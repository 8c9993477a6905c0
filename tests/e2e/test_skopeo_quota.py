"""skopeo pushing into a project with a storage quota, against a `wharf serve` process with
access control: an image that fits goes in, the next one is refused with the registry's
403 DENIED naming the quota (skopeo shows it), nothing partial is left, and once the
limit is raised through Harbor's API the same push goes through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import Server, run_wharf

from .clients import CommandFailed, make_image, run

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ADMIN_PASSWORD = "Quota-E2e-Admin-1"
ADMIN = ("admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def quota_wharf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("wharf-quota-e2e") / "data"
    env = {"WHARF_ADMIN_PASSWORD": ADMIN_PASSWORD}
    with run_wharf(data, workers=2, auth=True, env=env) as server:
        yield server
        log = server.log()
        assert '"level":"error"' not in log, log[-3000:]


def push(env: dict[str, str], src: Path, target: str) -> None:
    run(
        [
            "skopeo",
            "copy",
            "--retry-times=0",
            "--dest-tls-verify=false",
            "--dest-creds",
            f"admin:{ADMIN_PASSWORD}",
            f"oci:{src}:v1",
            target,
        ],
        env=env,
    )


def test_skopeo_push_refused_by_the_quota(
    tmp_path: Path, quota_wharf: Server, client_env: dict[str, str]
) -> None:
    api = f"{quota_wharf.url}/api/v2.0"
    registry = quota_wharf.url.split("://", 1)[1]
    first = make_image(tmp_path / "first", "v1", layers=2)
    second = make_image(tmp_path / "second", "v1", layers=2)
    first_size = sum(p.stat().st_size for p in (first.path / "blobs").rglob("*") if p.is_file())
    # room for the first image (its blobs and manifest, less the index), not for both
    limit = first_size + 1024
    r = requests.post(
        f"{api}/projects",
        json={"project_name": "capped", "storage_limit": limit},
        auth=ADMIN,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    push(client_env, first.path, f"docker://{registry}/capped/app:v1")
    pid = requests.get(f"{api}/projects/capped", auth=ADMIN, timeout=30).json()["project_id"]
    used = requests.get(f"{api}/quotas/{pid}", auth=ADMIN, timeout=30).json()["used"]["storage"]
    assert 0 < used <= limit

    with pytest.raises(CommandFailed) as failure:
        push(client_env, second.path, f"docker://{registry}/capped/app:v2")
    said = str(failure.value)
    assert "denied" in said.lower() and "quota exceeded: project capped" in said, said[-2000:]
    assert "storage quota of" in said and f"({limit} bytes)" in said
    tags = requests.get(f"{quota_wharf.url}/v2/capped/app/tags/list", auth=ADMIN, timeout=30)
    assert tags.json()["tags"] == ["v1"]  # no v2, not even partly
    after = requests.get(f"{api}/quotas/{pid}", auth=ADMIN, timeout=30).json()["used"]["storage"]
    assert used <= after <= limit  # layers that fitted may be in; never past the limit

    r = requests.put(
        f"{api}/quotas/{pid}", json={"hard": {"storage": 10 * limit}}, auth=ADMIN, timeout=30
    )
    assert r.status_code == 200, r.text
    push(client_env, second.path, f"docker://{registry}/capped/app:v2")
    tags = requests.get(f"{quota_wharf.url}/v2/capped/app/tags/list", auth=ADMIN, timeout=30)
    assert sorted(tags.json()["tags"]) == ["v1", "v2"]
