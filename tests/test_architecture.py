"""The package's shape: imports flow one way, and each module stays small.

``docs/internals.rst`` draws the layers :data:`LAYERS` holds. A module may
import modules of its own layer or of layers below it, never above; the
imports between modules never form a cycle; a module imports the package's
modules at its top, where a reader sees them. Imports made only for type
checking (under ``if TYPE_CHECKING:``) never run, and are left out.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import turbo

PACKAGE = Path(turbo.__file__).parent

#: The package's modules by layer, top first, as docs/internals.rst lists them.
LAYERS: list[set[str]] = [
    # What Django, ASGI servers and pytest load: the app, tags, routes, responses, the socket.
    {
        "turbo",
        "turbo.apps",
        "turbo.checks",
        "turbo.consumers",
        "turbo.following",
        "turbo.http",
        "turbo.middleware",
        "turbo.pytest_plugin",
        "turbo.routing",
        "turbo.shortcuts",
        "turbo.templatetags",
        "turbo.templatetags.turbo_streams",
        "turbo.testing",
    },
    # Streams: what users subclass, their hooks and tokens, and the registry.
    {
        "turbo.components",
        "turbo.declarative",
        "turbo.hook_calls",
        "turbo.hooks",
        "turbo.identity",
        "turbo.later",
        "turbo.model_streams",
        "turbo.options",
        "turbo.revocation",
        "turbo.registry",
        "turbo.signing",
        "turbo.stream_actions",
        "turbo.streams",
        "turbo.tasks",
    },
    # Broadcasting: fragments to one send per stream, after the commit.
    {
        "turbo.batches",
        "turbo.broadcast",
        "turbo.capture",
        "turbo.debouncing",
        "turbo.errors",
        "turbo.identity_groups",
        "turbo.refreshes",
        "turbo.sending",
        "turbo.suppression",
        "turbo.transactions",
    },
    # Markup: <turbo-stream> elements.
    {"turbo.fragments", "turbo.markup", "turbo.positional", "turbo.raw_markup"},
    # The socket's parts.
    {
        "turbo.flow",
        "turbo.outbox",
        "turbo.page_sessions",
        "turbo.replay",
        "turbo.sessions",
    },
    # Fan-out: one layer subscription per stream per process.
    {"turbo.hub", "turbo.watch"},
    # The stream history.
    {
        "turbo.history",
        "turbo.history.entries",
        "turbo.history.layers",
        "turbo.history.marks",
        "turbo.history.memory",
        "turbo.history.placeholders",
        "turbo.history.positions",
        "turbo.history.reads",
        "turbo.history.redis",
        "turbo.history.watching",
    },
    # Foundations.
    {"turbo.compat", "turbo.conf", "turbo.hints", "turbo.limits", "turbo.loops"},
]

#: Modules that import the package inside a function, and why they must.
NESTED_IMPORTS_ALLOWED = {
    # Django imports the app config before models are ready; the checks and
    # hooks reach django.contrib.auth's models, so ready() imports them.
    "turbo.apps",
    # pytest loads plugins before Django's settings are configured.
    "turbo.pytest_plugin",
}

#: Past this, a module holds more than one concern.
MAX_LINES = 350


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(node: ast.Import | ast.ImportFrom) -> set[str]:
    """The package's modules ``node`` imports (the package imports absolutely)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        submodules = [f"{node.module}.{alias.name}" for alias in node.names]
        names = [name for name in submodules if name in MODULES] or [node.module or ""]
    return {name for name in names if name in MODULES}


def imports(module: str, *, nested: bool) -> dict[str, int]:
    """The modules ``module`` imports at run time, by the line of the import.

    With ``nested``, only the imports made inside functions.
    """
    found: dict[str, int] = {}

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child, in_function)
            return
        if isinstance(node, ast.Import | ast.ImportFrom) and (in_function or not nested):
            found.update(dict.fromkeys(imported(node) - {module}, node.lineno))
        in_function = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, in_function)

    visit(ast.parse(MODULES[module].read_text()), in_function=False)
    return found


def layer_of(module: str) -> int:
    for index, layer in enumerate(LAYERS):
        if module in layer:
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/internals.rst")


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)
    listed = set().union(*LAYERS)
    assert listed <= set(MODULES), f"LAYERS lists modules that are gone: {listed - set(MODULES)}"


def test_imports_form_no_cycle():
    graph = {module: set(imports(module, nested=False)) for module in MODULES}
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_the_internals_page_lists_every_module_in_its_layer():
    page = (PACKAGE.parent / "docs" / "internals.rst").read_text()
    listed = re.findall(r"^    - ``(turbo[\w.]*)`` — ", page, flags=re.MULTILINE)
    expected = [module for layer in LAYERS for module in sorted(layer)]
    assert sorted(listed) == sorted(expected), "docs/internals.rst and LAYERS disagree"
    sections = [layer_of(module) for module in listed]
    assert sections == sorted(sections), "docs/internals.rst lists the layers out of order"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_no_higher_layer(module):
    upward = {
        name: line
        for name, line in imports(module, nested=False).items()
        if layer_of(name) < layer_of(module)
    }
    assert not upward, f"{module} imports modules of a higher layer (at these lines): {upward}"


@pytest.mark.parametrize("module", sorted(set(MODULES) - NESTED_IMPORTS_ALLOWED))
def test_a_module_imports_the_package_at_its_top(module):
    nested = imports(module, nested=True)
    assert not nested, f"{module} imports inside a function, out of a reader's sight: {nested}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_stays_small(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines: split it by concern"


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
