"""The dependency rule, checked on the source: cli -> adapters -> domain, never back.

The domain may use the standard library, attrs and eventsourcing; infrastructure modules
(databases, CLI frameworks, serialisers, crypto) belong in adapters.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "domain": {
        "adapters",
        "cli",
        "click",
        "sqlite3",
        "psycopg",
        "psycopg_pool",
        "orjson",
        "cryptography",
        "Crypto",
        "subprocess",
        "socket",
        "eventsourcing.sqlite",
        "eventsourcing.postgres",
    },
    "adapters": {"cli", "click"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def violations(package: str) -> list[str]:
    banned = FORBIDDEN[package]
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for module in imported_modules(path):
            if any(module == b or module.startswith(b + ".") for b in banned):
                bad.append(f"{path.relative_to(ROOT)} imports {module}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layering(package: str) -> None:
    assert (ROOT / package).is_dir()
    assert violations(package) == []


def test_the_check_detects_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import adapters.keys\nfrom cli.main import main\n", encoding="utf-8")
    assert imported_modules(sample) == {"adapters.keys", "cli.main"}
