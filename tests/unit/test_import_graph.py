"""No import cycle in lmms_safebench: the graph of its modules, built from every import statement (function-local
ones included, so a cycle cannot hide inside a function), has no strongly connected component of two or more.

As in the layering tests of llm/ and generate/, a module's import of its own package (an ancestor) is not an edge:
Python initialises a package before any of its modules, and a package's ``__init__`` re-exports or lazily runs its
modules (a generator package's ``main`` imports its pipeline, which reads the stage list from the package)."""

import ast
import sys
import textwrap
from pathlib import Path

import lmms_safebench

PACKAGE = Path(lmms_safebench.__file__).parent


def modules(root: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """``{dotted name: (file, is a package)}`` of every module under ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def graph(root: Path, package: str) -> dict[str, set[str]]:
    """``{module: modules of the package it imports}``. ``from a.b import c`` is an edge to ``a.b.c`` when that is a
    module, else to ``a.b``; relative imports are resolved; imports of other packages, and of the module's own
    ancestors, are left out."""
    known = modules(root, package)

    def owner(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {}
    for name, (path, is_package) in known.items():
        here = name if is_package else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                    base = ".".join(parent + ([node.module] if node.module else []))
                targets |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
        found = {owner(t) for t in targets if t.split(".")[0] == package}
        edges[name] = {t for t in found if t and t != name and not name.startswith(t + ".")}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of two or more modules (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(edges) + 100))

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle():
    edges = graph(PACKAGE, "lmms_safebench")
    assert len(edges) > 100 and "lmms_safebench.benchmarks.registry" in edges
    assert cycles(edges) == []


def test_the_check_finds_a_cycle_hidden_in_a_function(tmp_path):
    root = tmp_path / "toy"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("")
    (root / "registry.py").write_text("from .sub import family\n")
    (root / "sub" / "family.py").write_text(textwrap.dedent("""
        def register():
            from .. import registry  # a function-local import still makes the cycle
            return registry
    """))
    (root / "plain.py").write_text("from toy import registry\n")
    (root / "sub" / "other.py").write_text("from . import family\nfrom .. import sub\n")  # its own package: no edge
    edges = graph(root, "toy")
    assert edges["toy.registry"] == {"toy.sub.family"} and edges["toy.sub.family"] == {"toy.registry"}
    assert edges["toy.sub.other"] == {"toy.sub.family"}
    assert cycles(edges) == [["toy.registry", "toy.sub.family"]]
