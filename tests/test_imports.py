"""The package's modules import each other one way: no cycles, the registry at the bottom."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import turbo

PACKAGE = Path(turbo.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported_at_run_time(path: Path) -> set[str]:
    """The turbo modules ``path`` imports at its top level, outside ``if TYPE_CHECKING``."""
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body + node.orelse + node.finalbody)
                for handler in node.handlers:
                    visit(handler.body)

    visit(ast.parse(path.read_text()).body)
    return found & set(MODULES) - {"turbo", module_name(path)}


GRAPH = {name: imported_at_run_time(path) for name, path in MODULES.items()}


def test_no_module_imports_one_that_imports_it_back():
    def reaches(start: str, goal: str, seen: set[str]) -> list[str] | None:
        for imported in sorted(GRAPH[start] - seen):
            if imported == goal:
                return [start, goal]
            seen.add(imported)
            path = reaches(imported, goal, seen)
            if path is not None:
                return [start, *path]
        return None

    cycles = [path for name in GRAPH if (path := reaches(name, name, set())) is not None]
    assert cycles == []


def test_the_registry_imports_no_stream_module():
    assert GRAPH["turbo.registry"] == set()


def test_the_package_imports_before_settings_are_configured():
    """A pytest plugin or a settings module imports turbo first: nothing may read settings."""
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = "import turbo, turbo.later, turbo.http, turbo.fragments; print(turbo.Stream)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PACKAGE.parent,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "turbo.streams.Stream" in result.stdout
