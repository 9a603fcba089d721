"""The house's floors: an import only ever points down, and a service never imports another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOORS = {"shared": 0, "servicekit": 1, "services": 2, "actiepunten": 3, "devtools": 3}
"""What may import what: a package imports only from its own floor and those below; the
command line (actiepunten) and the local tooling (devtools) stand on top."""


def _imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", ["shared", "servicekit", "services"])
def test_imports_point_down(package: str) -> None:
    upward = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules(package)
        for name in _imports(path)
        if name.split(".")[0] in FLOORS and FLOORS[name.split(".")[0]] > FLOORS[package]
    ]
    assert upward == []


def test_services_never_import_each_other() -> None:
    crossing = []
    for path in _modules("services"):
        parts = path.relative_to(ROOT / "services").parts
        if len(parts) < 2:
            continue
        own = parts[0]
        for name in _imports(path):
            words = name.split(".")
            if words[0] == "services" and len(words) > 1 and words[1] != own:
                crossing.append(f"{path.relative_to(ROOT)} imports {name}")
    assert crossing == []
