"""Rules the backend's source keeps, checked on its syntax trees (function-level imports included)."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

from xclab.catalog import METHODS, TASKS

ROOT = Path(__file__).resolve().parents[2]
BACKEND = sorted((ROOT / "backend").rglob("*.py"))
MAX_LINES = 300


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def imported_modules(tree: ast.Module) -> set[str]:
    """Every module a file imports, wherever the import statement sits."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(str(node.args[0].value))
    return found


def _violations(check: Callable[[Path], object]) -> dict[str, object]:
    """{file: what check found} over every backend module, for files where it found something."""
    found = {_name(path): check(path) for path in BACKEND}
    return {name: what for name, what in found.items() if what}


def test_backend_imports_neither_migrations_nor_its_peers() -> None:
    """migrations -> backend only (no cycle); worker and dashboard meet the backend through the REST API."""

    def peers(path: Path) -> set[str]:
        imported = imported_modules(_tree(path))
        return {m for m in imported if m.split(".")[0] in {"migrations", "worker", "dashboard"}}

    assert _violations(peers) == {}


def test_migrations_take_their_metadata_from_the_backend() -> None:
    assert "backend.models" in imported_modules(_tree(ROOT / "migrations" / "env.py"))


def test_only_the_unit_of_work_commits_or_rolls_back() -> None:
    def commits(path: Path) -> list[int]:
        if path.name == "unit_of_work.py":
            return []
        return [
            node.lineno
            for node in ast.walk(_tree(path))
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"commit", "rollback"}
        ]

    assert _violations(commits) == {}, "see backend/unit_of_work.py"


def test_no_assert_statements() -> None:
    """`python -O` drops asserts: checks of client input must raise on their own."""
    assert (
        _violations(lambda path: [n.lineno for n in ast.walk(_tree(path)) if isinstance(n, ast.Assert)]) == {}
    )


def test_method_and_task_names_live_in_the_vocabulary_only() -> None:
    """Code asks the catalog's capability flags, so a new method or task needs no backend change."""
    names = set(METHODS) | set(TASKS)

    def literals(path: Path) -> list[tuple[int, str]]:
        if path.name == "vocabulary.py":
            return []
        return [
            (node.lineno, node.value)
            for node in ast.walk(_tree(path))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names
        ]

    assert _violations(literals) == {}


def test_modules_stay_small() -> None:
    assert _violations(lambda path: max(0, len(path.read_text().splitlines()) - MAX_LINES)) == {}
