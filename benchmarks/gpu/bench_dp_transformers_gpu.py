"""DP fine-tuning of transformers: step time and peak memory, non-private vs ours vs Opacus.

Standalone: this one file runs on a CUDA machine with no network. It imports only torch,
transformers, peft, opacus, dp-accounting (through opacus and auditkit) and auditkit; see
``benchmarks/gpu/README.md`` for carrying them in as wheels. ``benchmarks/bench_dp_transformers.py``
(the CPU benchmark) imports this file and runs the same code at reduced sizes.

Models, built from configs with random weights (nothing is downloaded):

- ``gpt2_lora``: GPT-2-small-shaped LM (12 layers, 768 wide, 12 heads, vocabulary 50257) with
  PEFT LoRA r=8 on ``c_attn`` (``fan_in_fan_out=True``: GPT-2's Conv1D stores its weight
  transposed); only the adapters train.
- ``gpt2_full``: the same LM, every parameter trained (input embedding tied to the output head).
- ``bert``: BERT-base-shaped sequence classifier (12 layers, 768 wide, 2 labels), full fine-tuning.

Columns, on the same data (sequence 128, right-padded to varied lengths, attention mask), same
weights, same optimizer (AdamW) and the same micro-batch:

- ``non-private``: plain torch; each sample's loss (token mean over its own tokens for the LM),
  then the mean over the batch;
- ``ours``: ``auditkit.privacy.dp.make_private(mode="auto", noise_multiplier=1.0)`` (σ given,
  so nothing is solved); the clipping path it chose is printed;
- ``opacus``: ``PrivacyEngine.make_private(grad_sample_mode="ghost")``; when ghost clipping
  refuses the model (tied weights), Opacus hooks (functorch for layers it has no sampler for);
  when that fails too, ``n/a`` with the reason.

``position_ids`` (and BERT's ``token_type_ids``) are passed as ``[batch, seq]`` to every column:
Hugging Face broadcasts ``[1, seq]`` by default, which Opacus's per-sample hooks cannot take.

Step time: best and median of ``--steps`` timed steps per configuration; the configurations of
one model take turns in blocks, so load bursts hit them alike. Peak memory: on CUDA
``torch.cuda.max_memory_allocated`` over building the model and running ``MEMORY_STEPS + 1``
steps, above the allocation before the model was built (weights, gradients, optimizer state,
activations and DP buffers all count); one configuration at a time.

Usage::

    python bench_dp_transformers_gpu.py [--precision fp32,bf16] [--steps 10] [--out PATH]
    python bench_dp_transformers_gpu.py --device cpu --tiny     # dry run, seconds
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

MODELS = ("gpt2_lora", "gpt2_full", "bert")
COLUMNS = ("non-private", "ours", "opacus")
TITLES = {
    "gpt2_lora": "GPT-2-shaped LM, LoRA r=8 on c_attn",
    "gpt2_full": "GPT-2-shaped LM, full fine-tuning (tied embeddings)",
    "bert": "BERT-base-shaped classifier, full fine-tuning",
}
# (median time, peak memory) as a multiple of non-private; None = no goal
GOALS = {"gpt2_lora": (1.10, None), "gpt2_full": (1.25, 1.20), "bert": (1.25, 1.20)}
NOISE, CLIP, LR = 1.0, 1.0, 1e-4
MEMORY_STEPS = 3


@dataclass(frozen=True)
class Sizes:
    """Model and batch shapes (GPT-2 ``n_*``, BERT ``bert_*``)."""

    label: str
    n_layer: int
    n_embd: int
    n_head: int
    vocab: int
    n_positions: int
    bert_layers: int
    bert_hidden: int
    bert_heads: int
    bert_intermediate: int
    bert_vocab: int
    seq: int
    batch: int

    def describe(self) -> str:
        return (
            f"{self.label}: GPT-2 n_layer={self.n_layer} n_embd={self.n_embd} n_head={self.n_head} "
            f"vocab={self.vocab}; BERT layers={self.bert_layers} hidden={self.bert_hidden} "
            f"heads={self.bert_heads} intermediate={self.bert_intermediate} vocab={self.bert_vocab}; "
            f"sequence {self.seq}, micro-batch {self.batch}"
        )


FULL = Sizes("full size (GPT-2 small 124M, BERT-base)", 12, 768, 12, 50257, 1024,
             12, 768, 12, 3072, 30522, 128, 16)
TINY = Sizes("tiny (dry run)", 1, 32, 2, 97, 16, 1, 32, 2, 64, 97, 16, 4)


class NotAvailable(Exception):
    """A configuration that cannot run here; ``str()`` is the reason."""


@dataclass
class Runner:
    """One configuration ready to step: ``step()`` is one training step (zero_grad, forward,
    per-sample loss, backward, optimizer step); ``sync()`` waits for background work."""

    step: Callable[[], None]
    clipping: str
    note: str = ""
    sync: Callable[[], None] = lambda: None
    opacus_mode: str | None = None
    trainable: int = 0
    total: int = 0


@dataclass
class Cell:
    """One row of a table: timings in seconds, memory in MiB, or ``na`` with its reason."""

    clipping: str = ""
    note: str = ""
    best: float | None = None
    median: float | None = None
    memory: float | None = None
    memory_na: str = ""
    na: str = ""
    extra: dict = field(default_factory=dict)


def _short(exc: BaseException, limit: int = 150) -> str:
    """Exception type and the first line of its message, shortened (shapes, never data)."""
    lines = str(exc).strip().splitlines()
    msg = lines[0] if lines else ""
    text = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# models, data, loss
# --------------------------------------------------------------------------------------------


def build_model(name: str, sizes: Sizes):
    """The model ``name`` at ``sizes``, random weights (call under ``torch.device(...)``)."""
    if name == "bert":
        from transformers import BertConfig, BertForSequenceClassification

        cfg = BertConfig(
            vocab_size=sizes.bert_vocab, hidden_size=sizes.bert_hidden,
            num_hidden_layers=sizes.bert_layers, num_attention_heads=sizes.bert_heads,
            intermediate_size=sizes.bert_intermediate, max_position_embeddings=max(512, sizes.seq),
            num_labels=2,
        )
        return BertForSequenceClassification(cfg)
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        n_layer=sizes.n_layer, n_embd=sizes.n_embd, n_head=sizes.n_head, vocab_size=sizes.vocab,
        n_positions=sizes.n_positions, bos_token_id=sizes.vocab - 1, eos_token_id=sizes.vocab - 1,
    )
    model = GPT2LMHeadModel(cfg)
    if name == "gpt2_lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["c_attn"],
                          fan_in_fan_out=True)
        model = get_peft_model(model, lora)
    return model


def make_batch(name: str, sizes: Sizes, device) -> tuple[dict, object]:
    """Fixed inputs and labels: random tokens, right padding to lengths between seq/2 and seq."""
    import torch

    g = torch.Generator().manual_seed(1234)
    B, T = sizes.batch, sizes.seq
    vocab = sizes.bert_vocab if name == "bert" else sizes.vocab
    ids = torch.randint(0, vocab, (B, T), generator=g)
    lengths = torch.randint(T // 2, T + 1, (B,), generator=g)
    lengths[0] = T
    mask = (torch.arange(T)[None, :] < lengths[:, None]).long()
    inputs = {"input_ids": ids, "attention_mask": mask,
              "position_ids": torch.arange(T).expand(B, T).contiguous()}
    if name == "bert":
        inputs["token_type_ids"] = torch.zeros_like(ids)
        labels = torch.randint(0, 2, (B,), generator=g)
    else:
        labels = ids.masked_fill(mask == 0, -100)
    return {k: v.to(device) for k, v in inputs.items()}, labels.to(device)


def _criterion(kind: str):
    """Per-sample loss with a ``reduction`` attribute (``"none"``: one loss per sample, which
    Opacus's ghost wrapper asks for). LM: each sample's token mean over its own tokens."""
    import torch
    import torch.nn.functional as F

    class SampleLoss(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.reduction = "mean"

        def forward(self, logits, labels):
            if kind == "lm":
                lg, lb = logits[:, :-1], labels[:, 1:]
                tok = F.cross_entropy(lg.flatten(0, 1).float(), lb.flatten(), reduction="none",
                                      ignore_index=-100).view(lb.shape)
                per = tok.sum(1) / (lb != -100).sum(1).clamp(min=1)
            else:
                per = F.cross_entropy(logits.float(), labels, reduction="none")
            if self.reduction == "none":
                return per
            return per.sum() if self.reduction == "sum" else per.mean()

    return SampleLoss()


# --------------------------------------------------------------------------------------------
# the three columns
# --------------------------------------------------------------------------------------------


def _fresh(name: str, sizes: Sizes, device):
    import torch

    torch.manual_seed(0)
    with torch.device(device):
        model = build_model(name, sizes)
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LR)
    counts = (sum(p.numel() for p in params), sum(p.numel() for p in model.parameters()))
    return model, opt, counts


def _loader(inputs: dict, labels, batch: int):
    from torch.utils.data import DataLoader, TensorDataset

    # q = 1: the loader only serves the accounting; every step uses the fixed batch
    return DataLoader(TensorDataset(inputs["input_ids"].cpu(), labels.cpu()), batch_size=batch)


def _unsampled(model, registry) -> list[str]:
    """Types of modules owning trainable parameters that ``registry`` has no entry for."""
    out = set()
    for m in model.modules():
        if any(p.requires_grad for p in m.parameters(recurse=False)) and type(m) not in registry:
            out.add(type(m).__name__)
    return sorted(out)


def _wire_opacus(model, opt, loader, crit, mode: str):
    from opacus import PrivacyEngine

    engine = PrivacyEngine(accountant="rdp")
    out = engine.make_private(module=model, optimizer=opt, data_loader=loader, criterion=crit,
                              noise_multiplier=NOISE, max_grad_norm=CLIP, grad_sample_mode=mode,
                              poisson_sampling=False)
    return (out[0], out[1], out[2]) if mode == "ghost" else (out[0], out[1], crit)


def _ours_label(private) -> tuple[str, str]:
    mode = private.mode.mode
    if mode == "bookkeeping":
        return "bookkeeping", ""
    fallbacks = getattr(private.mode, "fallbacks", ()) or ()
    types_ = sorted({t for _, t, _ in fallbacks})
    why = ("no book-keeping rule for " + ", ".join(types_)) if types_ else private.mode.reason
    return f"{mode} (fallback)", "ours fell back to Opacus " + mode + ": " + why


def build_runner(name: str, column: str, sizes: Sizes, device, precision: str,
                 opacus_mode: str | None = None) -> Runner:
    """Build ``column`` for model ``name`` and run one (untimed) step.

    Raises :class:`NotAvailable` with the reason when the configuration cannot run.
    ``opacus_mode`` skips the ghost attempt (the mode an earlier build settled on).
    """
    inputs, labels = make_batch(name, sizes, device)
    kind = "cls" if name == "bert" else "lm"
    autocast = precision == "bf16"
    if column == "opacus":
        return _build_opacus(name, sizes, device, inputs, labels, kind, autocast, opacus_mode)
    model, opt, counts = _fresh(name, sizes, device)
    crit, clipping, note, sync = _criterion(kind), "none (plain torch)", "", (lambda: None)
    if column == "ours":
        from auditkit.privacy.dp import make_private

        try:
            private = make_private(model, opt, _loader(inputs, labels, sizes.batch),
                                   noise_multiplier=NOISE, epochs=1, max_grad_norm=CLIP,
                                   accountant="rdp", mode="auto", device=device, criterion=crit)
        except Exception as exc:  # noqa: BLE001 - a refusal is reported in the table
            raise NotAvailable(f"make_private refused: {_short(exc)}") from None
        model, opt, crit = private.model, private.optimizer, private.criterion
        clipping, note = _ours_label(private)
        sync = getattr(opt, "synchronize", sync)
    step = _stepper(model, opt, crit, inputs, labels, device, autocast)
    try:
        step()
    except Exception as exc:  # noqa: BLE001 - any failure is reported in the table
        raise NotAvailable(f"{clipping}: {_short(exc)}") from None
    return Runner(step, clipping, note, sync, trainable=counts[0], total=counts[1])


def _build_opacus(name, sizes, device, inputs, labels, kind, autocast, known) -> Runner:
    from opacus.grad_sample import GradSampleModule

    tried = []
    for mode in ([known] if known else ["ghost", "hooks"]):
        model, opt, counts = _fresh(name, sizes, device)
        missing = _unsampled(model, GradSampleModule.GRAD_SAMPLERS)
        label = mode + (f" (functorch for {', '.join(missing)})" if missing else "")
        try:
            m, o, c = _wire_opacus(model, opt, _loader(inputs, labels, sizes.batch),
                                   _criterion(kind), mode)
            step = _stepper(m, o, c, inputs, labels, device, autocast)
            step()
        except Exception as exc:  # noqa: BLE001 - refusal falls back, then is reported
            tried.append((mode, _short(exc)))
            del model, opt
            gc.collect()
            continue
        note = f"Opacus ghost clipping refused the model ({tried[0][1]})" if tried else ""
        return Runner(step, label, note, opacus_mode=mode, trainable=counts[0], total=counts[1])
    raise NotAvailable("; ".join(f"{mode}: {why}" for mode, why in tried))


def _stepper(model, opt, crit, inputs: dict, labels, device, autocast: bool):
    import torch

    dev_type = torch.device(device).type

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev_type, dtype=torch.bfloat16, enabled=autocast):
            logits = model(**inputs).logits
            loss = crit(logits, labels)
        loss.backward()
        opt.step()

    return step


# --------------------------------------------------------------------------------------------
# timing and memory
# --------------------------------------------------------------------------------------------


def _device_sync(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_runners(runners: dict[str, Runner], device, *, steps: int, block: int,
                 warmup: int) -> dict[str, tuple[float, float]]:
    """Best and median wall seconds per step of every runner.

    Runners take turns in blocks of ``block`` timed steps, each turn opened by one untimed step
    and closed by waiting (untimed) for background work (ours draws the next step's noise on a
    second thread), so a burst of load hits every configuration alike.
    """
    for r in runners.values():
        for _ in range(warmup):
            r.step()
        r.sync()
    wall: dict[str, list[float]] = {c: [] for c in runners}
    while any(len(w) < steps for w in wall.values()):
        for col, r in runners.items():
            r.step()
            for _ in range(min(block, steps - len(wall[col]))):
                _device_sync(device)
                t = time.perf_counter()
                r.step()
                _device_sync(device)
                wall[col].append(time.perf_counter() - t)
            r.sync()
    return {c: (min(w), statistics.median(w)) for c, w in wall.items()}


def _status_kib(field_name: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def _free(device) -> None:
    import torch

    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()


def peak_memory_mib(name: str, column: str, sizes: Sizes, device, precision: str,
                    opacus_mode: str | None = None, steps: int = MEMORY_STEPS) -> float:
    """Peak memory (MiB) of building ``column`` and running ``steps + 1`` steps, above the
    memory before the model was built. CUDA: ``max_memory_allocated``. CPU: peak RSS (VmHWM,
    reset first) above the RSS before; clean only in a fresh process that has run the same
    configuration once already (so library code paged in by the first run is not counted) and
    returns freed memory to the system (``MALLOC_MMAP_THRESHOLD_`` set)."""
    import torch

    _free(device)
    cuda = torch.device(device).type == "cuda"
    if cuda:
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        base = _status_kib("VmRSS") * 1024
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    runner = build_runner(name, column, sizes, device, precision, opacus_mode)
    for _ in range(steps):
        runner.step()
    runner.sync()
    if cuda:
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
    else:
        peak = _status_kib("VmHWM") * 1024
    del runner
    _free(device)
    return max(0, peak - base) / 2**20


MemoryFn = Callable[[str, str, str, "str | None"], float]


def run_model(name: str, sizes: Sizes, device, precision: str, *, steps: int, block: int,
              warmup: int, memory: MemoryFn | None) -> dict[str, Cell]:
    """Every column of one model: timed side by side, then peak memory one at a time.

    ``memory(name, column, precision, opacus_mode)`` gives MiB (``None``: not measured).
    """
    cells: dict[str, Cell] = {}
    runners: dict[str, Runner] = {}
    for col in COLUMNS:
        try:
            runners[col] = build_runner(name, col, sizes, device, precision)
        except NotAvailable as exc:
            cells[col] = Cell(na=str(exc))
            _free(device)
            continue
        r = runners[col]
        cells[col] = Cell(r.clipping, r.note,
                          extra={"opacus_mode": r.opacus_mode, "params": (r.trainable, r.total)})
    load = os.getloadavg()[0]
    for col, (best, median) in time_runners(runners, device, steps=steps, block=block,
                                            warmup=warmup).items():
        cells[col].best, cells[col].median = best, median
    for cell in cells.values():
        cell.extra["load"] = (load, os.getloadavg()[0])
    runners.clear()
    _free(device)
    for col, cell in cells.items():
        if cell.na:
            continue
        if memory is None:
            cell.memory_na = "not measured"
            continue
        try:
            cell.memory = memory(name, col, precision, cell.extra.get("opacus_mode"))
        except Exception as exc:  # noqa: BLE001 - reported in the table
            cell.memory_na = _short(exc)
    return cells


# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------

HEAD = (f"{'config':<12} {'clipping':<34} {'best ms':>9} {'x':>6} {'median ms':>10} {'x':>6} "
        f"{'peak MiB':>9} {'x':>6}")


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:6.2f}" if value is not None and base and base >= 5e-4 else f"{'-':>6}"


def _row(col: str, cell: Cell, base: Cell) -> str:
    if cell.na:
        return f"{col:<12} n/a: {cell.na}"
    mem = f"{cell.memory:9.1f}" if cell.memory is not None else f"{'n/a':>9}"
    return (f"{col:<12} {cell.clipping[:34]:<34} {cell.best * 1e3:9.1f} "
            f"{_ratio(cell.best, base.best)} {cell.median * 1e3:10.1f} "
            f"{_ratio(cell.median, base.median)} {mem} {_ratio(cell.memory, base.memory)}")


def goal_line(name: str, cells: dict[str, Cell]) -> str:
    """The issue's goals for this row, measured: met or MISSED (or why not judged)."""
    base, ours, opacus = cells["non-private"], cells["ours"], cells["opacus"]
    if base.na or ours.na:
        return "goals: not judged (" + ("non-private" if base.na else "ours") + " n/a)"
    t_goal, m_goal = GOALS[name]
    r = ours.median / base.median
    parts = [f"median <= {t_goal:.2f}x non-private: {r:.2f}x {'met' if r <= t_goal else 'MISSED'}"]
    if m_goal is not None:
        if ours.memory is None or base.memory is None:
            parts.append(f"peak memory <= {m_goal:.2f}x: not measured")
        elif base.memory < 0.5:
            parts.append(f"peak memory <= {m_goal:.2f}x: too small to compare")
        else:
            mr = ours.memory / base.memory
            parts.append(f"peak memory <= {m_goal:.2f}x: {mr:.2f}x {'met' if mr <= m_goal else 'MISSED'}")
    if opacus.na:
        parts.append("ahead of Opacus: not judged (Opacus n/a; its failure is no speed win)")
    else:
        f = opacus.median / ours.median
        parts.append(f"ahead of Opacus {opacus.clipping.split()[0]}: {f:.2f}x faster "
                     f"{'met' if f > 1 else 'MISSED'}")
    tail = "" if ours.clipping == "bookkeeping" else "  [ours did not run book-keeping]"
    return "goals: " + "; ".join(parts) + tail


def format_section(name: str, precision: str, cells: dict[str, Cell]) -> list[str]:
    """One model's table: a row per column, notes (fallbacks, n/a memory), the goals line."""
    params = next((c.extra["params"] for c in cells.values() if c.extra.get("params")), None)
    count = f" - {params[0] / 1e6:.2f}M of {params[1] / 1e6:.2f}M parameters trained" if params else ""
    lines = [f"## {TITLES[name]} [{precision}]{count}", HEAD]
    lines += [_row(col, cells[col], cells["non-private"]) for col in COLUMNS]
    for col in COLUMNS:
        if cells[col].note:
            lines.append(f"  note ({col}): {cells[col].note}")
        if cells[col].memory_na and not cells[col].na:
            lines.append(f"  peak memory n/a ({col}): {cells[col].memory_na}")
    lines.append(goal_line(name, cells))
    load = next((c.extra["load"] for c in cells.values() if c.extra.get("load")), None)
    if load:
        lines.append(f"load average (1 min) before / after timing: {load[0]:.1f} / {load[1]:.1f}")
    return lines + [""]


def versions() -> str:
    """Library versions, one line."""
    import opacus
    import peft
    import torch
    import transformers

    try:
        from importlib.metadata import version

        ours = version("auditkit-rai")
    except Exception:  # noqa: BLE001 - a checkout run has no installed metadata
        ours = "checkout"
    return (f"python {platform.python_version()}, torch {torch.__version__}, transformers "
            f"{transformers.__version__}, peft {peft.__version__}, opacus {opacus.__version__}, "
            f"auditkit {ours}")


def legend(steps: int, block: int, warmup: int, memory: str) -> list[str]:
    return [
        f"step time: best and median of {steps} timed steps per configuration, taken in turns of "
        f"{block} (+1 untimed) after 1 + {warmup} warm-up steps; x = ratio to non-private",
        f"peak memory: {memory}",
        "same weights, data (right-padded, attention mask, position_ids [batch, seq] for every "
        "column), AdamW, micro-batch; per-sample loss (LM: mean over the sample's own tokens), "
        f"batch mean; sigma={NOISE}, C={CLIP}, accountant rdp (sigma given: nothing solved)",
        "",
    ]


# --------------------------------------------------------------------------------------------
# the GPU script
# --------------------------------------------------------------------------------------------


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="cuda (default when present) or cpu")
    ap.add_argument("--tiny", action="store_true", help="tiny models: a dry run of the script")
    ap.add_argument("--precision", default="fp32,bf16", help="comma list of fp32, bf16 (autocast)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--block", type=int, default=5)
    ap.add_argument("--batch", type=int, default=None, help="micro-batch (default 16; tiny 4)")
    ap.add_argument("--out", default=None,
                    help="file or folder for the table (default: $OUT/dp_transformers_gpu.txt when "
                         "$OUT is set)")
    return ap.parse_args(argv)


