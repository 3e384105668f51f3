"""Imports flow one way through the pipeline's stages, as docs/architecture.md draws them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "heliograph"

# A stage may import its own rank or earlier ones. The receiver, the far end of the wire,
# sees only the model and the foundations.
RANKS = {
    "_version": 0, "errors": 0, "config": 0, "_ratelimit": 0,
    "model": 1, "privacy": 2, "capture": 3, "spool": 4, "delivery": 5, "transports": 6,
    "receiver": 7, "pipeline": 8, "agent": 8, "relay": 8, "logger": 9, "__init__": 10, "cli": 11,
    "__main__": 11,
}  # fmt: skip
RECEIVER_MAY_IMPORT = {"_version", "errors", "config", "model", "receiver"}


def stage_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(p for p in relative.parts if p != "__init__") or "heliograph"


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "heliograph" or name.startswith("heliograph.")}


FILES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_its_own_or_earlier_stages(path: Path) -> None:
    name = module_name(path)
    stage = "__init__" if path == PACKAGE / "__init__.py" else stage_of(name)
    assert stage in RANKS, f"{name}: add its stage to RANKS and docs/architecture.md"
    for imported in imports_of(path):
        target = stage_of(imported)
        assert RANKS[target] <= RANKS[stage], f"{name} imports later stage {imported}"
        if stage == "receiver":
            assert target in RECEIVER_MAY_IMPORT, f"receiver must not import {imported}"
