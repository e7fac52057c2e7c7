"""A Poisson draw with no sample, the first draw included: the loader gives zero rows of the
structure of a real batch (tuples, dicts, tokenizer outputs, nested), never a value of any
example, and training takes it as a counted, noised step.

Opacus's own empty batch before a first non-empty one is built from ``dataset[0]`` by position:
on a dataset of dicts (the Hugging Face format) it raised ``TypeError`` from ``torch.zeros``.
"""

from __future__ import annotations

from collections import namedtuple

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, Dataset, default_collate

from auditkit.privacy.dp import make_private, micro_batches
from auditkit.privacy.dp._micro import EmptyDrawCollate

Pair = namedtuple("Pair", "x y")


def _leaves(batch, where="batch"):
    """(path, value) of every leaf of a collated batch."""
    if isinstance(batch, torch.Tensor) or batch is None or isinstance(batch, (str, int, float)):
        yield where, batch
    elif isinstance(batch, dict) or hasattr(batch, "items"):
        for k, v in batch.items():
            yield from _leaves(v, f"{where}[{k!r}]")
    else:
        for i, v in enumerate(batch):
            yield from _leaves(v, f"{where}[{i}]")


tensors = st.builds(
    lambda dtype, shape, fill: torch.full(shape, fill).to(dtype),
    st.sampled_from([torch.float32, torch.float64, torch.bfloat16, torch.int64, torch.int32, torch.bool]),
    st.lists(st.integers(1, 3), max_size=2).map(tuple),
    st.integers(1, 9),
)
rows = st.recursive(
    tensors,
    lambda inner: st.one_of(
        st.dictionaries(st.sampled_from(["input_ids", "attention_mask", "labels", "x"]), inner,
                        min_size=1, max_size=3),
        st.lists(inner, min_size=1, max_size=3).map(tuple),
    ),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None)
@given(rows)
def test_an_empty_draw_is_zero_rows_of_the_structure_of_a_real_batch(row):
    """Property: every tensor leaf of the empty batch has zero rows, the leaf's dtype and its
    other dimensions as a real batch has them; the containers are the same; nothing else."""
    collate = EmptyDrawCollate(default_collate, [row, row])
    real, empty = collate([row, row]), collate([])
    got, want = list(_leaves(empty)), list(_leaves(real))
    assert [w for w, _ in got] == [w for w, _ in want]
    for (where, e), (_, r) in zip(got, want, strict=True):
        assert isinstance(e, torch.Tensor), where
        assert e.dtype == r.dtype and e.shape == (0, *r.shape[1:]), where


def test_no_value_of_an_example_is_in_an_empty_draw():
    """Columns that are not tensors (text, ids as strings, a scalar a custom collate adds) give
    nothing: an empty list or None."""
    secret = "SECRET-4111-1111"

    def collate(features):
        batch = default_collate(features)
        batch["constant"] = secret
        return batch

    data = [{"text": secret, "n": 7, "x": torch.ones(3)}]
    empty = EmptyDrawCollate(collate, data)([])
    assert empty["text"] == [] and empty["constant"] is None and empty["x"].shape == (0, 3)
    assert empty["n"].shape == (0,)  # default_collate made the ints a tensor
    assert secret not in repr(empty)
    pair = EmptyDrawCollate(default_collate, [Pair(torch.ones(2), torch.tensor(1))])([])
    assert type(pair) is Pair and pair.x.shape == (0, 2) and pair.y.dtype == torch.long


class DictRows(Dataset):
    def __init__(self, n=32):
        g = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(n, 6, generator=g), torch.randint(0, 2, (n,), generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"features": self.x[i], "labels": self.y[i]}


@pytest.mark.parametrize("data", ["tuples", "dicts"])
def test_a_plain_loop_whose_first_draw_is_empty_trains(first_draw_empty, data):
    from torch.utils.data import TensorDataset

    torch.manual_seed(0)
    dataset = DictRows() if data == "dicts" else TensorDataset(DictRows().x, DictRows().y)
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    private = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1),
                           DataLoader(dataset, batch_size=8), noise_multiplier=1.0, epochs=1,
                           accountant="rdp", device="cpu")
    sizes = []
    for batch in private.data_loader:
        x, y = (batch["features"], batch["labels"]) if data == "dicts" else batch
        sizes.append(len(x))
        private.optimizer.zero_grad()
        for mx, my in micro_batches((x, y), 4):
            if len(mx):
                nn.functional.cross_entropy(private.model(mx), my).backward()
        private.optimizer.step()
    assert sizes[0] == 0 and sum(sizes) > 0
    assert private.budget.steps == len(sizes)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    private.close()


@pytest.mark.parametrize("rows", [[(torch.ones(3), torch.tensor(1))], [{"x": torch.ones(3)}], [torch.ones(3)]],
                         ids=["tuples", "dicts", "tensors"])
def test_a_collate_that_keeps_the_rows_gives_no_row(rows):
    """A collate that returns the list of examples itself (``lambda b: b``): an empty draw is
    an empty list, as a loop over the rows expects, not one emptied row."""
    collate = EmptyDrawCollate(lambda b: b, rows)
    assert collate([]) == [] and collate(rows) == rows


def test_an_empty_draw_leaves_torch_random_state_alone():
    """A collator that draws (e.g. masking for a masked LM) is run on dataset[0] to read the
    structure; torch's random state is restored, so an empty draw changes no later draw."""

    def masking(features):
        batch = default_collate(features)
        batch["mask"] = torch.rand(batch["x"].shape) < 0.15
        return batch

    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    empty = EmptyDrawCollate(masking, [{"x": torch.ones(5)}])([])
    assert empty["mask"].shape == (0, 5) and torch.equal(torch.rand(4), expected)
