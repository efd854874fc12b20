"""No import circles in runbook/, steps/ or screens/.

The graph is built from the source with `ast`, not by importing: every import counts,
at module level, under `if TYPE_CHECKING:` and inside functions (a deferred import still
ties the two modules together; it only hides the circle until run time). `from pkg import
name` is an import of `pkg.name` when that is a module, else of `pkg`. A circle is named
module by module, so whoever breaks it sees which import to move.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("runbook", "steps", "screens")

# Circles someone is already removing, as the sets of their modules; a listed one that no
# longer exists fails the test, so the list cannot go stale.
KNOWN: list[frozenset[str]] = []  # none: a circle found here is a new one


def modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package)."""
    found: dict[str, tuple[Path, bool]] = {}
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            package = parts[-1] == "__init__"
            if package:
                parts.pop()
            found[".".join(parts)] = (path, package)
    return found


def imported(name: str, package: bool, node: ast.Import | ast.ImportFrom,
             known: dict[str, tuple[Path, bool]]) -> set[str]:
    """The project's modules one import statement of module `name` imports."""
    targets: list[str] = []
    if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
    else:
        if node.level:
            base = name.split(".") if package else name.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            origin = ".".join([*base, *([node.module] if node.module else [])])
        else:
            origin = node.module or ""
        targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in known else origin
                   for a in node.names]
    out = set()
    for target in targets:
        while target and target not in known:  # `import a.b.c` of a name inside a.b.c
            target = target.rpartition(".")[0]
        if target and target != name:
            out.add(target)
    return out


@functools.cache
def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, (path, package) in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        graph[name] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                graph[name] |= imported(name, package, node, known)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
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
    return found


def path_around(graph: dict[str, set[str]], members: list[str]) -> str:
    """One circle through the component's first module, as 'a -> b -> a'."""
    inside = set(members)
    first = members[0]
    came: dict[str, str] = {}
    frontier = [first]
    while frontier:
        nxt: list[str] = []
        for node in frontier:
            for target in sorted(graph[node] & inside):
                if target == first:
                    hops = [node]
                    while hops[-1] != first:
                        hops.append(came[hops[-1]])
                    return " -> ".join([first, *reversed(hops[:-1]), first])
                if target not in came:
                    came[target] = node
                    nxt.append(target)
        frontier = nxt
    return " <-> ".join(members)


def test_no_import_circles() -> None:
    graph = import_graph()
    found = circles(graph)
    new = [c for c in found if frozenset(c) not in KNOWN]
    assert not new, "import circles:\n" + "\n".join(path_around(graph, c) for c in new)
    gone = [sorted(k) for k in KNOWN if k not in {frozenset(c) for c in found}]
    assert not gone, f"no longer circles (remove them from KNOWN): {gone}"


def test_the_check_sees_a_circle() -> None:
    """The check is not vacuous: a deferred import and a TYPE_CHECKING one make a circle."""
    known = {"p": (Path("p/__init__.py"), True), "p.a": (Path("p/a.py"), False),
             "p.b": (Path("p/b.py"), False), "p.c": (Path("p/c.py"), False)}
    sources = {
        "p.a": "def f():\n    from p.b import g\n",
        "p.b": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import c\n",
        "p.c": "from .a import f\nimport os\n",
    }
    graph = {name: set() for name in known}
    for name, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import | ast.ImportFrom):
                graph[name] |= imported(name, False, node, known)
    assert circles(graph) == [["p.a", "p.b", "p.c"]]
    assert path_around(graph, ["p.a", "p.b", "p.c"]) == "p.a -> p.b -> p.c -> p.a"


def test_the_graph_holds_the_tree() -> None:
    graph = import_graph()
    assert "runbook.journal.store" in graph["runbook.journal.sqlite"]
    assert "runbook.session.detached_steps" in graph["runbook.session.run"]
    assert len(graph) > 100
