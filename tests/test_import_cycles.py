"""The import graph of the four packages: no cycle, and the dependency direction of DESIGN.md.

Every module of ``models``, ``circuits``, ``mapping`` and ``analysis`` is parsed with
:mod:`ast` (nothing is imported). Every import that can run counts: at module level and
inside functions (a deferred import is a cycle all the same). Imports under
``if TYPE_CHECKING:`` never run (annotations only, the standard way to name a type without
importing its module) and do not count for cycles; they still count for the dependency
direction. ``from X import Y`` is an edge to ``X.Y`` when that is a module, else to ``X``;
relative imports are resolved against the importing module.

Rules (DESIGN.md, "Dependency direction"):

- no cycle among the modules;
- ``models`` imports none of ``circuits``, ``mapping``, ``analysis`` (nor Brian2);
- ``circuits`` and ``analysis`` never import ``mapping``; ``analysis`` never imports
  ``circuits`` or Brian2; nothing outside ``mapping`` imports ``mapping``;
- no module of ``mapping/experiments`` imports another module of ``mapping/experiments``
  (shared helpers live in library modules such as ``mapping/measures.py`` or ``models/``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "circuits", "mapping", "analysis")
EXPERIMENTS = "mapping.experiments"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    """Module name -> file, for every ``.py`` file of the four packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(name: str) -> str | None:
    """The longest prefix of dotted ``name`` that is one of our modules (None: external)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """Ids of the nodes inside ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``) blocks."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and (
                (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
                or (isinstance(node.test, ast.Attribute)
                    and node.test.attr == "TYPE_CHECKING")):
            for statement in node.body:
                inside.update(id(child) for child in ast.walk(statement))
    return inside


def _imports(module: str, *, type_checking: bool = True) -> tuple[set[str], set[str]]:
    """``(our modules, external top-level names)`` that ``module`` imports anywhere.

    ``type_checking=False`` leaves out the imports under ``if TYPE_CHECKING:``.
    """
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    skip = set() if type_checking else _type_checking_nodes(tree)
    internal: set[str] = set()
    external: set[str] = set()
    package = module if _is_package(module) else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from .x import y / from .. import y
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            targets = []
            for alias in node.names:
                sub = f"{prefix}.{alias.name}"
                targets.append(sub if sub in MODULES else prefix)
        else:
            continue
        for target in targets:
            resolved = _resolve(target)
            if resolved is not None:
                if resolved != module:
                    internal.add(resolved)
            elif target.split(".")[0] not in PACKAGES:
                external.add(target.split(".")[0])
    return internal, external


GRAPH: dict[str, set[str]] = {}
EXTERNAL: dict[str, set[str]] = {}
RUNTIME: dict[str, set[str]] = {}  # the imports that can run (for cycles)
for _name in MODULES:
    GRAPH[_name], EXTERNAL[_name] = _imports(_name)
    RUNTIME[_name] = _imports(_name, type_checking=False)[0]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if state.get(root):
            continue
        path = [root]
        stack = [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(child) == 1:
                return [*path[path.index(child):], child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append(iter(sorted(graph.get(child, ()))))
    return None


def _top(name: str) -> str:
    return name.split(".")[0]


def test_the_graph_sees_every_kind_of_import():
    assert len(MODULES) > 40
    assert "mapping.runner" in GRAPH["mapping.cli"]  # module level
    assert "mapping.runner" in GRAPH["mapping.sweep"]  # inside a function
    assert "models.intersection_binary" in GRAPH["models.pattern_sdm"]  # from X import name
    assert "brian2" in EXTERNAL["circuits.cerebellum.protocol"]


def test_type_checking_imports_do_not_count_for_cycles_but_deferred_ones_do():
    # circuits.cerebellum.derived names CerebellumParams for annotations only
    assert "circuits.cerebellum.params" in GRAPH["circuits.cerebellum.derived"]
    assert "circuits.cerebellum.params" not in RUNTIME["circuits.cerebellum.derived"]
    assert "mapping.runner" in RUNTIME["mapping.sweep"]  # inside a function: it can run


def test_find_cycle_reports_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycle():
    cycle = find_cycle(RUNTIME)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


FORBIDDEN = {
    "models": {"circuits", "mapping", "analysis", "brian2"},
    "circuits": {"mapping"},
    "analysis": {"mapping", "circuits", "brian2"},
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependency_direction(package):
    bad = sorted(
        f"{module} imports {target}"
        for module in GRAPH if _top(module) == package
        for target in {_top(t) for t in GRAPH[module]} | EXTERNAL[module]
        if target in FORBIDDEN[package]
    )
    assert not bad, f"{package} breaks the dependency direction:\n" + "\n".join(bad)


def test_nothing_outside_mapping_imports_mapping():
    bad = sorted(f"{module} imports {target}" for module in GRAPH if _top(module) != "mapping"
                 for target in GRAPH[module] if _top(target) == "mapping")
    assert not bad, "\n".join(bad)


def test_experiment_modules_do_not_import_each_other():
    def in_experiments(name: str) -> bool:
        return name == EXPERIMENTS or name.startswith(EXPERIMENTS + ".")

    bad = sorted(f"{module} imports {target}"
                 for module in GRAPH if module.startswith(EXPERIMENTS + ".")
                 for target in GRAPH[module] if in_experiments(target))
    assert not bad, ("experiment modules share helpers through library modules "
                     "(mapping/*.py, models/), not each other:\n" + "\n".join(bad))