def _out_path(arg: str | None) -> Path | None:
    if arg is None:
        return Path(os.environ["OUT"]) / "dp_transformers_gpu.txt" if os.environ.get("OUT") else None
    path = Path(arg)
    return path / "dp_transformers_gpu.txt" if path.is_dir() else path


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    warnings.filterwarnings("ignore")
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    if args.device == "auto":
        if not torch.cuda.is_available():
            print("no CUDA device: give --device cpu (with --tiny for a dry run)", file=sys.stderr)
            return 2
        args.device = "cuda"
    device = torch.device(args.device)
    sizes = TINY if args.tiny else FULL
    if args.batch:
        sizes = replace(sizes, batch=args.batch)
    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    cuda = device.type == "cuda"
    memory_desc = ("CUDA max_memory_allocated over build + steps, above the allocation before the "
                   "model was built" if cuda else
                   "peak RSS above the RSS before the model was built, in this process (approximate "
                   "on CPU: use benchmarks/bench_dp_transformers.py for fresh-process figures)")
    started = time.perf_counter()
    lines = [
        "# bench_dp_transformers_gpu: DP fine-tuning of transformers, step time and peak memory",
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"machine: {platform.machine()} cpus={os.cpu_count()} device={device}"
        + (f" ({torch.cuda.get_device_name(device)}); TF32 matmul "
           f"{torch.backends.cuda.matmul.allow_tf32}" if cuda else f" threads={torch.get_num_threads()}"),
        versions(),
        f"load average at start: {os.getloadavg()[0]:.1f}",
        f"sizes: {sizes.describe()}",
        *legend(args.steps, args.block, args.warmup, memory_desc),
    ]
    print("\n".join(lines), flush=True)
    for precision in precisions:
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            def mem(n, col, prec, mode):
                return peak_memory_mib(n, col, sizes, device, prec, mode)

            cells = run_model(name, sizes, device, precision, steps=args.steps, block=args.block,
                              warmup=args.warmup, memory=mem)
            section = format_section(name, precision, cells)
            print("\n".join(section), flush=True)
            lines += section
    lines.append(f"total wall time: {time.perf_counter() - started:.0f} s")
    print(lines[-1])
    out = _out_path(args.out)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines) + "\n")
        print(f"saved to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
