"""The one import namespace and the direction of imports, checked on the source.

- Nothing (code, tests, benchmarks, docs) imports the old top-level names ``privacy``,
  ``fairness``, ``explain`` or ``reports``: everything lives under ``auditkit``.
- The domain packages never import the runner or the CLI; ``auditkit.reports`` imports no other
  domain package; the only modules of the ``auditkit/`` folder a domain package may use are the
  leaves (:data:`LEAVES`), which import only the standard library (and ``tomli`` on 3.10).
- No package reaches into another package's private modules or names: what one package needs
  from another is public there (in its ``__all__``), documented and tested.
- Importing a domain package loads nothing of the runner, the CLI, the checks, or the heavy
  libraries.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# source folder -> the import name it installs as (pyproject.toml's package-dir)
FOLDERS = {
    "auditkit": "auditkit",
    "privacy": "auditkit.privacy",
    "fairness": "auditkit.fairness",
    "explain": "auditkit.explain",
    "reports": "auditkit.reports",
}
OLD_NAMES = ("privacy", "fairness", "explain", "reports")
DOMAIN = ("auditkit.privacy", "auditkit.fairness", "auditkit.explain", "auditkit.reports")
HEAVY = ("torch", "opacus", "shap", "lime", "weasyprint", "transformers", "peft", "tensorboard")
# Modules of the namespace root that import only the standard library (and each other); every
# package may use them.
LEAVES = ("auditkit.atomic", "auditkit.hints", "auditkit.registry", "auditkit.tensorboard_log",
          "auditkit.toml_files")
# The one non-stdlib import a leaf may make: the TOML reader's parser on Python 3.10, where
# tomllib is not yet in the standard library (``tomli`` is the same code, a dependency there only).
LEAF_EXTRA_IMPORTS = {"auditkit.toml_files": {"tomli"}, "auditkit.tensorboard_log": {"tensorboard"}}
RUNNER_SIDE = ("auditkit.runner", "auditkit.cli", "auditkit.commands", "auditkit.checks",
               "auditkit.config", "auditkit.demo")


def _source_files() -> list[Path]:
    if not (REPO / "auditkit").is_dir():
        pytest.skip("these tests read the source tree; run them from the checkout")
    files = [p for folder in FOLDERS for p in (REPO / folder).rglob("*.py")]
    return sorted(files)


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = [FOLDERS[rel.parts[0]], *rel.parts[1:]]
    name = ".".join(parts)
    return name.removesuffix(".__init__")


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, imported names) for every absolute import in ``path``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module, [a.name for a in node.names]))
    return out


def _package_of(module: str) -> str:
    """The unit whose privates are its own: ``auditkit.privacy.dp``, ``auditkit.fairness``,
    ``auditkit`` (the runner and CLI), ..."""
    parts = module.split(".")
    if parts[:2] == ["auditkit", "privacy"] and len(parts) > 2 and parts[2] in (
        "dp", "crypto", "masking"
    ):
        return ".".join(parts[:3])
    if len(parts) > 1 and ".".join(parts[:2]) in DOMAIN:
        return ".".join(parts[:2])
    return "auditkit"


def test_every_source_folder_is_mapped_in_pyproject() -> None:
    files = _source_files()
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    for folder, name in FOLDERS.items():
        if folder != name:
            assert f'"{name}" = "{folder}"' in text
    packages = set(re.findall(r'^\s*"(auditkit[\w.]*)",$', text, re.M))
    on_disk = {_module_name(p) for p in files if p.name == "__init__.py"}
    assert packages == on_disk, "pyproject [tool.setuptools] packages must list every package"


@pytest.mark.parametrize("top", ["tests", "benchmarks", *FOLDERS])
def test_no_old_top_level_import(top: str) -> None:
    if not (REPO / top).is_dir():
        pytest.skip("reads the checkout's sources")
    bad = []
    for path in sorted((REPO / top).rglob("*.py")):
        for line, module, _ in _imports(path):
            if module.split(".")[0] in OLD_NAMES:
                bad.append(f"{path.relative_to(REPO)}:{line}: {module}")
    assert not bad, "old top-level imports:\n" + "\n".join(bad)


OLD_IN_PROSE = re.compile(
    rf"(?<![\w.])(from ({'|'.join(OLD_NAMES)})(\.\w+)* import"
    rf"|(?<!from auditkit )import ({'|'.join(OLD_NAMES)})\b)"
    r"|pip install '?auditkit\["
)


@pytest.mark.parametrize(
    "doc", ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md"))]
)
def test_docs_use_the_namespace_and_the_distribution_name(doc: str) -> None:
    if not (REPO / doc).is_file():
        pytest.skip("reads the checkout's docs")
    text = (REPO / doc).read_text(encoding="utf-8")
    assert not [m.group(0) for m in OLD_IN_PROSE.finditer(text)]


def test_domain_packages_never_import_the_runner_or_cli() -> None:
    bad = []
    for path in _source_files():
        me = _module_name(path)
        mine = _package_of(me)
        if mine == "auditkit":
            continue
        for line, module, _ in _imports(path):
            if not module.startswith("auditkit"):
                continue
            if module in ("auditkit", *LEAVES):
                allowed = True  # the trivial namespace package and the leaves
            elif _package_of(module) == "auditkit":
                allowed = False  # the runner, the CLI, the checks, the config
            else:
                allowed = mine != "auditkit.reports" or module.startswith("auditkit.reports")
            if not allowed:
                bad.append(f"{path.relative_to(REPO)}:{line}: {me} imports {module}")
    assert not bad, "\n".join(bad)


def test_no_package_reaches_into_another_packages_privates() -> None:
    bad = []
    for path in _source_files():
        me = _module_name(path)
        for line, module, names in _imports(path):
            if not module.startswith("auditkit") or _package_of(module) == _package_of(me):
                continue
            private = [p for p in module.split(".") if p.startswith("_")]
            private += [n for n in names if n.startswith("_")]
            if private:
                bad.append(f"{path.relative_to(REPO)}:{line}: {me} -> {module} {names}")
    assert not bad, "private reaches across a package line:\n" + "\n".join(bad)


@pytest.mark.parametrize("package", DOMAIN)
def test_importing_a_domain_package_loads_nothing_of_the_runner(package: str) -> None:
    probe = (
        "import sys, json\n"
        f"import {package}\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, cwd=REPO.parent)
    assert proc.returncode == 0, proc.stderr
    loaded = set(__import__("json").loads(proc.stdout))
    runner = sorted(m for m in loaded if m.startswith(RUNNER_SIDE))
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert runner == [] and heavy == [], (runner, heavy)
    if package == "auditkit.fairness":  # the pytest plugin's package stays light
        assert not loaded & {"pandas", "numpy", "fairlearn", "sklearn"}


@pytest.mark.parametrize("leaf", LEAVES)
def test_leaves_import_only_the_standard_library(leaf: str) -> None:
    path = REPO / (leaf.replace("auditkit.", "auditkit/", 1) + ".py")
    if not path.is_file():
        pytest.skip("reads the checkout's sources")
    # A leaf may use another leaf (the registry uses the "did you mean" hint): still stdlib only.
    imported = {module for _, module, _ in _imports(path)} - set(LEAVES)
    tops = {module.split(".")[0] for module in imported}
    allowed = set(sys.stdlib_module_names) | {"__future__"} | LEAF_EXTRA_IMPORTS.get(leaf, set())
    assert tops <= allowed, tops - allowed
