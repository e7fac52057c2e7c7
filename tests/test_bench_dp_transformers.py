"""benchmarks/bench_dp_transformers.py and benchmarks/gpu/bench_dp_transformers_gpu.py, smoke test.

Runs the benchmark's own functions at the tiny size on CPU (one timed step each) and checks the
table: every model, every column, numbers or ``n/a`` with a reason; the goals line against
hand-made cells; the GPU script's ``--device cpu --tiny`` dry run; and that the GPU script
imports nothing but what a machine without network gets (torch, transformers, peft, opacus,
dp-accounting, auditkit, the standard library). No timing assertions.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("opacus")

_BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
_PATH = _BENCH / "bench_dp_transformers.py"
_GPU = _BENCH / "gpu" / "bench_dp_transformers_gpu.py"
if not _PATH.is_file():  # the wheel run copies tests/ without the benchmarks
    pytest.skip("reads the checkout's benchmarks/", allow_module_level=True)


def _load(name: str, path: Path):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


bench = _load("bench_dp_transformers", _PATH)
core = bench.core
NUMBER = r"-?\d+\.\d+"
ROW = re.compile(rf"^(\S+)\s+(.+?)\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+"
                 rf"({NUMBER}|n/a)\s+({NUMBER}|-)$")


@pytest.fixture(scope="module")
def results():
    import transformers

    transformers.logging.set_verbosity_error()
    # memory: a stand-in figure (the real measurements are exercised by the dry run and the
    # fresh-process test below; here they would only add minutes of set-up)
    return bench.run("tiny", steps=1, block=1, warmup=0, memory=lambda *args: 10.0)


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for block in text.split("\n## ")[1:]:
        lines = block.splitlines()
        out[lines[0]] = lines[1:]
    return out


def test_the_table_has_every_model_and_every_column(results) -> None:
    text = bench.report(results, sizes="tiny", steps=1, block=1, warmup=0, threads=1)
    for field in ("date:", "machine:", "torch ", "transformers ", "peft ", "opacus ", "checkout ",
                  "sizes: tiny", "load average"):
        assert field in text
    sections = _sections(text)
    assert len(sections) == len(core.MODELS)
    for name in core.MODELS:
        (title,) = [t for t in sections if t.startswith(core.TITLES[name] + " [fp32]")]
        lines = sections[title]
        assert lines[0] == core.HEAD
        rows = {line.split()[0]: line for line in lines[1:1 + len(core.COLUMNS)]}
        assert list(rows) == list(core.COLUMNS)
        for col, line in rows.items():
            assert ROW.match(line) or re.match(rf"^{col}\s+n/a: \S", line), line
        assert any(line.startswith("goals: ") for line in lines)
    # the plain column always runs, and so does ours on these layers
    for _, _, cells in results:
        for col in ("non-private", "ours"):
            assert not cells[col].na and cells[col].median > 0 and cells[col].memory is not None


def test_opacus_failing_both_ways_is_na_with_both_reasons(monkeypatch) -> None:
    def broken(*args, **kwargs):
        def step():
            raise RuntimeError("shape [4] against [1]")

        return step

    monkeypatch.setattr(core, "_stepper", broken)
    with pytest.raises(core.NotAvailable) as info:
        core.build_runner("bert", "opacus", core.TINY, "cpu", "fp32")
    reason = str(info.value)
    assert reason.startswith("ghost: RuntimeError: shape") and "; hooks: RuntimeError:" in reason
    with pytest.raises(core.NotAvailable, match="^bookkeeping: RuntimeError: shape"):
        core.build_runner("bert", "ours", core.TINY, "cpu", "fp32")


def test_a_refusal_of_make_private_is_na_with_its_reason(monkeypatch) -> None:
    import auditkit.privacy.dp as dp
    from auditkit.privacy.errors import PrivacyInputError

    def refuse(*args, **kwargs):
        raise PrivacyInputError("layer x (Foo): no rule.")

    monkeypatch.setattr(dp, "make_private", refuse)
    with pytest.raises(core.NotAvailable, match="^make_private refused: PrivacyInputError: layer x"):
        core.build_runner("bert", "ours", core.TINY, "cpu", "fp32")


def test_a_column_that_cannot_run_shows_na_and_the_goals_say_so(monkeypatch) -> None:
    real = core.build_runner

    def no_opacus(name, column, *args, **kwargs):
        if column == "opacus":
            raise core.NotAvailable("ghost: refused; hooks: refused")
        return real(name, column, *args, **kwargs)

    monkeypatch.setattr(core, "build_runner", no_opacus)
    cells = core.run_model("bert", core.TINY, "cpu", "fp32", steps=1, block=1, warmup=0, memory=None)
    lines = core.format_section("bert", "fp32", cells)
    assert "opacus       n/a: ghost: refused; hooks: refused" in lines
    (goals,) = [line for line in lines if line.startswith("goals: ")]
    assert "ahead of Opacus: not judged (Opacus n/a" in goals
    assert any(line.startswith("load average (1 min) before / after timing: ") for line in lines)
    assert "  peak memory n/a (ours): not measured" in lines


def _cell(clipping: str, median: float, memory: float) -> object:
    return core.Cell(clipping, best=median, median=median, memory=memory)


@pytest.mark.parametrize(
    ("name", "ours", "opacus", "expected"),
    [
        ("gpt2_lora", (0.105, 9.0), (0.2, 9.0),
         ["median <= 1.10x non-private: 1.05x met", "ahead of Opacus ghost: 1.90x faster met"]),
        ("gpt2_full", (0.13, 130.0), (0.12, 200.0),
         ["median <= 1.25x non-private: 1.30x MISSED", "peak memory <= 1.20x: 1.30x MISSED",
          "ahead of Opacus ghost: 0.92x faster MISSED"]),
        ("bert", (0.12, 110.0), (0.3, 150.0),
         ["1.20x met", "peak memory <= 1.20x: 1.10x met", "2.50x faster met"]),
    ],
)
def test_goal_line_against_hand_made_cells(name, ours, opacus, expected) -> None:
    cells = {"non-private": _cell("none (plain torch)", 0.1, 100.0),
             "ours": _cell("bookkeeping", *ours), "opacus": _cell("ghost", *opacus)}
    line = core.goal_line(name, cells)
    for part in expected:
        assert part in line
    assert "did not run book-keeping" not in line
    cells["ours"] = _cell("hooks (fallback)", *ours)
    assert core.goal_line(name, cells).endswith("[ours did not run book-keeping]")


def test_gpu_script_dry_run_writes_the_table(tmp_path: Path) -> None:
    code = core.main(["--device", "cpu", "--tiny", "--models", "gpt2_lora", "--precision", "bf16",
                      "--steps", "1", "--warmup", "0", "--block", "1", "--out", str(tmp_path)])
    assert code == 0
    text = (tmp_path / "dp_transformers_gpu.txt").read_text()
    (lines,) = _sections(text).values()
    assert [line.split()[0] for line in lines[1:4]] == list(core.COLUMNS)
    assert "sizes: tiny" in text and "total wall time:" in text


def test_gpu_script_without_cuda_asks_for_cpu(capsys) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert core.main([]) == 2
    assert "--device cpu" in capsys.readouterr().err


def test_gpu_script_imports_only_what_an_offline_machine_has() -> None:
    allowed = {"torch", "transformers", "peft", "opacus", "dp_accounting", "auditkit"}
    tree = ast.parse(_GPU.read_text())
    top = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top.add(node.module.split(".")[0])
    assert top - allowed - set(sys.stdlib_module_names) == set()
    assert "auditkit" in top and "opacus" in top


def test_cpu_memory_runs_in_a_fresh_child_process() -> None:
    measure = bench.fresh_process_memory("tiny", 1)
    assert measure("bert", "non-private", "fp32", None) >= 0.0


def test_malloc_retain_runs_again_with_glibc_keeping_memory(monkeypatch) -> None:
    """``--malloc retain`` starts the benchmark again with the glibc settings (read only when a
    process starts), writing its own results file; the header names the allocator settings."""
    for key in bench.RETAIN:
        monkeypatch.delenv(key, raising=False)
    assert bench.allocator_line().startswith("allocator: glibc defaults")
    calls = []

    class Done:
        returncode = 3

    original = bench.subprocess.run
    monkeypatch.setattr(bench.subprocess, "run", lambda cmd, env: calls.append((cmd, env)) or Done())
    with pytest.raises(SystemExit) as stop:
        bench.main(["--malloc", "retain", "--tiny"])
    assert stop.value.code == 3
    ((cmd, env),) = calls
    assert cmd[-2:] == ["--out", str(bench.OUT_RETAIN)] and "--tiny" in cmd
    assert all(env[k] == v for k, v in bench.RETAIN.items())
    for key, value in bench.RETAIN.items():
        monkeypatch.setenv(key, value)
    assert "MALLOC_TRIM_THRESHOLD_=" in bench.allocator_line()
    calls.clear()
    monkeypatch.setattr(bench.subprocess, "run", original)
    monkeypatch.setattr(bench, "run", lambda *a, **k: [])
    monkeypatch.setattr(bench, "emit", lambda text, out, save: calls.append((text, out)))
    bench.main(["--malloc", "retain", "--tiny", "--out", "x.txt"])  # already set: runs here
    ((text, out),) = calls
    assert str(out) == "x.txt" and "allocator: glibc with MALLOC_MMAP_THRESHOLD_=" in text
