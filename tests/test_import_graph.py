"""The package graph of synth_assets has no cycle, so every layer can be read and changed from below.

Every module is parsed (not imported) and every import counts, including imports inside functions:
hiding an import in a function body defers it, it does not remove the dependency. Imports under
`if TYPE_CHECKING:` are left out: they never run, so they can neither make one layer load another
nor break an import half way, and a type named only in annotations (the strategies' `PipelineSpec`
hints) is a contract for the type checker, not a runtime dependency. A node is the first sub-package under synth_assets (`synth_assets.filters.apply` ->
`filters`); a top-level module is its own node (`synth_assets.spec` -> `spec`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import synth_assets

PACKAGE = "synth_assets"
ROOT = Path(synth_assets.__file__).parent
# Edges that still close a cycle, each with the change that removes it. Only an edge listed here is
# left out of the check, and a listed edge that no longer exists fails the test: the entry goes with it.
PENDING: dict[tuple[str, str], str] = {}


def _node(module: str) -> str | None:
    """The graph node of a dotted module name inside the package; None outside it or for the root."""
    parts = module.split(".")
    if parts[0] != PACKAGE or len(parts) < 2:
        return None
    return parts[1]


def _module_name(path: Path) -> str:
    """The dotted name a file is imported under."""
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    """Whether an `if` condition is `TYPE_CHECKING` (bare or as `typing.TYPE_CHECKING`)."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    """Every module an import statement names (absolute), with its line, outside TYPE_CHECKING blocks."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            found.append((base, node.lineno))
            # `from synth_assets import spec` names the module spec, not the package root
            found.extend((f"{base}.{alias.name}", node.lineno) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def package_graph() -> dict[str, dict[str, list[str]]]:
    """Node -> node -> the import sites (file:line) that make that edge."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        module = _module_name(path)
        source = _node(module)
        if source is None:
            continue
        graph.setdefault(source, {})
        tree = ast.parse(path.read_text(), filename=str(path))
        for imported, line in _imports(tree, module, path.name == "__init__.py"):
            target = _node(imported)
            if target is None or target == source:
                continue
            if not (ROOT / target).is_dir() and not (ROOT / f"{target}.py").exists():
                continue  # `from synth_assets.x import name`: the name, not a module
            site = f"{path.relative_to(ROOT.parent)}:{line}"
            sites = graph[source].setdefault(target, [])
            if site not in sites:
                sites.append(site)
    return graph


def _components(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan): every cycle lies inside one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            if component:
                found.append(sorted([node, *component]))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _cycle_in(graph: dict[str, dict[str, list[str]]], component: list[str]) -> list[str]:
    """One shortest cycle through the component's first node, as a node path that ends where it starts."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph.get(node, {})):
                if nxt == start:
                    return paths[node] + [start]
                if nxt in members and nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    raise AssertionError(f"no cycle through {start} in component {component}")


def find_cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """One cycle per strongly connected component: each is a tangle to untie on its own."""
    return [_cycle_in(graph, component) for component in _components(graph)]


def _describe(graph: dict[str, dict[str, list[str]]]) -> str:
    """Per tangle: one cycle through it, then every edge inside it with its import sites (what to cut)."""
    lines = []
    for component in _components(graph):
        lines.append(" -> ".join(_cycle_in(graph, component)))
        lines += [f"  {a} -> {b}: {', '.join(graph[a][b])}" for a in component for b in component if b in graph[a]]
    return "\n".join(lines)


def test_finder_reports_each_cycle() -> None:
    graph = {"a": {"b": ["a.py:1"]}, "b": {"c": ["b.py:1"]}, "c": {"a": ["c.py:3"]}, "d": {"e": ["d.py:1"]},
             "e": {"d": ["e.py:2"], "a": ["e.py:4"]}}
    assert find_cycles(graph) == [["a", "b", "c", "a"], ["d", "e", "d"]]
    assert find_cycles({"a": {"b": ["a.py:1"]}, "b": {}}) == []


def test_scan_sees_function_local_imports_and_skips_type_checking() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from synth_assets.spec import PipelineSpec\n"
        "def f():\n    from synth_assets.storage import catalog\n"
    )
    names = [name for name, _ in _imports(ast.parse(source), "synth_assets.x", False)]
    assert "synth_assets.storage.catalog" in names
    assert "synth_assets.spec" not in names


def test_package_graph_has_no_cycle() -> None:
    graph = package_graph()
    assert {"spec", "strategies", "evaluation", "filters"} <= set(graph)
    gone = [edge for edge in PENDING if edge[1] not in graph.get(edge[0], {})]
    assert not gone, f"no longer imported, remove from PENDING: {gone}"
    for source, target in PENDING:
        del graph[source][target]
    cycles = find_cycles(graph)
    assert not cycles, "package cycles (one per tangle):\n" + _describe(graph)
