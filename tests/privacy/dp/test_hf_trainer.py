"""PrivateTrainer: a Hugging Face Trainer whose every step is DP-SGD through make_private.

Known answers: the update of one logical step equals brute-force per-sample clipping (each
sample alone at its own length, clipped, summed, divided by the expected batch size) in float64;
ε equals ``epsilon()`` of the run's (σ, q, steps). Models are tiny and built from configs
(nothing downloaded); nothing is reported anywhere (report_to="none"), all files go to tmp_path.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path

import pytest
import torch
from torch.utils.data import Dataset

from auditkit.privacy.dp._accounting import epsilon
from auditkit.privacy.dp._attack import membership_inference
from auditkit.privacy.dp._hf import CHECKPOINT_FILE, PrivateTrainer
from auditkit.privacy.dp._hf_loss import sequence_loss
from auditkit.privacy.dp._ledger import BudgetLedger
from auditkit.privacy.errors import PrivacyInputError

V, T = 97, 8


def tiny_bert(seed: int = 0):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=V, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32, num_labels=2,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertForSequenceClassification(config)


def tiny_gpt2(seed: int = 0):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=V, n_positions=32, resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(config)


class Rows(Dataset):
    """Right-padded token rows of random lengths 2..T: a classifier's (one label per row) or a
    causal LM's (labels = ids, -100 on padding)."""

    def __init__(self, n: int = 48, *, kind: str = "cls", seed: int = 0, token_types: bool = True) -> None:
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, V, (n, T), generator=g)
        self.lengths = torch.randint(2, T + 1, (n,), generator=g)
        self.labels = (self.ids[:, 0] > V // 2).long()
        self.kind = kind
        self.token_types = token_types

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        mask = (torch.arange(T) < self.lengths[i]).long()
        ids = self.ids[i] * mask
        if self.kind == "cls":
            # token_type_ids as BERT's tokenizer gives them, or none (BERT then makes up stride-0
            # ids: test_bert_without_token_type_ids_trains_as_with_them)
            row = {"input_ids": ids, "attention_mask": mask, "labels": self.labels[i]}
            return {**row, "token_type_ids": torch.zeros_like(ids)} if self.token_types else row
        return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}


def args(tmp_path: Path, **kw):
    from transformers import TrainingArguments

    base = dict(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True, save_strategy="no",
                logging_strategy="no", disable_tqdm=True, per_device_train_batch_size=3,
                gradient_accumulation_steps=2, max_steps=3, learning_rate=1e-2, seed=0)
    base.update(kw)
    return TrainingArguments(**base)


class Recorder(PrivateTrainer):
    """Keeps every logical batch and counts the model's forward passes (micro-batches)."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.batches: list[dict[str, torch.Tensor]] = []
        self.forwards = 0

    def training_step(self, model, inputs, num_items_in_batch=None):
        self.batches.append({k: v.clone() for k, v in inputs.items()})
        return super().training_step(model, inputs, num_items_in_batch)

    def per_sample_loss(self, model, inputs):
        self.forwards += 1
        return super().per_sample_loss(model, inputs)


def trainer(tmp_path: Path, model=None, data=None, *, privacy=None, cls=Recorder, **kw):
    privacy = privacy if privacy is not None else dict(noise_multiplier=1.0, accountant="rdp")
    return cls(model=model if model is not None else tiny_bert(), args=args(tmp_path, **kw),
               train_dataset=data if data is not None else Rows(), privacy=privacy)


# -- the update is per-sample clipping, exactly ----------------------------------------------------
def brute_force_sum(model, batch, kind: str, max_grad_norm: float) -> list[torch.Tensor]:
    """Sum over samples of each one's gradient (alone, at its own length) clipped to C, float64."""
    model = copy.deepcopy(model).double()
    params = [p for p in model.parameters() if p.requires_grad]
    total = [torch.zeros_like(p) for p in params]
    for i in range(len(batch["labels"])):
        n = int(batch["attention_mask"][i].sum())
        out = model(input_ids=batch["input_ids"][i:i + 1, :n])
        if kind == "cls":
            loss = torch.nn.functional.cross_entropy(out.logits, batch["labels"][i:i + 1])
        else:
            loss = sequence_loss(out.logits, batch["input_ids"][i:i + 1, :n])[0]
        grads = torch.autograd.grad(loss, params)
        norm = float(torch.sqrt(sum(g.pow(2).sum() for g in grads)))
        for t, g in zip(total, grads, strict=True):
            t += min(1.0, max_grad_norm / (norm + 1e-6)) * g
    return total


