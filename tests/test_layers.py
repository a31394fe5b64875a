"""The import layering of ``src/weightspace``: data flows one way, with no cycles.

An ``ast`` walk of every module (imports inside functions count too):

- no package imports a package it must not (:data:`FORBIDDEN`);
- no cycle between packages, none between modules;
- no import of a weightspace module guarded by ``except ImportError``;
- imports of weightspace modules sit at module top (heavy third-party imports may not).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

import weightspace

ROOT = Path(weightspace.__file__).parent

# package -> the packages it must not import. Stages, low to high: the base modules
# (errors, config, threads, store, checkpoint, vocabulary); data, models, spectral (independent of each other);
# train, diversity; synthetic (trains a generator and scores Vendi); compare; report; study; cli.
ABOVE_TRAIN = {"synthetic", "study", "compare", "report", "cli"}
FORBIDDEN: dict[str, set[str]] = {
    "data": {"models", "spectral", "train", "diversity"} | ABOVE_TRAIN,
    "models": {"data", "spectral", "train", "diversity"} | ABOVE_TRAIN,
    "spectral": {"data", "models", "train", "diversity"} | ABOVE_TRAIN,
    "train": {"diversity"} | ABOVE_TRAIN,
    "diversity": {"train"} | ABOVE_TRAIN,
    "synthetic": {"study", "compare", "report", "cli"},
    "compare": {"train", "synthetic", "study", "report", "cli"},
    "report": {"train", "synthetic", "study", "cli"},
    "study": {"cli"},
}
BASE = {"errors", "config", "threads", "store", "checkpoint", "stats", "vocabulary", "__init__"}
STAGES = {*FORBIDDEN, "cli"}
for _pkg in BASE - {"__init__"}:
    FORBIDDEN[_pkg] = STAGES


def _module_name(path: Path) -> str:
    parts = ("weightspace", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts).removesuffix(".__init__")


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _resolve(target: str) -> str:
    """The longest weightspace module named by a dotted import target."""
    while target not in MODULES and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def _imports(module: str) -> Iterator[tuple[str, int, bool, bool]]:
    """(imported module, line, at module top, guarded by except ImportError) per import."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in {"ImportError", "ModuleNotFoundError"}
            for h in node.handlers
        ):
            guarded |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    top = {id(n) for n in tree.body}
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        for t in targets:
            if t == "weightspace" or t.startswith("weightspace."):
                dst = _resolve(t)
                if dst != module:
                    yield dst, node.lineno, id(node) in top, id(node) in guarded


EDGES = {m: list(_imports(m)) for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = itertools.count()

    def visit(v: str) -> None:
        index[v] = low[v] = next(counter)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_walk_sees_the_tree() -> None:
    # guards against a vacuous pass: the walk finds the packages and their known edges
    assert {"data", "models", "spectral", "train", "diversity", "synthetic", "compare"} <= {
        _package(m) for m in MODULES
    }
    train_deps = {_package(d) for m, es in EDGES.items() if _package(m) == "train" for d, *_ in es}
    assert {"data", "models", "spectral"} <= train_deps


def test_no_forbidden_package_edge() -> None:
    bad = sorted(
        f"{m} imports {d}"
        for m, edges in EDGES.items()
        for d, *_ in edges
        if _package(d) in FORBIDDEN.get(_package(m), set())
    )
    assert not bad, "\n".join(bad)


def test_no_package_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for m, edges in EDGES.items():
        for d, *_ in edges:
            if _package(d) != _package(m) and _package(m) not in BASE:
                graph.setdefault(_package(m), set()).add(_package(d))
    assert _cycles(graph) == []


def test_no_module_cycle() -> None:
    graph = {m: {d for d, *_ in edges} for m, edges in EDGES.items()}
    assert _cycles(graph) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_internal_imports_at_module_top_and_unguarded(module: str) -> None:
    bad = [
        f"line {line}: {d}" + (" (guarded by except ImportError)" if guarded else "")
        for d, line, at_top, guarded in EDGES[module]
        if guarded or not at_top
    ]
    assert not bad, f"{module}: " + "; ".join(bad)
