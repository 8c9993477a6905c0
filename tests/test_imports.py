"""The import structure of `wharf.*`, read from the source with `ast` (nothing imported):

- no import cycle between modules, counting imports inside functions as well as at the
  top (a function-level import only postpones a cycle, it does not remove it);
- wharf.auth, wharf.storage and wharf.db never import wharf.registry.http or any module
  that imports aiohttp.web (nor aiohttp.web themselves): they sit below the HTTP layer;
- no module imports another module's private (`_name`) names, or reaches them as
  attributes of an imported module.

Imports under `if TYPE_CHECKING:` never run and are left out.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOWER_LAYERS = ("wharf.auth", "wharf.storage", "wharf.db")
HTTP_LAYER = "wharf.registry.http"


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    imports: set[str] = field(default_factory=set)  # wharf modules imported
    uses_web: bool = False  # imports aiohttp.web
    private_uses: list[str] = field(default_factory=list)  # "line: what"


def _package_dirs() -> dict[str, Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return {package: ROOT / folder for package, folder in mapping.items()}


def _discover() -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for package, folder in _package_dirs().items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join([package, *parts])
            modules[name] = Module(name, path, is_package)
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:` (their `else:` does run)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base.pop()
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _analyse(module: Module, modules: dict[str, Module]) -> None:
    tree = ast.parse(module.path.read_text(), str(module.path))
    aliases: dict[str, str] = {}  # local name -> wharf module it is bound to
    nodes = list(_runtime_nodes(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "aiohttp.web" or alias.name.startswith("aiohttp.web."):
                    module.uses_web = True
                if alias.name in modules:
                    module.imports.add(alias.name)
                    if alias.asname:
                        aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            if source == "aiohttp" and any(a.name == "web" for a in node.names):
                module.uses_web = True
            if source.startswith("aiohttp.web"):
                module.uses_web = True
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in modules:
                    module.imports.add(submodule)
                    aliases[alias.asname or alias.name] = submodule
                elif source in modules:
                    module.imports.add(source)
                    if _private(alias.name) and source != module.name:
                        module.private_uses.append(
                            f"line {node.lineno}: from {source} import {alias.name}"
                        )
    for node in nodes:
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and _private(node.attr)
        ):
            module.private_uses.append(
                f"line {node.lineno}: {aliases[node.value.id]}.{node.attr} (as {node.value.id})"
            )
    module.imports.discard(module.name)


@cache
def graph() -> dict[str, Module]:
    modules = _discover()
    for module in modules.values():
        _analyse(module, modules)
    return modules


def _reachable(modules: dict[str, Module], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(modules[start].imports)
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(modules[current].imports)
    return seen


def import_cycles(modules: dict[str, Module]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module reaching
    itself), each sorted."""
    reach = {name: _reachable(modules, name) for name in modules}
    cycles: list[list[str]] = []
    done: set[str] = set()
    for name in sorted(modules):
        if name in done or name not in reach[name]:
            continue
        component = sorted(other for other in reach[name] if name in reach[other])
        done.update(component)
        cycles.append(component)
    return cycles


def test_the_graph_sees_every_package() -> None:
    modules = graph()
    for package in _package_dirs():
        assert package in modules, package
    assert len(modules) > 40
    # and it sees imports: the app is assembled from the layers below it
    app = modules["wharf.registry.http.app"]
    assert app.uses_web
    assert {"wharf.registry.config", "wharf.auth.service"} <= app.imports


def test_no_import_cycles() -> None:
    cycles = import_cycles(graph())
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checker_itself(tmp_path: Path) -> None:
    """A cycle closed by a function-level import counts, TYPE_CHECKING imports do not, and
    private names are caught whether imported or reached through a module alias."""
    sources = {
        "__init__": "",
        "a": "def f() -> None:\n    from wharf.x import b\n",
        "b": "from wharf.x.a import _hidden\nfrom .a import f\n",
        "c": "import wharf.x.a as alias\n\nalias._secret()\n",
        "d": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from wharf.x import c\n",
    }
    modules: dict[str, Module] = {}
    for stem, text in sources.items():
        path = tmp_path / f"{stem}.py"
        path.write_text(text)
        name = "wharf.x" if stem == "__init__" else f"wharf.x.{stem}"
        modules[name] = Module(name, path, stem == "__init__")
    for module in modules.values():
        _analyse(module, modules)
    assert import_cycles(modules) == [["wharf.x.a", "wharf.x.b"]]
    assert [u.split(": ", 1)[1] for u in modules["wharf.x.b"].private_uses] == [
        "from wharf.x.a import _hidden"
    ]
    assert [u.split(": ", 1)[1] for u in modules["wharf.x.c"].private_uses] == [
        "wharf.x.a._secret (as alias)"
    ]
    assert modules["wharf.x.d"].imports == set()


@pytest.mark.parametrize("layer", LOWER_LAYERS)
def test_lower_layers_stay_below_http(layer: str) -> None:
    modules = graph()
    web = {name for name, m in modules.items() if m.uses_web}
    breaks = []
    for name, module in sorted(modules.items()):
        if not (name == layer or name.startswith(layer + ".")):
            continue
        if module.uses_web:
            breaks.append(f"{name} imports aiohttp.web")
        for target in sorted(module.imports):
            if target == HTTP_LAYER or target.startswith(HTTP_LAYER + "."):
                breaks.append(f"{name} -> {target} (the HTTP layer)")
            elif target in web:
                breaks.append(f"{name} -> {target} (imports aiohttp.web)")
    assert not breaks, "\n".join(breaks)


def test_no_private_names_across_modules() -> None:
    found = [
        f"{name} ({module.path.relative_to(ROOT)}) {use}"
        for name, module in sorted(graph().items())
        for use in module.private_uses
    ]
    assert not found, "\n".join(found)
