"""The book-keeping optimizer's DP noise: drawn by blocks (:mod:`._gaussian`, keyed once per step
from the optimizer's generator) into one flat buffer per step, in the step or one step ahead
(on a lowest-priority thread), in segments of whole parameters (:func:`segments`), or segment
by segment as the clipped sums reach it (:meth:`_NoiseAhead.late`); the clipped sums are added
into it and it becomes ``p.grad``.

Proves: every coordinate is N(0, std²) (KS test), blocks are independent, the noise depends on
the seed alone (not on the number of threads, the drawing mode, the segments or the scheduling);
segments hold whole parameters, stay under their size cap and never share key-stream bytes; p.grad is the
noise buffer (no second model-size tensor), a kept p.grad is never overwritten, rank != 0 adds
none, and secure mode keeps Opacus's generator path."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from torch import nn

from auditkit.privacy.dp._clipping import BookKeeper
from auditkit.privacy.dp._gaussian import fill_normal_, step_key
from auditkit.privacy.dp._noise_ahead import SEGMENT_BYTES, segments
from auditkit.privacy.dp._optim import _draw_ahead, _NoiseAhead, bookkeeping_optimizer_class

B = 16


def flat(chunks):
    return torch.cat([c.reshape(-1) for c in chunks])


def test_noise_is_normal_with_the_right_std_per_coordinate():
    std = 0.7
    params = [torch.zeros(300_001), torch.zeros(400, 500)]  # 500_001 values, 2 blocks
    ahead = _NoiseAhead(params, std, torch.Generator().manual_seed(20240518), start=False)
    x = flat(ahead.take()).double()
    ahead.stop()
    assert x.numel() == 500_001 and x.dtype == torch.float64
    assert stats.kstest(x.numpy() / std, "norm").pvalue > 1e-3
    assert abs(float(x.mean())) < 5 * std / x.numel() ** 0.5
    assert abs(float(x.std()) / std - 1) < 5 / (2 * x.numel()) ** 0.5
    # every block on its own, too: a block drawn with a wrong std or mean would show here
    assert len(ahead.bounds) == 2 and ahead.bounds[-1][2] == 500_002  # the buffer's length is even
    for _, lo, hi in ahead.bounds:
        assert stats.kstest(x[lo:hi].numpy() / std, "norm").pvalue > 1e-4


def test_blocks_are_independent():
    params = [torch.zeros(5 * _NoiseAhead.BLOCK)]
    ahead = _NoiseAhead(params, 1.0, torch.Generator().manual_seed(3), start=False)
    x = flat(ahead.take()).view(5, -1)
    y = flat(ahead.take()).view(5, -1)  # the next step
    ahead.stop()
    rows = torch.cat([x, y])
    corr = torch.corrcoef(rows)
    off = corr - torch.eye(len(rows))
    assert float(off.abs().max()) < 5 / _NoiseAhead.BLOCK**0.5
    assert len({tuple(r[:4].tolist()) for r in rows}) == len(rows)  # no block repeats another


@pytest.mark.parametrize("threads", [1, 2])
def test_noise_depends_on_the_seed_alone(threads):
    """Drawn in the step, ahead (finished before the step), or both at once (the step draws
    what the thread ahead has not reached), with one or two torch threads: the same noise."""
    params = [torch.zeros(300_000), torch.zeros(3, 100_000), torch.zeros(5)]

    def draw(mode):
        ahead = _NoiseAhead(params, 0.5, torch.Generator().manual_seed(11), start=False)
        steps = []
        for _ in range(3):
            if mode != "take":
                ahead.start()
                if mode == "ahead":
                    ahead.wait()
            steps.append(flat(ahead.take()).clone())
        ahead.stop()
        return torch.cat(steps)

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ref = draw("take")
        for mode in ("ahead", "both"):
            assert torch.equal(draw(mode), ref)
        late = _NoiseAhead(params, 0.5, torch.Generator().manual_seed(11), start=False)
        steps = []
        for _ in range(3):
            draws = late.late()
            steps.append(flat([d() for d in reversed(draws)][::-1]).clone())  # asked in any order
        late.stop()
        assert torch.equal(torch.cat(steps), ref)
    finally:
        torch.set_num_threads(before)
    other = _NoiseAhead(params, 0.5, torch.Generator().manual_seed(12), start=False)
    assert not torch.equal(flat(other.take()), ref[: ref.numel() // 3])
    other.stop()


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 3_000_000), min_size=1, max_size=12),
       wide=st.booleans())
def test_segments_hold_whole_parameters_in_order_under_the_cap(sizes, wide):
    itemsize = 8 if wide else 4
    groups = segments(sizes, itemsize)
    assert [i for g in groups for i in g] == list(range(len(sizes)))  # all, in order, once
    for g in groups:
        assert len(g) == 1 or sum(sizes[i] for i in g) * itemsize <= SEGMENT_BYTES
    for a, b in zip(groups, groups[1:], strict=False):  # a segment closes only when the next one would not fit
        assert (sum(sizes[i] for i in a) + sizes[b[0]]) * itemsize > SEGMENT_BYTES


def test_segments_take_disjoint_parts_of_the_key_stream():
    """Each segment's values are the step's stream from its own start (a multiple of BLOCK past
    the previous segment's end): its whole blocks equal those of one buffer drawn from 0."""
    C = _NoiseAhead.BLOCK
    cap = SEGMENT_BYTES // 4
    params = [torch.zeros(cap - 10), torch.zeros(C + 4), torch.zeros(2 * C), torch.zeros(7)]
    ahead = _NoiseAhead(params, 1.0, torch.Generator().manual_seed(2), start=False)
    assert [len(p) for p in ahead.parts] == [1, 3]
    assert ahead.starts == [0, -(-(cap - 10) // C) * C]
    key = step_key(torch.Generator().manual_seed(2))
    chunks = ahead.take()
    ahead.stop()
    whole = torch.empty(ahead.starts[1] + 3 * C + 4 * C)
    fill_normal_(whole, 0, whole.numel(), 1.0, key)
    first, second = flat(chunks[:1]), flat(chunks[1:])
    full = (first.numel() // C) * C
    assert torch.equal(first[:full], whole[:full])
    s = ahead.starts[1]
    assert torch.equal(second[:3 * C], whole[s:s + 3 * C])
    assert ahead.starts[1] >= first.numel()  # no byte of the stream serves two segments


def test_global_rng_seeds_the_noise_when_no_generator_is_given():
    params = [torch.zeros(100_000)]
    out = []
    for _ in range(2):
        torch.manual_seed(5)
        ahead = _NoiseAhead(params, 1.0, None, start=False)
        out.append(flat(ahead.take()).clone())
        ahead.stop()
    assert torch.equal(*out)


def make(sigma, generator=None):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(300, 400), nn.ReLU(), nn.Linear(400, 3))  # 121_603 values
    keeper = BookKeeper(model, loss_reduction="sum")
    opt = bookkeeping_optimizer_class(False)(
        torch.optim.SGD(model.parameters(), lr=0.1), book_keeper=keeper, noise_multiplier=sigma,
        max_grad_norm=1.0, expected_batch_size=B, loss_reduction="sum", generator=generator)
    return model, opt


def step_grads(sigma, threads, *, generator=None, rank=None, noise_ahead=True):
    """p.grad after one step on a fixed batch, with torch using ``threads`` threads."""
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model, opt = make(sigma, generator)
        opt.noise_ahead = noise_ahead
        if rank is not None:
            opt.rank = rank
        g = torch.Generator().manual_seed(1)
        x, y = torch.randn(B, 300, generator=g), torch.randint(0, 3, (B,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
        opt.step()
        out = [p.grad.detach().clone() for p in model.parameters()]
        opt.close()
        return out, opt
    finally:
        torch.set_num_threads(prev)


def test_optimizer_noise_is_the_same_for_any_thread_count():
    """One thread (noise drawn ahead when a core is spare), two (in the step, with torch's
    threads), drawing ahead off (loader workers fork): the same noise for the same seed."""
    noises = []
    for threads, noise_ahead in ((1, True), (2, True), (2, False)):
        clean, _ = step_grads(0.0, threads)
        noisy, _ = step_grads(2.0, threads, generator=torch.Generator().manual_seed(7),
                              noise_ahead=noise_ahead)
        noises.append(torch.cat([(n - c).reshape(-1) for n, c in zip(noisy, clean, strict=True)]))
    for other in noises[1:]:
        torch.testing.assert_close(other, noises[0], rtol=0, atol=1e-5)
    z = noises[0].double() / 2.0  # std = σ C (sum reduction, C = 1)
    assert stats.kstest(z.numpy(), "norm").pvalue > 1e-3


@pytest.mark.parametrize("noise_ahead,threads", [(False, 2), (True, 2), (True, 1)])
def test_p_grad_is_the_noise_buffer_and_a_kept_grad_is_never_overwritten(noise_ahead, threads):
    """The clipped sums are added into the step's noise buffer, which becomes p.grad: no second
    tensor the size of the model. Each step has a new buffer, so a p.grad kept by the caller
    still holds its step's values after later steps (drawn ahead or not)."""
    x, y = torch.randn(B, 300), torch.randint(0, 3, (B,))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model, opt = make(1.0)
        opt.noise_ahead = noise_ahead
        kept, copies, storages = [], [], []
        for _ in range(3):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
            opt.step()
            grads = [p.grad for p in model.parameters()]
            storages.append({g.untyped_storage().data_ptr() for g in grads})
            kept.append(grads)
            copies.append([g.clone() for g in grads])
        opt.synchronize()
        opt.close()
    finally:
        torch.set_num_threads(before)
    for step in storages:  # every parameter's grad is a view of one buffer
        assert len(step) == 1
    assert len(set().union(*storages)) == 3  # a new buffer every step
    for grads, values in zip(kept, copies, strict=True):
        for g, v in zip(grads, values, strict=True):
            assert torch.equal(g, v)


def test_only_rank_zero_adds_noise():
    clean, _ = step_grads(0.0, 1)
    rank1, opt = step_grads(2.0, 1, rank=1)
    for a, b in zip(rank1, clean, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert opt._ahead is None


def test_secure_mode_keeps_opacus_generator_path(monkeypatch):
    from opacus.optimizers import optimizer as opacus_optimizer

    calls = []

    def fake(std, reference, generator=None, secure_mode=False):
        calls.append((std, tuple(reference.shape), secure_mode))
        return torch.zeros_like(reference)

    monkeypatch.setattr(opacus_optimizer, "_generate_noise", fake)
    model, opt = make(2.0)
    opt.secure_mode = True  # as make_private(secure_mode=True) sets it (torchcsprng not needed here)
    x, y = torch.randn(B, 300), torch.randint(0, 3, (B,))
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
    opt.step()
    assert opt._ahead is None
    assert calls == [(2.0, tuple(p.shape), True) for p in model.parameters()]


@pytest.fixture
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to draw ahead")
def test_noise_is_drawn_ahead_during_the_forward_and_backward_pass(one_torch_thread):
    assert _draw_ahead()  # one torch thread: a core is spare
    model, opt = make(1.0)
    x, y = torch.randn(B, 300), torch.randint(0, 3, (B,))
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
    opt.step()
    assert opt._ahead.todo is None  # the first step drew its noise in the step
    opt.zero_grad()  # p.grad released: the next step's seeds are drawn, the thread draws
    assert opt._ahead.todo is not None and opt._ahead.pending
    opt.synchronize()
    assert not opt._ahead.todo
    nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
    opt.step()
    opt.close()
    assert opt._ahead is None


def test_no_drawing_ahead_while_torch_takes_every_core():
    before = torch.get_num_threads()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    try:
        assert not _draw_ahead()
        model, opt = make(1.0)
        x, y = torch.randn(B, 300), torch.randint(0, 3, (B,))
        for _ in range(2):
            opt.zero_grad()
            assert opt._ahead is None or (opt._ahead.todo is None and not opt._ahead.pending)
            nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
            opt.step()
        opt.close()
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="Linux: per-thread priority")
def test_the_thread_drawing_ahead_has_the_lowest_priority():
    params = [torch.zeros(200_000)]
    ahead = _NoiseAhead(params, 1.0, torch.Generator().manual_seed(1), start=False)
    niceness = ahead._executor().submit(lambda: os.getpriority(os.PRIO_PROCESS, 0)).result()
    ahead.stop()
    assert niceness == 19


@pytest.mark.parametrize("where", ["drawing", "waiting"])
def test_an_interrupted_draw_never_hands_out_a_half_drawn_buffer(where, monkeypatch):
    """Ctrl-C inside take() (after a block was popped, or while waiting for a helper): the next
    take() prepares afresh, so no block of its buffer keeps an earlier step's values (with reuse,
    that would be the same noise twice)."""
    C = _NoiseAhead.BLOCK
    ahead = _NoiseAhead([torch.zeros(4 * C)], 1.0, torch.Generator().manual_seed(0), start=False)
    first = flat(ahead.take(keep=True))
    step1 = first.clone()
    del first  # p.grad released: the buffer may be drawn into again
    if where == "drawing":
        original, calls = ahead._next, [0]

        def interrupted(todo):
            item = original(todo)
            calls[0] += 1
            if calls[0] == 2:
                raise KeyboardInterrupt
            return item

        monkeypatch.setattr(ahead, "_next", interrupted)
        with pytest.raises(KeyboardInterrupt):
            ahead.take(keep=True)
        monkeypatch.setattr(ahead, "_next", original)
    else:
        ahead.start()  # a thread draws ahead: take() waits for it
        monkeypatch.setattr(ahead, "wait", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            ahead.take(keep=True)
        monkeypatch.undo()
    assert ahead.todo is None and ahead.buf is None and not ahead.pending
    third = flat(ahead.take(keep=True))
    ahead.stop()
    for k in range(4):
        assert not torch.equal(third[k * C:(k + 1) * C], step1[k * C:(k + 1) * C]), k
    assert stats.kstest(third.double().numpy(), "norm").pvalue > 1e-4



@pytest.mark.parametrize("failure", ["error", "interrupt"])
def test_a_failed_or_interrupted_wait_for_the_thread_ahead_abandons_the_step(failure, monkeypatch):
    """synchronize()/wait() failing (the thread ahead raised) or interrupted (Ctrl-C while
    waiting): the next take() prepares afresh and waits for nothing still writing, so no block
    keeps an earlier step's noise and nothing writes into the buffer after it is handed out."""
    C = _NoiseAhead.BLOCK
    ahead = _NoiseAhead([torch.zeros(4 * C)], 1.0, torch.Generator().manual_seed(0), start=False)
    step1 = flat(ahead.take(keep=True)).clone()
    if failure == "error":
        calls = [0]
        original = ahead._next

        def broken(todo):
            item = original(todo)  # the block is taken, then its drawing fails
            calls[0] += 1
            if calls[0] == 2:
                raise RuntimeError("drawing failed")
            return item

        monkeypatch.setattr(ahead, "_next", broken)
        ahead.start()
        with pytest.raises(RuntimeError):
            ahead.wait()
        monkeypatch.setattr(ahead, "_next", original)
    else:
        ahead.start()
        future = ahead.pending[0]
        monkeypatch.setattr(type(future), "result",
                            lambda self, timeout=None: (_ for _ in ()).throw(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            ahead.wait()
        monkeypatch.undo()
    assert ahead.todo is None and ahead.buf is None and not ahead.pending
    nxt = flat(ahead.take(keep=True))
    snapshot = nxt.clone()
    ahead.stop()
    assert torch.equal(nxt, snapshot)  # nothing wrote into it after take() returned
    for k in range(4):
        assert not torch.equal(nxt[k * C:(k + 1) * C], step1[k * C:(k + 1) * C]), k
    assert stats.kstest(nxt.double().numpy(), "norm").pvalue > 1e-4


def test_take_after_stop_draws_a_whole_step():
    ahead = _NoiseAhead([torch.zeros(6 * _NoiseAhead.BLOCK)], 1.0, torch.Generator().manual_seed(1),
                        start=False)
    ahead.start()
    ahead.stop()
    x = flat(ahead.take()).view(6, -1)
    ahead.stop()
    assert all(0.98 < float(row.std()) < 1.02 for row in x)


def test_noise_drawn_late_takes_memory_the_summed_layers_freed():
    """clipped_sum with ``into`` functions: a parameter's noise is drawn when its layer is summed,
    after the layers summed before it dropped their records (the memory they free is what the
    noise takes); the sums are those of ``into`` tensors given up front."""
    import weakref

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(30, 40), nn.ReLU(), nn.Linear(40, 3), nn.ReLU(), nn.Linear(3, 2))
    keeper = BookKeeper(model, loss_reduction="sum", max_grad_norm=1.0)
    x, y = torch.randn(B, 30), torch.randint(0, 2, (B,))
    nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
    names = list(keeper._layers)
    slots = keeper._pass.slots
    grads = {n: [weakref.ref(g) for _, g in slots[n].records] for n in names}
    params = list(model.parameters())
    noise = [torch.randn(p.shape, generator=torch.Generator().manual_seed(i)) for i, p in enumerate(params)]
    owner = {p: n for n in names for p in keeper._layers[n][0].parameters(recurse=False)}
    seen = []

    def late(i, p):
        def draw():
            done = names[:names.index(owner[p])]  # the layers summed before this one
            seen.append((owner[p], [r() is None for n in done for r in grads[n]]))
            return noise[i].clone()
        return draw

    sums = keeper.clipped_sum(1.0, into={p: late(i, p) for i, p in enumerate(params)})
    assert [n for n, _ in seen] == [n for n in names for _ in range(2)]  # weight and bias, in order
    assert all(all(freed) for _, freed in seen) and any(freed for _, freed in seen)
    # the same sums as with the noise tensors given up front
    nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
    upfront = keeper.clipped_sum(1.0, into={p: noise[i].clone() for i, p in enumerate(params)})
    for p in params:
        assert torch.equal(sums[p], upfront[p])


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError, MemoryError])
@pytest.mark.parametrize("where", ["noise", "sum", "norms"])
def test_clipping_stopped_midway_spoils_the_step_until_zero_grad(where, exc, monkeypatch):
    """An error or Ctrl-C inside the step's clipping (while its noise is drawn, while a layer's
    sum goes in, while the norms are computed) leaves the step unusable: a retried step() raises
    instead of applying noise without the batch's sums; after zero_grad the batch gives its
    clipped sums plus the noise of the next key, exactly."""
    import auditkit.privacy.dp._clipping as clipping
    import auditkit.privacy.dp._noise_ahead as noise_ahead
    from auditkit.privacy.errors import PrivacyInputError

    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(B, 300, generator=g), torch.randint(0, 3, (B,), generator=g)

    def run(opt, model):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
        opt.step()
        return [p.grad.clone() for p in model.parameters()]

    model, opt = make(1.0, torch.Generator().manual_seed(4))
    opt.noise_ahead = False  # drawn in the step, as the sums reach each layer
    target = {"noise": (noise_ahead, "fill_normal_"), "norms": (clipping, "_module_norm2"),
              "sum": (type(opt.book_keeper._layers["0"][1]), "add_clipped_sum")}[where]
    original, calls = getattr(*target), []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == (1 if where == "noise" else 2):  # "sum", "norms": the second layer
            raise exc()
        return original(*args, **kwargs)

    monkeypatch.setattr(*target, flaky)
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
    with pytest.raises(exc):
        opt.step()
    monkeypatch.setattr(*target, original)
    assert opt.book_keeper.failed
    with pytest.raises(PrivacyInputError, match="zero_grad"):
        opt.step()  # retried: refused, not a step without the batch's sums
    got = run(opt, model)  # zero_grad, the batch again
    assert not opt.book_keeper.failed
    model0, opt0 = make(0.0)
    sums = run(opt0, model0)  # the same weights: no step was taken
    params = list(model.parameters())
    ahead = _NoiseAhead(params, opt._noise_std(), torch.Generator().manual_seed(4), start=False)
    for _ in range(2):  # the failed step and the refused retry each took a key
        ahead.late()
    noise = [draw() for draw in ahead.late()]
    for p, a, s, n in zip(params, got, sums, noise, strict=True):
        assert torch.allclose(a, s + n.view(p.shape), atol=1e-5)


@pytest.mark.parametrize("noise_ahead", [True, False])
def test_a_parameter_group_added_later_gets_noise_too(noise_ahead):
    """add_param_group after some steps: the noise is drawn for the new parameter list (before,
    the buffers of the old list were reused and the step failed on their count)."""
    model, opt = make(1.0, torch.Generator().manual_seed(9))
    opt.noise_ahead = noise_ahead
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(B, 300, generator=g), torch.randint(0, 3, (B,), generator=g)
    for _ in range(2):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
        opt.step()
    extra = nn.Parameter(torch.zeros(50_000))  # owned by no layer: its noise alone
    opt.add_param_group({"params": [extra]})
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
    opt.step()
    assert extra.grad is not None and extra.grad.shape == extra.shape
    assert abs(float(extra.grad.std()) - opt._noise_std()) < 0.03 * opt._noise_std()
    assert all(p.grad is not None for p in model.parameters())


def test_late_after_a_step_was_prepared_ahead_hands_out_that_step():
    """start() at zero_grad, then the step draws late (drawing ahead was switched off in
    between): the prepared step's noise, the same as take() gives, in its buffers."""
    params = [torch.zeros(300_000), torch.zeros(7)]

    def ahead():
        return _NoiseAhead(params, 0.5, torch.Generator().manual_seed(21), start=False)

    ref = ahead()
    expected = flat(ref.take(keep=False))
    ref.stop()
    got = ahead()
    got.start()
    draws = [draw() for draw in got.late()]
    values = flat(draws)
    assert got.todo is None and not got.pending
    # the prepared buffers are the ones handed out, and kept to be drawn into again once free
    assert [d.untyped_storage().data_ptr() for d in draws] == [
        got.handed[0].untyped_storage().data_ptr()] * 2
    got.stop()
    assert torch.equal(values, expected)


def _to_shared_memory(g):
    """Move ``g``'s memory into shared memory (as sending it through ``torch.multiprocessing``
    does) and keep nothing of it here."""
    g.share_memory_()


def _whole(storage):
    """A float32 tensor over all of ``storage`` (untyped or typed)."""
    return torch.empty(0, dtype=torch.float32).set_(storage)


#: ways a caller holds a step's gradient memory: what it keeps, and what it reads back later
#: (None: it keeps nothing here, the memory having gone where nothing counts it)
HOLDS = {
    "tensor": (lambda g: g, lambda kept: kept),
    "numpy view": (lambda g: g.numpy(), lambda kept: torch.from_numpy(kept)),
    "storage object": (lambda g: g.untyped_storage(), _whole),
    "typed storage": (lambda g: g.storage(), _whole),
    "shared with another process": (_to_shared_memory, None),
}


@pytest.mark.filterwarnings("ignore:TypedStorage is deprecated")
@pytest.mark.parametrize("hold", list(HOLDS))
@pytest.mark.parametrize("noise_ahead,threads", [(False, 2), (False, 1), (True, 1)])
def test_free_noise_buffers_are_drawn_into_again_and_held_ones_never(noise_ahead, threads, hold,
                                                                     monkeypatch):
    """Each segment's buffer is drawn into again in the next step once its ``p.grad`` views were
    dropped (no allocation per step, so no memory faulted in afresh), and allocated afresh while
    a caller holds it in any way (a tensor, a NumPy view, the storage object, shared memory
    another process may map): what the caller holds keeps its values, the other segments are
    still reused, and every step's values are those of a run that reuses nothing."""
    import weakref

    keep, read = HOLDS[hold]

    import auditkit.privacy.dp._noise_ahead as noise_ahead_module

    monkeypatch.setattr(noise_ahead_module, "SEGMENT_BYTES", 4)  # one segment per parameter
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(B, 300, generator=g), torch.randint(0, 3, (B,), generator=g)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        runs = {}
        for keep_all in (False, True):  # True: every p.grad kept, so nothing is ever reused
            model, opt = make(1.0, torch.Generator().manual_seed(3))
            opt.noise_ahead = noise_ahead
            held, kept, values, bases = [], None, [], []
            for step in range(5):
                opt.zero_grad()
                nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
                opt.step()
                grads = [p.grad for p in model.parameters()]
                values.append([g.clone() for g in grads])
                bases.append([weakref.ref(g._base) for g in grads])
                if keep_all:
                    held.append(grads)
                elif step == 1:  # the caller holds one parameter's gradient
                    whole_then = _whole(grads[0].untyped_storage()).clone()
                    kept = keep(grads[0])
                del grads
            opt.synchronize()
            opt.close()
            runs[keep_all] = values
            if keep_all:
                for step_bases in zip(*bases, strict=True):  # each step its own buffers
                    assert len({id(b()) for b in step_bases}) == len(step_bases)
                continue
            if read is not None:  # never written into
                assert torch.equal(read(kept), whole_then if read is _whole else values[1][0])
            for step in range(3, 5):  # segments 1-3 reused throughout, segment 0 held at step 1
                assert all(bases[step][i]() is bases[2][i]() is not None for i in range(4))
            assert bases[2][0]() is not bases[1][0]()
            assert all(bases[2][i]() is bases[0][i]() for i in range(1, 4))
    finally:
        torch.set_num_threads(before)
    for reused, fresh in zip(runs[False], runs[True], strict=True):
        for a, b in zip(reused, fresh, strict=True):
            assert torch.equal(a, b)
