"""Imports run one way (ARCHITECTURE.md): bot -> rules -> feeds.models, bot -> feeds."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "rules": {"httpx", "feedparser", "telegram", "sqlalchemy", "aiosqlite", "asyncpg", "bot"},
    "feeds": {"telegram", "sqlalchemy", "aiosqlite", "asyncpg", "bot", "rules"},
}
# rules/ may use feeds' plain data only, never its I/O or extraction.
ALLOWED_FEEDS_MODULES_IN_RULES = {"feeds.models", "feeds"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_stay_one_way(package: str) -> None:
    offences = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in FORBIDDEN[package]:
                offences.append(f"{path.relative_to(ROOT)} imports {name}")
            if package == "rules" and top == "feeds" and name not in ALLOWED_FEEDS_MODULES_IN_RULES:
                offences.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offences == []
