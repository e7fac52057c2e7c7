"""The built wheel: one distribution (``auditkit-rai``) installing one namespace (``auditkit``).

The suite must not pass merely because the repository root is on ``sys.path``. Here the wheel
is built from a copy of the sources, installed into a fresh virtual environment (its
dependencies come from the test environment through a ``.pth`` file; the wheel itself goes in
with ``--no-deps``), and exercised from a directory outside the checkout: every public name,
``auditkit --help``, ``python -m auditkit`` and the pytest plugin entry point. The whole suite
also runs against such an installation: ``make test`` runs it a second time from the wheel
(``make test-wheel``).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DIST_NAME = "auditkit-rai"
FOLDERS = {
    "auditkit": "auditkit",
    "privacy": "auditkit/privacy",
    "fairness": "auditkit/fairness",
    "explain": "auditkit/explain",
    "reports": "auditkit/reports",
}
PUBLIC_PACKAGES = (
    "auditkit",
    "auditkit.atomic",
    "auditkit.privacy",
    "auditkit.privacy.crypto",
    "auditkit.privacy.dp",
    "auditkit.privacy.masking",
    "auditkit.fairness",
    "auditkit.explain",
    "auditkit.reports",
    "auditkit.reports.catalogue",
    "auditkit.reports.signing",
)
OLD_TOP_LEVEL = ("privacy", "fairness", "explain", "reports")
#: the one compiled module (setup.py), built where setup.py builds it: x86-64 Linux with glibc
COMPILED = "auditkit/privacy/dp/_boxmuller"
KERNEL_BUILT = (sys.platform.startswith("linux") and platform.machine() == "x86_64"
                and platform.libc_ver()[0] == "glibc")


def _run(*args: str | Path, cwd: Path, extra_env: dict[str, str] | None = None,
         **kw) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(NO_COLOR="1", COLUMNS="200", **(extra_env or {}))
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, **kw)


def _source_files() -> dict[str, Path]:
    """Wheel path -> source file, for every file the source folders hold."""
    out = {}
    for folder, target in FOLDERS.items():
        base = REPO / folder
        for path in base.rglob("*"):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix in (".pyc", ".so"):
                continue  # (a build of the C source: the wheel holds its own, see COMPILED)
            rel = path.relative_to(base)
            if folder == "auditkit" and rel.parts[0] in FOLDERS:
                continue
            out[f"{target}/{rel.as_posix()}"] = path
    return out


def _build_wheel(tmp_path_factory, extra_env: dict[str, str] | None = None) -> Path:
    if not (REPO / "auditkit").is_dir():
        pytest.skip("builds the wheel from the checkout's sources")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "*.so")
    for folder in FOLDERS:
        shutil.copytree(REPO / folder, src / folder, ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO / name, src / name)
    proc = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                "--quiet", "--wheel-dir", tmp / "dist", src, cwd=tmp, extra_env=extra_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = (tmp / "dist").glob("*.whl")
    return built


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return _build_wheel(tmp_path_factory)


def test_a_wheel_without_the_kernel_is_pure_python(tmp_path_factory) -> None:
    """AUDITKIT_NO_KERNEL=1 (benchmarks/gpu/README.md): a wheel for any Python 3.10+."""
    built = _build_wheel(tmp_path_factory, {"AUDITKIT_NO_KERNEL": "1"})
    assert built.name.endswith("-py3-none-any.whl"), built.name
    with zipfile.ZipFile(built) as zf:
        assert not [n for n in zf.namelist() if n.endswith(".so")]


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed and the test environment's
    dependencies visible through a ``.pth`` file."""
    root = tmp_path_factory.mktemp("venv")
    env_dir = root / "env"
    proc = _run(sys.executable, "-m", "venv", "--without-pip", env_dir, cwd=root)
    assert proc.returncode == 0, proc.stderr
    python = env_dir / "bin" / "python"
    proc = _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
                "--no-index", "--quiet", wheel, cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                   cwd=root).stdout.strip()
    deps = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    (Path(purelib) / "_auditkit_test_deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    return env_dir


def test_wheel_holds_every_source_file_under_the_namespace(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = {n for n in zf.namelist() if not n.endswith("/")}
    shipped = {n for n in names if not n.split("/")[0].endswith(".dist-info")}
    compiled = {n for n in shipped if n.endswith(".so")}
    if KERNEL_BUILT:
        assert [n.split(".")[0] for n in compiled] == [COMPILED], compiled
    shipped -= compiled
    assert shipped == set(_source_files()), (
        f"missing: {sorted(set(_source_files()) - shipped)}; "
        f"unexpected: {sorted(shipped - set(_source_files()))}"
    )
    assert not any(n.split("/")[0] in OLD_TOP_LEVEL for n in names)


def test_wheel_metadata(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        info = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = zf.read(info).decode()
        eps = zf.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert f"Name: {DIST_NAME}\n" in meta
    assert "Requires-Dist: lazy_loader" in meta or "Requires-Dist: lazy-loader" in meta
    assert "auditkit = auditkit.cli:run" in eps
    assert "auditkit_fairness = auditkit.fairness.pytest_plugin" in eps


PROBE = """
import importlib, importlib.util, json, sys
import auditkit
report = {"file": auditkit.__file__, "names": 0, "missing": [], "old": []}
for pkg in %r:
    module = importlib.import_module(pkg)
    for name in getattr(module, "__all__", []):
        try:
            getattr(module, name)
            report["names"] += 1
        except Exception as exc:
            report["missing"].append(f"{pkg}.{name}: {type(exc).__name__}: {exc}")
report["old"] = [n for n in %r if importlib.util.find_spec(n) is not None]
print(json.dumps(report))
"""


def test_every_public_name_imports_from_outside_the_checkout(venv: Path, tmp_path: Path) -> None:
    proc = _run(venv / "bin" / "python", "-c", PROBE % (PUBLIC_PACKAGES, OLD_TOP_LEVEL),
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).resolve().is_relative_to(venv.resolve()), report["file"]
    assert report["missing"] == []
    assert report["names"] > 150
    assert report["old"] == [], "old top-level import names are importable"


@pytest.mark.parametrize("command", [["bin/auditkit", "--help"], ["bin/python", "-m", "auditkit", "--help"]])
def test_the_command_runs_from_the_wheel(venv: Path, tmp_path: Path, command: list[str]) -> None:
    proc = _run(venv / command[0], *command[1:], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout and "gate" in proc.stdout


PLUGIN_TEST = """
import auditkit.fairness.pytest_plugin as plugin


def test_plugin_comes_from_the_wheel(request, assert_fair):
    assert request.config.pluginmanager.get_plugin("auditkit_fairness") is plugin
    assert plugin.__file__.startswith(%r)
    assert_fair([0, 1, 0, 1], [0, 1, 0, 1], {"g": ["a", "a", "b", "b"]},
                ["demographic_parity_difference <= 0.5"])
"""


def test_pytest_plugin_entry_point_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    (tmp_path / "test_uses_plugin.py").write_text(PLUGIN_TEST % str(venv.resolve()))
    proc = _run(venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "test_uses_plugin.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
