"""fit(..., tensorboard=DIR): the scalars TensorBoard reads back are the run's own numbers."""

from __future__ import annotations

import copy
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from auditkit.privacy.dp import epsilon, fit, make_private
from auditkit.privacy.dp._tb_epsilon import EpsilonWorker
from auditkit.privacy.dp._tensorboard import QUANTILES, norm_scalars
from auditkit.privacy.errors import PrivacyInputError

from .conftest import mlp, toy_data

NORM_TAGS = {"dp/clipped_fraction", *(f"dp/grad_norm/{name}" for name, _ in QUANTILES)}
ALL_TAGS = {"dp/loss", "dp/noise_multiplier", "dp/epsilon", *NORM_TAGS}


def read_back(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def f32(x: float) -> float:
    return float(np.float32(x))


def private_mlp(*, mode: str = "auto", data=None, batch_size: int = 40, **kw):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loader = DataLoader(data if data is not None else toy_data(), batch_size=batch_size)
    kw.setdefault("accountant", "rdp")
    kw.setdefault("epochs", 2)
    kw.setdefault("target_epsilon", 3.0)
    return make_private(model, opt, loader, mode=mode, **kw)


def every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the ε worker finish each step before training goes on (as when a step is slower
    than an accountant call): every step then gets its ε, deterministically."""
    submit = EpsilonWorker.submit

    def submit_and_wait(self: EpsilonWorker, step: int, history: list) -> None:
        submit(self, step, history)
        assert self.wait_idle(timeout=60)

    monkeypatch.setattr(EpsilonWorker, "submit", submit_and_wait)


def exact_epsilon(p, steps: int) -> float:
    return f32(epsilon([(p.budget.noise_multiplier, p.budget.sample_rate, steps)], p.delta, p.budget.accountant))


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "auditkit-dp-epsilon"]


@pytest.mark.parametrize("accountant,epochs", [("rdp", 2), ("prv", 1)])
def test_fit_logs_epsilon_at_every_step_when_the_accountant_keeps_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, accountant: str, epochs: int
) -> None:
    every_step(monkeypatch)
    torch.manual_seed(1)
    p = private_mlp(accountant=accountant, epochs=epochs)
    r = fit(p, epochs, progress=False, tensorboard=tmp_path / "run")
    eps = read_back(tmp_path / "run")["dp/epsilon"]
    assert eps == [(k, exact_epsilon(p, k)) for k in range(1, 10 * epochs + 1)]
    assert eps[-1] == (r.steps, f32(r.epsilon))
    assert not worker_threads()


def test_epsilon_points_are_exact_and_in_step_order_when_steps_outrun_the_accountant(tmp_path: Path) -> None:
    """Unpaced (PRV calls outlast these toy steps): whatever steps the worker reached, each
    value is the accountant's for that step, steps only go forward, epoch ends are there."""
    torch.manual_seed(2)
    p = private_mlp(accountant="prv", epochs=2)
    r = fit(p, 2, progress=False, tensorboard=tmp_path / "run")
    eps = read_back(tmp_path / "run")["dp/epsilon"]
    steps = [s for s, _ in eps]
    assert steps == sorted(set(steps)) and {10, 20} <= set(steps) and steps[-1] == r.steps
    for step, value in eps:
        assert value == exact_epsilon(p, step), step
    assert not worker_threads()


def test_fit_logs_every_step_and_epsilon_per_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the background worker's points are dropped here, to check what the training thread logs
    monkeypatch.setattr(EpsilonWorker, "submit", lambda self, step, history: None)
    torch.manual_seed(1)
    p = private_mlp()
    r = fit(p, 2, progress=False, tensorboard=tmp_path / "run")
    got = read_back(tmp_path / "run")
    assert set(got) == ALL_TAGS
    assert r.steps == 20
    sigma = [(s, v) for s, v in got["dp/noise_multiplier"]]
    assert sigma == [(s, f32(p.budget.noise_multiplier)) for s in range(1, 21)]
    for tag in NORM_TAGS | {"dp/loss"}:  # no Poisson batch of ~40 is empty here
        assert [s for s, _ in got[tag]] == list(range(1, 21)), tag
    # ε at the end of each epoch (10 steps), from the accountant itself
    sigma_q = (p.budget.noise_multiplier, p.budget.sample_rate)
    expected = [(k, f32(epsilon([(*sigma_q, k)], p.delta, "rdp"))) for k in (10, 20)]
    assert got["dp/epsilon"] == expected
    assert got["dp/epsilon"][-1] == (r.steps, f32(r.epsilon))
    # the quantiles are ordered and the clipped share is a share
    for step in range(20):
        q = [got[f"dp/grad_norm/{name}"][step][1] for name, _ in QUANTILES]
        assert q == sorted(q) and q[0] > 0
        assert 0.0 <= got["dp/clipped_fraction"][step][1] <= 1.0
    assert np.isfinite([v for _, v in got["dp/loss"]]).all()


@pytest.mark.parametrize(
    "mode,max_grad_norm,clipped",
    [("bookkeeping", 0.01, 1.0), ("bookkeeping", 1e6, 0.0), ("ghost", 0.01, 1.0), ("ghost", 1e6, 0.0),
     ("hooks", 0.01, 1.0), ("functorch", 1e6, 0.0)],
)
def test_first_step_matches_brute_force(tmp_path: Path, mode: str, max_grad_norm: float,
                                        clipped: float) -> None:
    """200 copies of one sample: every per-sample gradient is that sample's gradient, so each
    quantile is its norm, computed here by plain autograd on the initial weights."""
    x0, y0 = toy_data(1)[0]
    data = TensorDataset(x0.repeat(200, 1), y0.repeat(200))
    reference = copy.deepcopy(mlp())
    loss0 = nn.functional.cross_entropy(reference(x0[None]), y0[None])
    grads = torch.autograd.grad(loss0, list(reference.parameters()))
    norm0 = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))

    torch.manual_seed(0)
    p = private_mlp(mode=mode, data=data, batch_size=20, max_grad_norm=max_grad_norm, epochs=1)
    assert p.mode.mode == mode
    fit(p, 1, progress=False, tensorboard=tmp_path)
    got = read_back(tmp_path)
    first = {tag: values[0] for tag, values in got.items()}
    assert first["dp/loss"][0] == 1 and first["dp/loss"][1] == pytest.approx(float(loss0.detach()), rel=1e-6)
    for name, _ in QUANTILES:
        assert first[f"dp/grad_norm/{name}"][1] == pytest.approx(norm0, rel=1e-5), name
    assert [v for _, v in got["dp/clipped_fraction"]] == [clipped] * len(got["dp/clipped_fraction"])


