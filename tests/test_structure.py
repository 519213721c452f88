"""The package's shape: no import cycle anywhere in forecaster/ (imports inside functions
count too: a lazy import is still a dependency), and modules and functions of a readable size."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "forecaster"
MAX_MODULE_LINES = 500  # no module may grow past this again


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the forecaster modules it imports (at any depth of its code)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            deps |= {t for t in targets if t in modules and t != name}
        # `from forecaster import artifacts` names a module; `import forecaster` alone is
        # the lazy namespace, whose exports are resolved on use and not a dependency
        deps.discard("forecaster")
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle_in_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_runtime_and_the_fit_loops_depend_one_way():
    graph = import_graph()
    assert "forecaster.training.loops" not in graph["forecaster.training.distributed"]
    assert "forecaster.training.distributed" in graph["forecaster.training.loops"]
    for loop in ("forecaster.training.loops", "forecaster.training.distributed"):
        assert {"forecaster.training.runtime", "forecaster.training.fit_common"} <= graph[loop]
    assert graph["forecaster.training.runtime"] <= {"forecaster.errors"}


def test_no_module_is_oversized():
    sizes = {_module_name(p): len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.rglob("*.py")}
    big = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not big, big


MAX_FUNCTION_LINES = 80


def test_no_function_is_overlong():
    long = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{_module_name(path)}.{node.name}"] = lines
    assert not long, long


def test_the_readme_layout_names_every_module():
    """The README's layout table and the tree say the same: every module of the package
    is named under its package's row, and every package has a row."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("Layout (`forecaster/`"):]
    layout = layout[:layout.index("Beside the package:")]
    rows = {}
    for line in layout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].startswith("`"):
            rows[cells[1].strip("`").rstrip("/")] = cells[2]
        elif len(cells) == 3 and cells[1] == "root":
            rows[""] = rows.get("", "") + cells[2]
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        package = "/".join(rel.parts[:-1])
        if package not in rows:
            missing.append(f"package {package}/ has no row")
        elif rel.name != "__init__.py" or not package:
            if f"`{rel.name}`" not in rows[package]:
                missing.append(str(rel))
    assert not missing, missing
