"""The house's size and shape rules, measured on the package sources (docs/contributing.md).

- no module over 500 lines (a concept that needs more is two concepts);
- no function over 150 lines, and at most 8 over 80;
- no import circle among the modules of the namespace, counting the imports inside functions
  (a lazy import is still a dependency; only ``if TYPE_CHECKING:`` blocks are left out);
- no ``raise`` of a builtin exception: every error a caller can meet is one of the package's
  own (``errors.py``), whose message names the input, the expectation and the fix. The
  leaves (:mod:`auditkit.atomic`, :mod:`auditkit.hints`, :mod:`auditkit.registry`,
  :mod:`auditkit.toml_files`), which may import no error vocabulary, are the exception.

These read the checkout's sources; against an installed wheel they skip.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"auditkit": "auditkit", "privacy": "auditkit.privacy", "fairness": "auditkit.fairness",
           "explain": "auditkit.explain", "reports": "auditkit.reports"}
MAX_MODULE_LINES = 500
LONG_FUNCTION = 80
MAX_LONG_FUNCTIONS = 8
MAX_FUNCTION_LINES = 150
LEAVES = {"auditkit/atomic.py", "auditkit/hints.py", "auditkit/registry.py", "auditkit/toml_files.py"}
# Raising these is the protocol, not an error report.
PROTOCOL = {"NotImplementedError", "StopIteration", "StopAsyncIteration", "KeyboardInterrupt",
            "SystemExit", "GeneratorExit"}
BUILTIN_ERRORS = {
    name for name, obj in vars(builtins).items()
    if isinstance(obj, type) and issubclass(obj, BaseException)
} - PROTOCOL


def _sources() -> dict[str, Path]:
    if not (REPO / "auditkit").is_dir() or not (REPO / "privacy").is_dir():
        pytest.skip("these tests read the source tree; run them from the checkout")
    out = {}
    for folder, name in FOLDERS.items():
        for p in sorted((REPO / folder).rglob("*.py")):
            parts = list(p.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([name, *parts])] = p
    return out


def _rel(p: Path) -> str:
    return p.relative_to(REPO).as_posix()


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_no_module_over_500_lines() -> None:
    big = {_rel(p): n for p in _sources().values()
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not big, f"modules over {MAX_MODULE_LINES} lines: {big}"


def test_functions_stay_short() -> None:
    long = {}
    for p in _sources().values():
        for f in _functions(ast.parse(p.read_text(encoding="utf-8"))):
            n = f.end_lineno - f.lineno + 1
            if n > LONG_FUNCTION:
                long[f"{_rel(p)}:{f.name}"] = n
    over = {k: n for k, n in long.items() if n > MAX_FUNCTION_LINES}
    assert not over, f"functions over {MAX_FUNCTION_LINES} lines: {over}"
    assert len(long) <= MAX_LONG_FUNCTIONS, f"{len(long)} functions over {LONG_FUNCTION} lines: {long}"


def _target(module: str, node: ast.ImportFrom | ast.Import, is_package: bool, known: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - node.level + 1]
            prefix = ".".join([*base, *([node.module] if node.module else [])])
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in known else prefix for a in node.names]
    out = []
    for n in names:
        while n and n not in known:
            n = n.rpartition(".")[0]
        if n:
            out.append(n)
    return out


def _runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import that can run: at module level and inside functions and classes, leaving out
    ``if TYPE_CHECKING:`` blocks."""
    out, todo = [], list(ast.iter_child_nodes(tree))
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            out.append(n)
        elif isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
            todo += n.orelse
        else:
            todo += ast.iter_child_nodes(n)
    return out


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                group = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    group.append(w)
                    if w == v:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_cycle_finder_finds_a_known_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles() -> None:
    sources = _sources()
    known = set(sources)
    edges: dict[str, set[str]] = {m: set() for m in sources}
    for m, p in sources.items():
        tree = ast.parse(p.read_text(encoding="utf-8"))
        for node in _runtime_imports(tree):
            for t in _target(m, node, p.name == "__init__.py", known):
                if t != m and not m.startswith(t + "."):  # a parent package is loaded first anyway
                    edges[m].add(t)
    assert _cycles(edges) == []


def test_no_builtin_exception_is_raised() -> None:
    bad = []
    for p in _sources().values():
        if _rel(p) in LEAVES:
            continue
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                name = exc.id if isinstance(exc, ast.Name) else None
                if name in BUILTIN_ERRORS:
                    bad.append(f"{_rel(p)}:{node.lineno} raises {name}")
    assert not bad, "raise the package's own error (errors.py) instead:\n" + "\n".join(bad)
