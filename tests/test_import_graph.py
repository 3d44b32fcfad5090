"""No import cycle in the package, deferred imports included: a cycle means one module holds two concepts.

The graph is read from the source (every ``import`` statement, at module level or inside a function),
so an import hidden in a function body counts as much as one at the top. Imports under
``if TYPE_CHECKING:`` are left out: they never run. The package root is left out too: its exports are
loaded lazily by name, and modules import only ``__version__`` from it.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import qmcontract

PACKAGE = Path(qmcontract.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.AST, package: str) -> set[str]:
    """Every module an import statement names (``from a import b`` names ``a`` and ``a.b``)."""
    found: set[str] = set()
    skipped = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _is_type_checking(node)
        for body in node.body
        for child in ast.walk(body)
    }
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (the package root excluded)."""
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported = _imported(ast.parse(path.read_text(encoding="utf-8")), package)
        graph[name] = {other for other in imported if other in paths and other not in (name, "qmcontract")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_the_package_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_deferred_cycle():
    source = "def late():\n    from qmcontract.b import x\n"
    assert "qmcontract.b" in _imported(ast.parse(source), "qmcontract")
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_sampler_sits_below_the_breakers_and_generate():
    graph = import_graph()
    assert "qmcontract.sampler" in graph["qmcontract.breakers"]
    assert "qmcontract.generate" not in graph["qmcontract.breakers"]
    assert not graph["qmcontract.sampler"] & {
        "qmcontract.breakers",
        "qmcontract.generate",
        "qmcontract.strategies",
    }