def test_norm_scalars_known_answers() -> None:
    rng = np.random.default_rng(3)
    norms = rng.lognormal(0.0, 1.0, size=257).astype(np.float32)
    norms = norms[np.abs(norms - 1.3) > 1e-3]  # nothing on the clipping boundary
    out = norm_scalars(torch.from_numpy(norms), 1.3)
    reference = np.quantile(norms.astype(np.float64), [q for _, q in QUANTILES])
    for (name, _), ref in zip(QUANTILES, reference, strict=True):
        assert out[f"dp/grad_norm/{name}"] == pytest.approx(ref, rel=1e-12)
    assert out["dp/grad_norm/max"] == float(norms.max())
    assert out["dp/clipped_fraction"] == np.mean(norms > 1.3)
    assert norm_scalars(torch.zeros(0), 1.0) == {}


def test_epsilon_ends_at_the_cap_step_when_training_stops_there(tmp_path: Path) -> None:
    p = private_mlp(target_epsilon=1.0, epochs=1, max_epsilon=1.6, ledger=tmp_path / "ledger",
                    dataset_id="toy")
    r = fit(p, 10, progress=False, tensorboard=tmp_path / "run")
    assert r.stopped_at_cap
    eps = read_back(tmp_path / "run")["dp/epsilon"]
    steps = [s for s, _ in eps]
    assert steps == sorted(set(steps)) and steps[-1] == r.steps
    assert [v for _, v in eps] == sorted(v for _, v in eps)  # never decreases
    assert eps[-1][1] == f32(r.epsilon) and r.epsilon <= 1.6
    assert r.steps % p.budget.steps_per_epoch != 0  # it stopped mid-epoch: the end logged it


def test_logging_does_not_change_training(tmp_path: Path) -> None:
    weights = []
    for tb in (None, tmp_path / "run"):
        torch.manual_seed(5)
        p = private_mlp(epochs=1)
        r = fit(p, 1, progress=False, tensorboard=tb)
        weights.append([t.detach().clone() for t in p.model.parameters()])
        assert "per_sample_norms" not in vars(p._keeper)  # the tap is gone after fit
    for a, b in zip(*weights, strict=True):
        assert torch.equal(a, b)
    assert r.steps == 10 and len(list((tmp_path / "run").iterdir())) == 1


def test_an_error_in_training_still_closes_the_log(tmp_path: Path) -> None:
    p = private_mlp(epochs=1, mode="hooks")
    calls = {"n": 0}
    criterion = p.criterion

    def failing(out, y):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return criterion(out, y)

    p.criterion = failing
    with pytest.raises(KeyboardInterrupt):
        fit(p, 1, progress=False, tensorboard=tmp_path)
    assert "clip_and_accumulate" not in vars(p.optimizer)
    for thread in worker_threads():  # told to stop; ends after the call in progress
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert [s for s, _ in read_back(tmp_path)["dp/loss"]] == [1, 2]


@pytest.mark.parametrize("bad,got", [("", "an empty string"), (3, "got int")])
def test_bad_tensorboard_argument(tmp_path: Path, bad: object, got: str) -> None:
    p = private_mlp(epochs=1)
    with pytest.raises(PrivacyInputError, match=f"'tensorboard' parameter of fit.*{got}"):
        fit(p, 1, progress=False, tensorboard=bad)  # type: ignore[arg-type]
    assert p.budget.steps == 0
