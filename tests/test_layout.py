"""The layout the README and pyproject.toml describe is the layout on disk."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tracked_top_level_folders() -> set[str]:
    """Folders of the repository (what git tracks: no .venv, data, build output)."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.splitlines()
    return {f.split("/", 1)[0] for f in files if "/" in f and not f.startswith(".")}


def _layout_tree() -> list[str]:
    """The lines of the code block under README's `## Layout`."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    return block.splitlines()


def _readme_top_level_folders() -> set[str]:
    return {m.group(1) for line in _layout_tree() if (m := re.match(r"^([\w.-]+)/\s", line))}


def _readme_registry_packages() -> set[str]:
    """The folders the tree shows one level under registry/ (`  name/  what`)."""
    found: set[str] = set()
    inside = False
    for line in _layout_tree():
        if re.match(r"^[\w.-]+/", line):
            inside = line.startswith("registry/")
        elif inside and (m := re.match(r"^  ([\w.-]+)/\s", line)):
            found.add(m.group(1))
    return found


def _setuptools() -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    section: dict[str, object] = config["tool"]["setuptools"]
    return section


def _package_folders() -> set[str]:
    """Every folder with an __init__.py under the mapped folders, as a wharf package."""
    mapping = _setuptools()["package-dir"]
    assert isinstance(mapping, dict)
    found = set()
    for package, folder in mapping.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            parts = init.parent.relative_to(base).parts
            found.add(".".join([package, *parts]))
    return found


def test_readme_layout_shows_every_top_level_folder_and_no_other() -> None:
    assert _readme_top_level_folders() == _tracked_top_level_folders()


def test_readme_layout_shows_every_registry_package_and_no_other() -> None:
    on_disk = {p.parent.name for p in (ROOT / "registry").glob("*/__init__.py")}
    assert _readme_registry_packages() == on_disk


def test_readme_names_each_mapped_package() -> None:
    """Each folder of the package-dir mapping appears in the tree with its package name."""
    mapping = _setuptools()["package-dir"]
    assert isinstance(mapping, dict)
    tree = "\n".join(_layout_tree())
    for package, folder in mapping.items():
        assert re.search(rf"^{re.escape(folder)}/\s+{re.escape(package)}\b", tree, re.M), package


def test_setuptools_packages_are_the_package_folders() -> None:
    """A wheel holds exactly the packages on disk (an editable install would hide a gap)."""
    listed = _setuptools()["packages"]
    assert isinstance(listed, list)
    assert set(listed) == _package_folders()
