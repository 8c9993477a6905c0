"""docker push/pull through a private dockerd (Debian docker.io, vfs storage) against Wharf."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .clients import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    child_digest,
    make_image,
    make_index,
    run,
    sha256_digest,
    unique_repo,
)
from .conftest import Dockerd

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def load_local_image(tmp_path: Path, dockerd: Dockerd, name: str, layers: int = 2) -> str:
    """Build an image offline, docker-load it as `name`, return its image ID."""
    src = make_image(tmp_path / "src", "v1", layers=layers)
    archive = tmp_path / "image.tar"
    run(["skopeo", "copy", f"oci:{src.path}:v1", f"docker-archive:{archive}:{name}"])
    dockerd.docker("load", "-i", str(archive))
    return dockerd.docker("image", "inspect", "--format", "{{.Id}}", name).stdout.strip()


def pushed_digest(output: str) -> str:
    match = re.search(r"digest: (sha256:[0-9a-f]{64}) size: \d+", output)
    assert match, f"no digest in docker push output:\n{output}"
    return match.group(1)


def test_docker_push_pull(
    tmp_path: Path, dockerd: Dockerd, registry: str, client_env: dict[str, str]
) -> None:
    repo = unique_repo("docker")
    local = f"wharf-e2e-local/{repo.split('/')[-1]}:v1"
    target = f"{registry}/{repo}:v1"
    image_id = load_local_image(tmp_path, dockerd, local)
    diff_ids = json.loads(
        dockerd.docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", local).stdout
    )

    dockerd.docker("tag", local, target)
    push = dockerd.docker("push", target)
    digest = pushed_digest(push.stdout)

    # What Wharf stores is the schema2 manifest docker computed the digest of.
    raw = run(
        ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{target}"], env=client_env
    ).stdout.encode()
    assert sha256_digest(raw) == digest
    manifest = json.loads(raw)
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert manifest["config"]["digest"] == image_id
    assert len(manifest["layers"]) == 2

    dockerd.docker("rmi", target, local)
    missing = run([dockerd.cli, "image", "inspect", target], env=dockerd.env, check=False)
    assert missing.returncode != 0, "image still present after rmi"

    pull = dockerd.docker("pull", target)
    assert f"Digest: {digest}" in pull.stdout, pull.stdout
    fmt = "{{.Id}} {{json .RepoDigests}} {{json .RootFS.Layers}}"
    got_id, repo_digests, got_layers = (
        dockerd.docker("image", "inspect", "--format", fmt, target).stdout.strip().split(" ", 2)
    )
    assert got_id == image_id
    assert f"{registry}/{repo}@{digest}" in json.loads(repo_digests)
    assert json.loads(got_layers) == diff_ids

    # By digest, and the CLI's own registry client (docker manifest inspect).
    dockerd.docker("pull", f"{registry}/{repo}@{digest}")
    inspected = json.loads(dockerd.docker("manifest", "inspect", "--insecure", target).stdout)
    assert inspected["config"]["digest"] == image_id
    assert [layer["digest"] for layer in inspected["layers"]] == [
        layer["digest"] for layer in manifest["layers"]
    ]


def test_docker_push_mounts_across_repos(
    tmp_path: Path, dockerd: Dockerd, registry: str, client_env: dict[str, str]
) -> None:
    first, second = unique_repo("docker-a"), unique_repo("docker-b")
    local = f"wharf-e2e-local/{first.split('/')[-1]}:v1"
    load_local_image(tmp_path, dockerd, local)
    dockerd.docker("tag", local, f"{registry}/{first}:v1")
    dockerd.docker("tag", local, f"{registry}/{second}:v1")
    digest = pushed_digest(dockerd.docker("push", f"{registry}/{first}:v1").stdout)

    push = dockerd.docker("push", f"{registry}/{second}:v1")
    assert pushed_digest(push.stdout) == digest
    # dockerd remembers where it pushed each layer and mounts instead of uploading.
    assert push.stdout.count(f"Mounted from {first}") == 2, push.stdout


def test_docker_pull_multiarch_index(
    tmp_path: Path, dockerd: Dockerd, registry: str, client_env: dict[str, str]
) -> None:
    src, index_digest = make_index(tmp_path / "multi", "v1", ["amd64", "arm64"])
    _, index, _ = src.manifest(index_digest)
    amd64 = child_digest(index, "amd64")
    repo = unique_repo("docker-multi")
    run(
        [
            "skopeo",
            "copy",
            "--all",
            "--dest-tls-verify=false",
            f"oci:{src.path}:v1",
            f"docker://{registry}/{repo}:v1",
        ],
        env=client_env,
    )
    pull = dockerd.docker("pull", "--platform", "linux/amd64", f"{registry}/{repo}:v1")
    assert f"Digest: {index_digest}" in pull.stdout, pull.stdout
    got = dockerd.docker(
        "image", "inspect", "--format", "{{.Id}} {{.Architecture}}", f"{registry}/{repo}:v1"
    ).stdout.split()
    _, child, _ = src.manifest(amd64)
    assert got == [child["config"]["digest"], "amd64"]


def test_docker_manifest_create_push(
    tmp_path: Path, dockerd: Dockerd, registry: str, client_env: dict[str, str]
) -> None:
    """The docker CLI's own registry client: a manifest list over two images, pushed."""
    src, _ = make_index(tmp_path / "multi", "v1", ["amd64", "arm64"])
    parts = unique_repo("docker-parts")
    # The parts are pushed by dockerd itself: docker CLI 20.10's `manifest push` re-encodes
    # each child manifest in distribution's indented form, so parts pushed by other tools
    # (compact JSON) end up under new digests and the list PUT fails with MANIFEST_BLOB_UNKNOWN,
    # against the reference registry as well. CLI 28 pushes the bytes unchanged.
    for arch in ("amd64", "arm64"):
        archive = tmp_path / f"{arch}.tar"
        local = f"wharf-e2e-local/{parts.rsplit('/', 1)[-1]}:{arch}"
        run(["skopeo", "copy", f"oci:{src.path}:v1-{arch}", f"docker-archive:{archive}:{local}"])
        dockerd.docker("load", "-i", str(archive))
        dockerd.docker("tag", local, f"{registry}/{parts}:{arch}")
        dockerd.docker("push", f"{registry}/{parts}:{arch}")
    target = f"{registry}/{unique_repo('docker-list')}:v1"
    dockerd.docker(
        "manifest",
        "create",
        "--insecure",
        target,
        f"{registry}/{parts}:amd64",
        f"{registry}/{parts}:arm64",
    )
    push = dockerd.docker("manifest", "push", "--insecure", "--purge", target)
    digest = push.stdout.strip().splitlines()[-1]
    raw = run(
        ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{target}"], env=client_env
    ).stdout.encode()
    assert sha256_digest(raw) == digest
    listing = json.loads(raw)
    assert listing["mediaType"] == DOCKER_LIST
    assert sorted(c["platform"]["architecture"] for c in listing["manifests"]) == [
        "amd64",
        "arm64",
    ]
    inspected = json.loads(dockerd.docker("manifest", "inspect", "--insecure", target).stdout)
    assert len(inspected["manifests"]) == 2
    # dockerd pulls its platform's image through the list.
    pull = dockerd.docker("pull", "--platform", "linux/arm64", target)
    assert f"Digest: {digest}" in pull.stdout, pull.stdout
    arch = dockerd.docker("image", "inspect", "--format", "{{.Architecture}}", target).stdout
    assert arch.strip() == "arm64"
