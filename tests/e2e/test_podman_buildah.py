"""podman and buildah (root, vfs storage, plain http) against Wharf."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from .clients import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    Layout,
    child_digest,
    make_image,
    make_index,
    run,
    sha256_digest,
    unique_repo,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture
def podman(
    podman_storage: list[str], client_env: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    base = ["podman", *podman_storage, "--cgroup-manager", "cgroupfs"]
    return [*base, "--events-backend", "file"], client_env


@pytest.fixture
def buildah(
    buildah_storage: list[str], client_env: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    return ["buildah", *buildah_storage], client_env


def remote_raw(client_env: dict[str, str], ref: str) -> bytes:
    cmd = ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{ref}"]
    return run(cmd, env=client_env).stdout.encode()


def test_podman_push_pull(
    tmp_path: Path, podman: tuple[list[str], dict[str, str]], registry: str
) -> None:
    cmd, env = podman
    src = make_image(tmp_path / "src", "v1", layers=2)
    image_id = run([*cmd, "pull", "-q", f"oci:{src.path}:v1"], env=env).stdout.split()[-1]
    image_id = image_id.removeprefix("sha256:")
    repo = unique_repo("podman")
    target = f"{registry}/{repo}:v1"
    run([*cmd, "tag", image_id, target], env=env)

    digest_file = tmp_path / "digest"
    run([*cmd, "push", "--tls-verify=false", "--digestfile", str(digest_file), target], env=env)
    digest = digest_file.read_text().strip()
    raw = remote_raw(env, target)
    assert sha256_digest(raw) == digest
    assert json.loads(raw)["config"]["digest"] == f"sha256:{image_id}"

    run([*cmd, "rmi", "-f", image_id], env=env)
    gone = run([*cmd, "image", "exists", target], env=env, check=False)
    assert gone.returncode == 1, gone.stderr

    run([*cmd, "pull", "--tls-verify=false", target], env=env)
    fmt = "{{.Id}} {{.Digest}}"
    got = run([*cmd, "image", "inspect", "--format", fmt, target], env=env).stdout.split()
    assert got == [image_id, digest]
    run([*cmd, "pull", "--tls-verify=false", f"{registry}/{repo}@{digest}"], env=env)


def test_podman_pull_index_by_arch(
    tmp_path: Path, podman: tuple[list[str], dict[str, str]], registry: str
) -> None:
    cmd, env = podman
    src, index_digest = make_index(tmp_path / "multi", "v1", ["amd64", "arm64"])
    _, index, _ = src.manifest(index_digest)
    repo = unique_repo("podman-multi")
    run(
        [
            "skopeo",
            "copy",
            "--all",
            "--dest-tls-verify=false",
            f"oci:{src.path}:v1",
            f"docker://{registry}/{repo}:v1",
        ],
        env=env,
    )
    for arch in ("arm64", "amd64"):
        child = child_digest(index, arch)
        config = src.manifest(child)[1]["config"]["digest"]
        run(
            [*cmd, "pull", "--tls-verify=false", "--arch", arch, f"{registry}/{repo}:v1"],
            env=env,
        )
        got = run(
            [*cmd, "image", "inspect", "--format", "{{.Id}} {{.Architecture}}", config], env=env
        ).stdout.split()
        assert got == [config.removeprefix("sha256:"), arch]


def test_buildah_build_push_pull(
    tmp_path: Path, buildah: tuple[list[str], dict[str, str]], registry: str
) -> None:
    cmd, env = buildah
    payload = tmp_path / "hello.txt"
    payload.write_bytes(b"hello from buildah\n" + bytes(range(256)) * 64)
    container = run([*cmd, "from", "scratch"], env=env).stdout.strip()
    try:
        run([*cmd, "copy", container, str(payload), "/hello.txt"], env=env)
        run([*cmd, "config", "--cmd", "/hello.txt", "--label", "wharf.e2e=1", container], env=env)
        image_id = run([*cmd, "commit", "-q", container, "wharf-e2e-built"], env=env).stdout
    finally:
        run([*cmd, "rm", container], env=env, check=False)
    image_id = image_id.strip()
    repo = unique_repo("buildah")
    target = f"{registry}/{repo}:v1"
    digest_file = tmp_path / "digest"
    run(
        [
            *cmd,
            "push",
            "--tls-verify=false",
            "--digestfile",
            str(digest_file),
            "wharf-e2e-built",
            f"docker://{target}",
        ],
        env=env,
    )
    digest = digest_file.read_text().strip()
    assert sha256_digest(remote_raw(env, target)) == digest

    # Back out with skopeo: the single layer holds the file.
    out = Layout(tmp_path / "out")
    run(
        ["skopeo", "copy", "--src-tls-verify=false", f"docker://{target}", f"oci:{out.path}:v1"],
        env=env,
    )
    got_digest, manifest, _ = out.manifest("v1")
    assert got_digest == digest
    assert manifest["config"]["digest"] == f"sha256:{image_id}"
    (layer,) = manifest["layers"]
    with tarfile.open(fileobj=io.BytesIO(out.blob(layer["digest"]))) as tar:
        member = tar.extractfile("hello.txt")
        assert member is not None
        assert member.read() == payload.read_bytes()

    # And buildah pulls it into a fresh working container.
    run([*cmd, "rmi", "-f", "wharf-e2e-built"], env=env)
    pulled = run([*cmd, "from", "--tls-verify=false", target], env=env).stdout.strip()
    try:
        mount = run([*cmd, "mount", pulled], env=env).stdout.strip()
        assert (Path(mount) / "hello.txt").read_bytes() == payload.read_bytes()
    finally:
        run([*cmd, "umount", pulled], env=env, check=False)
        run([*cmd, "rm", pulled], env=env, check=False)


def test_podman_manifest_push_all_docker_list(
    tmp_path: Path, podman: tuple[list[str], dict[str, str]], registry: str
) -> None:
    """A local manifest list over two images on Wharf, pushed as a Docker manifest list."""
    cmd, env = podman
    src, index_digest = make_index(tmp_path / "multi", "v1", ["amd64", "arm64"])
    parts = unique_repo("podman-parts")
    for arch in ("amd64", "arm64"):
        run(
            [
                "skopeo",
                "copy",
                "--dest-tls-verify=false",
                f"oci:{src.path}:v1-{arch}",
                f"docker://{registry}/{parts}:{arch}",
            ],
            env=env,
        )
    name = f"wharf-e2e-list-{parts.rsplit('-', 1)[-1]}"
    run([*cmd, "manifest", "create", name], env=env)
    try:
        for arch in ("amd64", "arm64"):
            ref = f"docker://{registry}/{parts}:{arch}"
            run([*cmd, "manifest", "add", "--tls-verify=false", name, ref], env=env)
        target = f"{registry}/{unique_repo('podman-list')}:v1"
        digest_file = tmp_path / "digest"
        push = [*cmd, "manifest", "push", "--all", "--format", "v2s2", "--tls-verify=false"]
        run([*push, "--digestfile", str(digest_file), name, f"docker://{target}"], env=env)
    finally:
        run([*cmd, "manifest", "rm", name], env=env, check=False)

    raw = remote_raw(env, target)
    assert sha256_digest(raw) == digest_file.read_text().strip()
    listing = json.loads(raw)
    assert listing["mediaType"] == DOCKER_LIST
    assert sorted(c["platform"]["architecture"] for c in listing["manifests"]) == [
        "amd64",
        "arm64",
    ]
    repo = target.rsplit(":", 1)[0]
    for child in listing["manifests"]:
        assert child["mediaType"] == DOCKER_MANIFEST
        child_raw = remote_raw(env, f"{repo}@{child['digest']}")
        assert sha256_digest(child_raw) == child["digest"]
        assert json.loads(child_raw)["mediaType"] == DOCKER_MANIFEST
    # A client picks its platform out of the Docker list.
    out = Layout(tmp_path / "out")
    run(
        [
            "skopeo",
            "--override-arch",
            "arm64",
            "copy",
            "--src-tls-verify=false",
            f"docker://{target}",
            f"oci:{out.path}:v1",
        ],
        env=env,
    )
    arm64 = src.manifest(child_digest(src.manifest(index_digest)[1], "arm64"))[1]
    got = out.manifest("v1")[1]
    # The v2s2 conversion rewrites the config, the layers stay.
    assert [layer["digest"] for layer in got["layers"]] == [
        layer["digest"] for layer in arm64["layers"]
    ]
    assert json.loads(out.blob(got["config"]["digest"]))["architecture"] == "arm64"