@pytest.mark.parametrize(
    "kind,mode",
    [("cls", "bookkeeping"), ("lm", "bookkeeping"), ("cls", "ghost"), ("cls", "hooks")],
    ids=["bert-classifier", "gpt2-lm", "bert-ghost", "bert-hooks"],
)
def test_one_logical_step_is_brute_force_per_sample_clipping(tmp_path: Path, kind: str, mode: str) -> None:
    """The gradient the optimizer applies = Σ_i clip(g_i) / E[batch] (σ ≈ 0): Poisson batch,
    micro-batches of 3 (book-keeping; Opacus's modes take the batch at once), padding, the loss
    per sample, and the Trainer's own clipping (1e-3 here, far below the update's norm) disabled."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    model = tiny_bert() if kind == "cls" else tiny_gpt2()
    reference = copy.deepcopy(model)
    C = 0.05
    tr = trainer(tmp_path, model, Rows(kind=kind), privacy=dict(noise_multiplier=1e-10, epochs=1, max_grad_norm=C,
                                                                accountant="rdp", mode=mode),
                 max_steps=1, learning_rate=1.0, optim="sgd", weight_decay=0.0, max_grad_norm=1e-3, seed=3)
    applied: dict[int, torch.Tensor] = {}

    def keep(opt, *_):
        if type(opt) is torch.optim.SGD:
            applied.update({id(p): p.grad.detach().double().clone() for g in opt.param_groups for p in g["params"]})

    hook = register_optimizer_step_pre_hook(keep)
    try:
        tr.train()
    finally:
        hook.remove()
    (batch,) = tr.batches
    assert len(batch["labels"]) > 3  # several micro-batches
    assert tr.forwards == (-(-len(batch["labels"]) // 3) if mode == "bookkeeping" else 1)
    expected_batch = tr.private.optimizer.expected_batch_size
    assert expected_batch == 6
    expect = brute_force_sum(reference, batch, kind, C)
    got = [applied[id(p)] * expected_batch for p in model.parameters() if p.requires_grad]
    scale = max(float(e.abs().max()) for e in expect)
    flat_got, flat_expect = torch.cat([g.reshape(-1) for g in got]), torch.cat([e.reshape(-1) for e in expect])
    assert float((flat_got - flat_expect).norm() / flat_expect.norm()) < 1e-5
    for g, e in zip(got, expect, strict=True):
        if float(e.abs().max()) > 1e-2 * scale:
            assert float((g - e).abs().max() / e.abs().max()) < 1e-5
    assert float(flat_got.norm()) / expected_batch > 1e-3 * 4  # so the Trainer's 1e-3 would have bitten


# -- sampling, steps, accounting, ledger -----------------------------------------------------------
def test_poisson_batches_one_step_each_accounted_and_recorded(tmp_path: Path, monkeypatch) -> None:
    from transformers import Trainer

    def refuse(self, model):
        raise AssertionError("Trainer._clip_grad_norm ran")

    monkeypatch.setattr(Trainer, "_clip_grad_norm", refuse)  # the Trainer's own clipping is off
    tr = trainer(tmp_path, privacy=dict(target_epsilon=3.0, accountant="rdp", ledger=tmp_path / "ledger",
                                        dataset_id="rows"), max_steps=8, logging_strategy="steps", logging_steps=4)
    assert tr.args.gradient_accumulation_steps == 1 and tr.args.max_grad_norm == 0.0
    assert tr.logical_accumulation == 2
    out = tr.train()
    sizes = [len(b["labels"]) for b in tr.batches]
    assert len(set(sizes)) > 1  # Poisson: the logical batch size varies
    assert tr.forwards == sum(-(-s // 3) for s in sizes)  # micro-batches of at most 3
    budget = tr.private.budget
    assert out.global_step == tr.state.global_step == budget.steps == len(sizes) == 8
    assert budget.sample_rate == pytest.approx(1 / 8)  # 48 rows, logical batches of 3 × 2
    assert tr.private.epsilon == pytest.approx(epsilon([(budget.noise_multiplier, 1 / 8, 8)], budget.delta, "rdp"))
    logged = [e for e in tr.state.log_history if "loss" in e]
    assert [e["dp_steps"] for e in logged] == [4, 8] and "grad_norm" not in logged[0]
    assert logged[-1]["epsilon"] == pytest.approx(tr.private.epsilon)
    (run,) = BudgetLedger(tmp_path / "ledger", "rows").runs()
    assert run.status == "completed" and run.steps == 8
    assert run.record["mode"] == "bookkeeping"
    with pytest.raises(PrivacyInputError, match="finished"):
        tr.train()


@pytest.mark.parametrize("kind", ["cls", "lm"], ids=["bert-classifier", "gpt2-lm"])
def test_bf16_update_is_within_2e_2_of_float32(tmp_path: Path, kind: str) -> None:
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    def first_update(bf16: bool) -> torch.Tensor:
        model = tiny_bert() if kind == "cls" else tiny_gpt2()
        applied: dict[str, torch.Tensor] = {}

        def keep(opt, *_):
            if type(opt) is torch.optim.SGD:
                applied.update({n: p.grad.float().clone() for n, p in model.named_parameters() if p.grad is not None})

        hook = register_optimizer_step_pre_hook(keep)
        try:
            trainer(tmp_path / str(bf16), model, Rows(kind=kind), max_steps=1, optim="sgd", seed=3, bf16=bf16,
                    privacy=dict(noise_multiplier=1e-10, epochs=1, max_grad_norm=0.05, accountant="rdp")).train()
        finally:
            hook.remove()
        return torch.cat([applied[n].reshape(-1) for n in sorted(applied)])

    exact, half = first_update(False), first_update(True)
    assert 0 < float((half - exact).norm() / exact.norm()) < 2e-2  # > 0: bf16 did run


def test_the_budget_cap_stops_training_with_state_saved(tmp_path: Path) -> None:
    sigma, q, delta = 1.0, 1 / 8, 1e-3
    cap = (epsilon([(sigma, q, 3)], delta, "rdp") + epsilon([(sigma, q, 4)], delta, "rdp")) / 2
    tr = trainer(tmp_path, privacy=dict(noise_multiplier=sigma, epochs=2, accountant="rdp", target_delta=delta,
                                        max_epsilon=cap, on_cap="stop", checkpoint_dir=tmp_path / "cap"),
                 max_steps=10)
    out = tr.train()
    assert tr.stopped_at_cap is not None and "cap reached" in tr.stopped_at_cap
    assert out.global_step == tr.private.budget.steps == 3
    assert tr.private.budget.stopped_at_cap and tr.private.epsilon <= cap
    assert len(tr.batches) == 4  # the fourth batch was drawn, its step refused
    assert [p.name for p in (tmp_path / "cap").iterdir()] == ["run-at-cap.pt"]


def test_an_empty_poisson_batch_is_a_step(tmp_path: Path) -> None:
    """20 rows, logical batches of 1: about a third of the draws are empty; each is a counted,
    noised step with no forward pass (a Hugging Face model cannot run on zero rows)."""
    tr = trainer(tmp_path, data=Rows(20), max_steps=8, per_device_train_batch_size=1, gradient_accumulation_steps=1)
    tr.train()
    sizes = [len(b["labels"]) for b in tr.batches]
    assert 0 in sizes and tr.forwards == sum(sizes)
    assert tr.private.budget.steps == tr.state.global_step == 8


@pytest.mark.parametrize("mode", ["bookkeeping", "ghost", "hooks"])
def test_private_trainer_whose_first_draw_is_empty_trains(first_draw_empty, tmp_path: Path, mode):
    """The Hugging Face case: a list of dict rows, the first logical batch empty."""
    tr = trainer(tmp_path, data=Rows(20), max_steps=4, per_device_train_batch_size=2,
                 gradient_accumulation_steps=1,
                 privacy=dict(noise_multiplier=1.0, accountant="rdp", mode=mode))
    tr.train()
    sizes = [len(b["labels"]) for b in tr.batches]
    assert sizes[0] == 0 and sum(sizes) > 0
    # no forward pass on an empty batch: book-keeping runs micro-batches of 2, Opacus's modes
    # the logical batch at once
    per_batch = (lambda n: -(-n // 2)) if mode == "bookkeeping" else (lambda n: int(n > 0))
    assert tr.forwards == sum(per_batch(n) for n in sizes)
    assert tr.private.budget.steps == tr.state.global_step == 4


@pytest.mark.parametrize("mode", ["bookkeeping", "ghost", "hooks"])
def test_bert_without_token_type_ids_trains_as_with_them(tmp_path: Path, mode) -> None:
    """BERT makes its default token_type_ids by expanding a [1, T] buffer (stride 0 along the
    batch), which Opacus's embedding norms cannot read; the trainer gives the embeddings a
    contiguous copy: the same steps as with the zeros passed in."""
    trained = []
    for token_types in (True, False):
        tr = trainer(tmp_path / str(token_types), data=Rows(24, token_types=token_types), max_steps=2,
                     privacy=dict(noise_multiplier=1.0, accountant="rdp", mode=mode))
        tr.train()
        assert tr.private.mode.mode == mode
        trained.append([p.detach().clone() for p in tr.model.parameters()])
    for a, b in zip(*trained, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rows,steps,taken", [
    (48, dict(max_steps=10), 10),  # logical batches of 2: 24 an epoch
    (48, dict(max_steps=30), 30),
    (48, dict(max_steps=-1, num_train_epochs=1.5), 36),
    (50, dict(max_steps=-1, num_train_epochs=2.2), 56),  # 25 an epoch: 2.2 × 25 = 55.000...01
    (186, dict(max_steps=-1, num_train_epochs=1), 92),  # 93 batches; Opacus's loader has 92
], ids=["max_steps-10", "max_steps-30", "epochs-1.5", "epochs-2.2", "epochs-1-of-93-batches"])
def test_the_noise_is_calibrated_for_the_steps_the_trainer_takes(tmp_path: Path, rows, steps, taken) -> None:
    """max_steps, or num_train_epochs (fractional, or over a Poisson loader Opacus makes one batch
    shorter): the noise is calibrated for exactly the steps the Trainer takes, so the run spends
    its target ε: not less (a whole epoch's worth of extra noise), never more."""
    tr = trainer(tmp_path, data=Rows(rows), privacy=dict(target_epsilon=3.0, accountant="rdp"),
                 per_device_train_batch_size=1, gradient_accumulation_steps=2, **steps)
    tr.train()
    budget = tr.private.budget
    assert tr.state.global_step == budget.steps == budget.planned_steps == taken
    assert tr.private.epsilon == pytest.approx(3.0, abs=0.011)  # noise_for_epsilon's tolerance


# -- checkpoints, TensorBoard --------------------------------------------------------------------
def test_a_trainer_checkpoint_resumes_the_accounting(tmp_path: Path) -> None:
    privacy = dict(noise_multiplier=1.0, epochs=1, accountant="rdp", ledger=tmp_path / "ledger", dataset_id="rows")
    first = trainer(tmp_path, privacy=privacy, max_steps=3, save_strategy="steps", save_steps=3)
    first.train()
    folder = tmp_path / "out" / "checkpoint-3"
    assert (folder / CHECKPOINT_FILE).is_file()
    second = trainer(tmp_path, tiny_bert(seed=1), privacy=privacy, max_steps=5)
    second.train(resume_from_checkpoint=str(folder))
    budget = second.private.budget
    assert second.state.global_step == budget.steps == 5
    assert second.private.epsilon == pytest.approx(epsilon([(1.0, 1 / 8, 5)], budget.delta, "rdp"))
    (run,) = BudgetLedger(tmp_path / "ledger", "rows").runs()  # the same record, continued
    assert run.steps == 5 and run.status == "completed"
    # the second trainer went on from the checkpoint's weights, not its own seed-1 ones
    gap_first = (second.model.classifier.weight - first.model.classifier.weight).abs().max()
    gap_seed = (second.model.classifier.weight - tiny_bert(seed=1).classifier.weight).abs().max()
    assert gap_first < gap_seed


def test_a_checkpoint_without_accounting_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    tr = trainer(tmp_path)
    with pytest.raises(PrivacyInputError, match="holds no privacy accounting"):
        tr.train(resume_from_checkpoint=str(tmp_path / "plain"))


def test_tensorboard_logs_every_step(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tr = trainer(tmp_path, max_steps=3, cls=PrivateTrainer)
    tr.tensorboard = tmp_path / "tb"
    tr.train()
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    scalars = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    assert [s for s, _ in scalars["dp/noise_multiplier"]] == [1, 2, 3]
    assert [s for s, _ in scalars["dp/grad_norm/p50"]] == [1, 2, 3]
    assert scalars["dp/epsilon"][-1][0] == 3
    assert scalars["dp/epsilon"][-1][1] == pytest.approx(tr.private.epsilon, rel=1e-6)


def test_tensorboard_log_is_closed_when_training_raises(tmp_path: Path) -> None:
    from transformers import TrainerCallback

    class Boom(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 2:
                raise RuntimeError("boom")

    tr = trainer(tmp_path, max_steps=4, cls=PrivateTrainer)
    tr.tensorboard = tmp_path / "tb"
    tr.add_callback(Boom())
    with pytest.raises(RuntimeError, match="boom"):
        tr.train()
    assert tr._fit_log is None  # closed: its ε worker stopped, its event file closed
    for thread in threading.enumerate():
        if thread.name == "auditkit-dp-epsilon":
            thread.join(timeout=60)
            assert not thread.is_alive()


# -- LoRA, GPT-2, membership inference ------------------------------------------------------------
@pytest.mark.parametrize("kind", ["cls", "lm"], ids=["bert-classifier", "gpt2-lm"])
def test_lora_trains_only_the_adapters(tmp_path: Path, kind: str) -> None:
    from peft import LoraConfig, get_peft_model

    targets = ["query", "value"] if kind == "cls" else ["c_attn"]
    model = get_peft_model(tiny_bert() if kind == "cls" else tiny_gpt2(),
                           LoraConfig(r=4, lora_alpha=8, target_modules=targets, fan_in_fan_out=kind == "lm"))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    tr = trainer(tmp_path, model, Rows(kind=kind), max_steps=2)
    tr.train()
    assert tr.private.mode.mode == "bookkeeping"
    changed = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    adapters = {n for n in before if "lora_A" in n or "lora_B" in n}
    assert adapters and changed == adapters


def test_gpt2_lm_trains_in_bookkeeping_mode(tmp_path: Path) -> None:
    """Needs Conv1D rules and tied-weight norms (wte = lm_head) on the book-keeping path."""
    tr = trainer(tmp_path, tiny_gpt2(), Rows(kind="lm"), max_steps=2)
    tr.train()
    assert tr.private.mode.mode == "bookkeeping"
    assert tr.shift_labels is True and tr.private.budget.steps == 2


def test_membership_inference_on_the_trained_model(tmp_path: Path) -> None:
    members, nonmembers = Rows(48, seed=0), Rows(48, seed=1)
    tr = trainer(tmp_path, data=members, max_steps=4)
    tr.eval_dataset = nonmembers
    tr.train()
    metrics = tr.evaluate()  # the mean per-sample loss
    assert metrics["eval_loss"] > 0

    def losses(rows: Rows):
        model = tr.model.eval()
        with torch.no_grad():
            batch = [rows[i] for i in range(len(rows))]
            ids = torch.stack([b["input_ids"] for b in batch])
            mask = torch.stack([b["attention_mask"] for b in batch])
            labels = torch.stack([b["labels"] for b in batch])
            return sequence_loss(model(input_ids=ids, attention_mask=mask).logits, labels).numpy()

    result = membership_inference(member_losses=losses(members), nonmember_losses=losses(nonmembers),
                                  delta=tr.private.delta, claimed_epsilon=tr.private.epsilon)
    assert result.n_members == result.n_nonmembers == 48
    assert 0.0 <= result.auc <= 1.0
    assert 0.0 <= result.epsilon_lower_bound <= tr.private.epsilon


# -- what is refused --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "privacy,kw,match",
    [
        (dict(target_epsilon=3, max_grad_nrom=1.0), {}, "Did you mean 'max_grad_norm'"),
        (dict(target_epsilon=3, criterion=None), {}, "must not set 'criterion'"),
        ([("target_epsilon", 3)], {}, "must be a dict"),
        (dict(target_epsilon=3), {"label_smoothing_factor": 0.1}, "label smoothing"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, privacy, kw, match) -> None:
    with pytest.raises(PrivacyInputError, match=match):
        trainer(tmp_path, privacy=privacy, **kw)


def test_epochs_below_what_the_trainer_runs_are_refused(tmp_path: Path) -> None:
    tr = trainer(tmp_path, privacy=dict(noise_multiplier=1.0, epochs=1), max_steps=9)  # 8 steps per epoch
    with pytest.raises(PrivacyInputError, match="fewer passes"):
        tr.train()


def test_a_batch_loss_function_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PrivacyInputError, match="per_sample_loss"):
        PrivateTrainer(model=tiny_bert(), args=args(tmp_path), train_dataset=Rows(),
                       privacy=dict(target_epsilon=3), compute_loss_func=lambda *a, **k: 0)


# -- packing: DP clips per row, so a row must be one example ---------------------------------------
class Texts(Dataset):
    """Unpadded token lists of random lengths 3..7 (what a tokenizer gives before collation)."""

    def __init__(self, n: int = 24, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.rows = [torch.randint(1, V, (int(torch.randint(3, 8, (), generator=g)),), generator=g).tolist()
                     for _ in range(n)]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return {"input_ids": self.rows[i]}


def _packing_keys(features):
    """A collator that pads (one row per example) but adds flash-attention packing keys."""
    from transformers import DataCollatorForLanguageModeling

    batch = DataCollatorForLanguageModeling(_pad_tokenizer(), mlm=False)(features)
    lengths = batch["attention_mask"].sum(1)
    batch["cu_seq_lens_q"] = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)])
    return batch


def _restarting_positions(features):
    """One row per example, but position_ids that restart inside a row (two documents in it)."""
    from transformers import DataCollatorForLanguageModeling

    batch = DataCollatorForLanguageModeling(_pad_tokenizer(), mlm=False)(features)
    b, t = batch["input_ids"].shape
    batch["attention_mask"] = torch.ones_like(batch["attention_mask"])
    batch["position_ids"] = torch.cat([torch.arange(2), torch.arange(t - 2)]).repeat(b, 1)
    return batch


def _pad_tokenizer():
    """The least a padding collator needs of a tokenizer, without downloading one."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, **{f"t{i}": i for i in range(1, V)}}
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="<pad>")),
                                   pad_token="<pad>")


@pytest.mark.parametrize("collator", ["flattening", "packing_keys", "restarting_positions"])
def test_a_packing_collator_is_refused(tmp_path: Path, collator: str) -> None:
    from transformers import DataCollatorWithFlattening

    collate = {"flattening": DataCollatorWithFlattening(), "packing_keys": _packing_keys,
               "restarting_positions": _restarting_positions}[collator]
    tr = PrivateTrainer(model=tiny_gpt2(), args=args(tmp_path, remove_unused_columns=False),
                        train_dataset=Texts(), data_collator=collate,
                        privacy=dict(noise_multiplier=1.0, accountant="rdp"))
    with pytest.raises(PrivacyInputError) as info:
        tr.train()
    text = str(info.value)
    assert "one example" in text and "DataCollatorWithPadding" in text
    assert "DataCollatorForLanguageModeling" in text
    if collator == "flattening":
        assert "packed" in text and "into 1 row" in text
    assert tr.private.budget.steps == 0  # refused before any step was taken
    for row in Texts().rows:  # no raw value (token id) in the message
        assert str(row) not in text


def test_a_padding_collator_still_trains(tmp_path: Path) -> None:
    from transformers import DataCollatorForLanguageModeling

    tr = Recorder(model=tiny_gpt2(), args=args(tmp_path, remove_unused_columns=False), train_dataset=Texts(),
                  data_collator=DataCollatorForLanguageModeling(_pad_tokenizer(), mlm=False),
                  privacy=dict(noise_multiplier=1.0, accountant="rdp"))
    tr.train()
    assert tr.private.budget.steps == 3 and tr.state.global_step == 3
    assert all(b["input_ids"].shape[0] == b["attention_mask"].shape[0] for b in tr.batches)


def test_the_row_check_wraps_any_collate_function() -> None:
    from auditkit.privacy.dp._hf_setup import OneRowPerExample

    def merge(features):  # any collator that merges examples into fewer rows
        return {"input_ids": torch.tensor([sum((f["input_ids"] for f in features), [])])}

    wrapped = OneRowPerExample(merge)
    assert wrapped([{"input_ids": [5, 6]}])["input_ids"].shape == (1, 2)  # one example, one row
    with pytest.raises(PrivacyInputError, match=r"packed 3 examples into 1 row"):
        wrapped([{"input_ids": [5, 6]}, {"input_ids": [7]}, {"input_ids": [8, 9]}])
    assert wrapped([])["input_ids"].shape == (1, 0)  # no example: nothing to check
    left = OneRowPerExample(lambda f: {"input_ids": torch.ones(2, 4, dtype=torch.long),
                                       "attention_mask": torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]]),
                                       "position_ids": torch.tensor([[1, 1, 0, 1], [0, 1, 2, 3]])})
    assert left([{}, {}])["input_ids"].shape == (2, 4)  # left padding: positions restart only on padding
