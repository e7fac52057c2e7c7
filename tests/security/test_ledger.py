"""Attack class: bypassing the DP privacy-budget ledger.

The attacker can edit, add or delete files in the ledger directory but does not hold the key
ring. Outcomes asserted: the run (``reserve``, what ``make_private`` calls) and the report
(``summary``) refuse with one ``PrivacyInputError`` naming the file and the field, and the
ledger file stays byte-identical; one data set has one budget whatever spelling of its id is
used; a MACed ledger verifies from the constants in ``docs/dp.md`` with only ``cryptography``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tempfile
from pathlib import Path

import opacus  # noqa: F401 - installed by the test command (the RDP accountant these ledgers compose with)
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from auditkit.privacy.crypto import KeyRing
from auditkit.privacy.dp import BudgetLedger
from auditkit.privacy.dp._ledger_format import canonical_bytes, normalise_dataset_id
from auditkit.privacy.errors import PrivacyInputError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "dp.md"
HYP = settings(max_examples=60, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def make_ledger(directory, dataset_id="ds", keyring=None, runs=2, cap=20.0) -> BudgetLedger:
    led = BudgetLedger(directory, dataset_id, keyring=keyring)
    for i in range(runs):
        rid, _ = led.reserve(
            noise_multiplier=1.0 + i, sample_rate=0.1, planned_steps=10, delta=1e-5,
            accountant="rdp", max_epsilon=cap, on_cap="refuse",
            info={"model_id": f"m{i}", "max_grad_norm": 1.0, "target_epsilon": None,
                  "dataset_size": 400, "world_size": 1},
        )
        led.update(rid, history=[(1.0 + i, 0.1, 10)], status="completed")
    return led


def attempt_run(led: BudgetLedger) -> None:
    led.reserve(noise_multiplier=1.0, sample_rate=0.1, planned_steps=10, delta=1e-5,
                accountant="rdp", max_epsilon=None, on_cap="refuse", info={})


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def assert_refused(led: BudgetLedger, *fragments: str) -> None:
    """Both the run and the report refuse, naming the file and ``fragments``; no byte changes."""
    before = digest(led.path)
    for action in (attempt_run, lambda x: x.summary(), lambda x: x.total_epsilon()):
        with pytest.raises(PrivacyInputError) as err:
            action(led)
        msg = str(err.value)
        assert led.path.name in msg
        for f in fragments:
            assert f in msg, (f, msg)
    assert digest(led.path) == before


def rewrite(path: Path, doc) -> None:
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")  # NaN/Infinity as Python writes


# -- 1. caps that switch the budget off --------------------------------------------------------
CAP_TOKENS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "0", "0.0", "-0.0", "-1",
              "-1e-300", "true", "false", '"8"', "[]", "{}", '"NaN"']


@pytest.mark.parametrize("token", CAP_TOKENS)
def test_a_cap_edited_to_a_non_finite_or_non_positive_value_is_refused(tmp_path, token):
    led = make_ledger(tmp_path)
    text = led.path.read_text()
    assert '"max_epsilon": 20.0' in text
    led.path.write_text(text.replace('"max_epsilon": 20.0', f'"max_epsilon": {token}'))
    assert_refused(led, "'max_epsilon'")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0, 0.0, -1.0, True, "8", [8]])
def test_a_cap_argument_that_is_not_finite_and_positive_is_refused(tmp_path, value):
    fresh = BudgetLedger(tmp_path / "new", "ds")
    with pytest.raises(PrivacyInputError, match="'max_epsilon'"):
        fresh.reserve(noise_multiplier=1.0, sample_rate=0.1, planned_steps=10, delta=1e-5,
                      accountant="rdp", max_epsilon=value, on_cap="refuse", info={})
    assert not fresh.path.exists()
    led = make_ledger(tmp_path / "old")
    before = led.path.read_bytes()
    with pytest.raises(PrivacyInputError, match="'max_epsilon'"):
        led.reserve(noise_multiplier=1.0, sample_rate=0.1, planned_steps=10, delta=1e-5,
                    accountant="rdp", max_epsilon=value, on_cap="refuse", info={})
    assert led.path.read_bytes() == before


@pytest.mark.parametrize(
    "name,value",
    [("noise_multiplier", math.nan), ("noise_multiplier", 0.0), ("sample_rate", math.inf),
     ("sample_rate", 1.5), ("planned_steps", -1), ("planned_steps", 2.5), ("delta", math.nan),
     ("delta", 1.0)],
)
def test_write_terms_that_are_not_finite_or_in_range_are_refused(tmp_path, name, value):
    args = dict(noise_multiplier=1.0, sample_rate=0.1, planned_steps=10, delta=1e-5)
    args[name] = value
    led = BudgetLedger(tmp_path, "ds")
    with pytest.raises(PrivacyInputError, match=f"'{name}'"):
        led.reserve(**args, accountant="rdp", max_epsilon=None, on_cap="refuse", info={})
    assert not led.path.exists()


@pytest.mark.parametrize("kind", ["sparse_65MiB", "nested_200k", "binary"])
def test_an_oversized_or_pathological_file_is_refused_before_parsing_runs(tmp_path, kind):
    path = tmp_path / "ds.json"
    if kind == "sparse_65MiB":  # sparse: nothing is allocated on disk or in memory
        with open(path, "wb") as fh:
            fh.truncate(65 * 2**20)
    elif kind == "nested_200k":
        path.write_text("[" * 200_000 + "]" * 200_000)
    else:
        path.write_bytes(b"\xff\xfe\x00{\x80")
    led = BudgetLedger(tmp_path, "ds")
    assert_refused(led, "ds.json")


# -- 2. every numeric field read from the file -------------------------------------------------
# (path in the document, what the message names, lo, hi, lo_open, hi_open, integer, nullable)
FIELDS = [
    (("delta",), "'delta'", 0, 1, True, True, False, False),
    (("max_epsilon",), "'max_epsilon'", 0, math.inf, True, False, False, True),
    (("runs", 0, "noise_multiplier"), "'noise_multiplier'", 0, math.inf, True, False, False, False),
    (("runs", 0, "sample_rate"), "'sample_rate'", 0, 1, True, False, False, False),
    (("runs", 0, "steps"), "'steps'", 0, 1e12, False, False, True, False),
    (("runs", 0, "planned_steps"), "'planned_steps'", 0, 1e12, False, False, True, False),
    (("runs", 1, "delta"), "'delta'", 0, 1, True, True, False, False),
    (("runs", 1, "epsilon"), "'epsilon'", 0, math.inf, False, False, False, True),
    (("runs", 0, "max_grad_norm"), "'max_grad_norm'", 0, math.inf, True, False, False, True),
    (("runs", 0, "target_epsilon"), "'target_epsilon'", 0, math.inf, True, False, False, True),
    (("runs", 0, "dataset_size"), "'dataset_size'", 1, math.inf, False, False, True, True),
    (("runs", 0, "world_size"), "'world_size'", 1, math.inf, False, False, True, True),
    (("runs", 1, "history", 0, 0), "'history[0]' noise multiplier", 0, math.inf, True, False, False, False),
    (("runs", 1, "history", 0, 1), "'history[0]' sample rate", 0, 1, True, False, False, False),
    (("runs", 1, "history", 0, 2), "'history[0]' steps", 0, 1e12, False, False, True, False),
]


def invalid_values(lo, hi, lo_open, hi_open, integer, nullable):
    junk = [st.sampled_from([math.nan, math.inf, -math.inf, 10**400, -(10**400)]),
            st.booleans(), st.text(max_size=5), st.lists(st.integers(), max_size=2),
            st.dictionaries(st.text(max_size=2), st.integers(), max_size=1)]
    if not nullable:
        junk.append(st.none())
    below = st.floats(max_value=lo, exclude_max=not lo_open, allow_nan=False, allow_infinity=False)
    junk.append(below | below.map(lambda x: math.floor(x) - (0 if lo_open else 1)))
    if math.isfinite(hi):
        above = st.floats(min_value=hi, exclude_min=not hi_open, allow_nan=False, allow_infinity=False)
        junk.append(above)
    if integer:
        junk.append(st.floats(min_value=max(lo, 0) + 0.01, max_value=1e6).filter(lambda x: not x.is_integer()))
    return st.one_of(*junk)


def set_path(doc, path, value):
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@pytest.mark.parametrize("spec", FIELDS, ids=lambda s: ".".join(map(str, s[0])))
def test_every_numeric_field_out_of_range_is_refused_naming_it(tmp_path, spec):
    path, named, *rng = spec
    base = make_ledger(tmp_path / "base")
    doc0 = json.loads(base.path.read_text())

    @HYP
    @given(value=invalid_values(*rng))
    def check(value):
        d = Path(tempfile.mkdtemp(dir=tmp_path))
        doc = json.loads(json.dumps(doc0))
        set_path(doc, path, value)
        rewrite(d / "ds.json", doc)
        led = BudgetLedger(d, "ds")
        before = led.path.read_bytes()
        with pytest.raises(PrivacyInputError) as err:
            attempt_run(led)
        assert named in str(err.value) and "ds.json" in str(err.value)
        assert led.path.read_bytes() == before

    check()


@pytest.mark.parametrize(
    "path,value",
    [(("max_epsilon",), None), (("runs", 0, "sample_rate"), 1.0), (("runs", 1, "epsilon"), 0.0),
     (("runs", 0, "target_epsilon"), None), (("delta",), 0.999)],
)
def test_in_range_edge_values_are_accepted(tmp_path, path, value):
    led = make_ledger(tmp_path)
    doc = json.loads(led.path.read_text())
    set_path(doc, path, value)
    if path == ("runs", 0, "sample_rate"):
        doc["runs"][0]["history"][0][1] = 1.0
    if path == ("delta",):
        for r in doc["runs"]:
            r["delta"] = 0.999
    rewrite(led.path, doc)
    assert led.summary()["runs"] == 2


# -- 3. one data set, one budget -----------------------------------------------------------------
SPELLINGS = ["ds", "DS", "Ds", " ds ", "ds.", "DS.", "\tds\n", "(ds)", "ｄｓ", "ds!!", "«ds»", "ＤＳ"]


def test_every_spelling_of_an_id_shares_one_budget_and_one_file(tmp_path):
    for i, spelling in enumerate(SPELLINGS):
        led = BudgetLedger(tmp_path, spelling)
        assert led.dataset_id == "ds" and led.path == tmp_path / "ds.json"
        attempt_run(led)
        assert len(BudgetLedger(tmp_path, "ds").runs()) == i + 1
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["ds.json"]


@pytest.mark.parametrize("bad", ["", " ", "..", "/", "-_.", "\u200b", "\n\t", "!!!", "x" * 201])
def test_an_id_with_nothing_left_or_too_long_is_refused(tmp_path, bad):
    with pytest.raises(PrivacyInputError, match="'dataset_id'"):
        BudgetLedger(tmp_path, bad)
    assert not any(tmp_path.iterdir())


ascii_ids = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=30)


@settings(max_examples=300, deadline=None)
@given(ascii_ids, st.sampled_from([" ", ".", "-", "_", "!", "\t", "..."]))
def test_case_and_surrounding_punctuation_never_split_a_budget(raw, pad):
    try:
        norm = normalise_dataset_id(raw)
    except PrivacyInputError:
        return
    for variant in (raw.upper(), raw.lower(), pad + raw + pad, raw + pad, raw.swapcase()):
        assert normalise_dataset_id(variant) == norm


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
def test_a_normalised_id_is_a_plain_file_name_and_stable(raw):
    try:
        norm = normalise_dataset_id(raw)
    except PrivacyInputError:
        return
    assert normalise_dataset_id(norm) == norm
    assert not norm.startswith("-") and not norm.endswith("-") and "--" not in norm
    assert "/" not in norm and "\\" not in norm and "." not in norm and "\x00" not in norm
    assert Path(norm + ".json").name == norm + ".json"


def legacy_copy(tmp_path, new_id, old_name, old_id):
    """A ledger as code before normalisation wrote it: file and field named as given."""
    led = make_ledger(tmp_path, new_id)
    doc = json.loads(led.path.read_text())
    doc["dataset_id"] = old_id
    led.path.unlink()
    rewrite(tmp_path / old_name, doc)
    return tmp_path / old_name


@pytest.mark.parametrize("spelling", ["DS_v1", "ds.v1", "ds-v1", " ds v1 "])
def test_a_ledger_under_the_old_file_name_is_found_and_kept(tmp_path, spelling):
    legacy = legacy_copy(tmp_path, "ds-v1", "DS_v1.json", "DS_v1")
    led = BudgetLedger(tmp_path, spelling)
    assert led.path == legacy and len(led.runs()) == 2
    attempt_run(led)
    assert [p.name for p in tmp_path.glob("*.json")] == ["DS_v1.json"]
    assert len(BudgetLedger.from_file(legacy).runs()) == 3


def test_two_files_for_one_data_set_are_refused_naming_both(tmp_path):
    legacy_copy(tmp_path, "ds", "DS.json", "DS")
    make_ledger(tmp_path / "x", "ds").path.rename(tmp_path / "ds.json")
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.json")}
    for spelling in ("ds", "DS", "ds."):
        with pytest.raises(PrivacyInputError, match=r"2 budget ledgers.*DS\.json, ds\.json"):
            BudgetLedger(tmp_path, spelling)
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.json")} == before


# -- 4. edits of an authenticated ledger -------------------------------------------------------
@pytest.fixture
def ring() -> KeyRing:
    r = KeyRing.generate()
    r.rotate()  # two keys, so "MAC under another key of the same ring" is a case
    return r


def _other_key(doc, ring):
    doc["mac"]["key_id"] = next(k for k in ring.key_ids if k != doc["mac"]["key_id"])


TAMPERS = {
    "epsilon_lowered": lambda d, r: d["runs"][0].update(epsilon=d["runs"][0]["epsilon"] / 2),
    "steps_reduced": lambda d, r: (d["runs"][1].update(steps=5, planned_steps=5),
                                   d["runs"][1]["history"][0].__setitem__(2, 5)),
    "noise_raised": lambda d, r: (d["runs"][0].update(noise_multiplier=50.0),
                                  d["runs"][0]["history"][0].__setitem__(0, 50.0)),
    "run_removed": lambda d, r: d["runs"].pop(0),
    "runs_reordered": lambda d, r: d["runs"].reverse(),
    "run_added": lambda d, r: d["runs"].append({**d["runs"][0], "run_id": "f" * 16}),
    "cap_raised": lambda d, r: d.update(max_epsilon=1000.0),
    "cap_removed": lambda d, r: d.update(max_epsilon=None),
    "cap_nan": lambda d, r: d.update(max_epsilon=math.nan),
    "delta_changed": lambda d, r: d.update(delta=1e-3),
    "status_changed": lambda d, r: d["runs"][0].update(status="running"),
    "dataset_id_respelled": lambda d, r: d.update(dataset_id="DS"),
    "field_added": lambda d, r: d.update(note="harmless?"),
    "mac_stripped": lambda d, r: d.pop("mac"),
    "mac_null": lambda d, r: d.update(mac=None),
    "mac_value_flipped": lambda d, r: d["mac"].update(value=("0" if d["mac"]["value"][0] != "0" else "1") + d["mac"]["value"][1:]),
    "mac_key_id_unknown": lambda d, r: d["mac"].update(key_id="00000000"),
    "mac_key_id_other_key": _other_key,
    "mac_alg_changed": lambda d, r: d["mac"].update(alg="HMAC-SHA-1"),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_any_edit_of_an_authenticated_ledger_is_detected(tmp_path, ring, name):
    led = make_ledger(tmp_path, keyring=ring)
    doc = json.loads(led.path.read_text())
    TAMPERS[name](doc, ring)
    rewrite(led.path, doc)
    assert_refused(led, "was altered")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_random_single_value_edit_is_detected(tmp_path, data):
    ring = KeyRing.generate()
    d = Path(tempfile.mkdtemp(dir=tmp_path))
    led = make_ledger(d, keyring=ring)
    doc = json.loads(led.path.read_text())
    leaves = []

    def walk(node, path):
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            if path == () and k == "mac":
                continue
            if isinstance(v, (dict, list)) and v:
                walk(v, path + (k,))
            else:
                leaves.append(path + (k,))

    walk(doc, ())
    target = data.draw(st.sampled_from(leaves))
    value = data.draw(st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6),
                                st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)))
    original = canonical_bytes(doc)
    set_path(doc, target, value)
    assume(canonical_bytes(doc) != original)
    rewrite(led.path, doc)
    before = led.path.read_bytes()
    with pytest.raises(PrivacyInputError, match="was altered"):
        attempt_run(BudgetLedger(d, "ds", keyring=ring))
    assert led.path.read_bytes() == before


def test_reformatting_is_not_an_alteration(tmp_path, ring):
    led = make_ledger(tmp_path, keyring=ring)
    doc = json.loads(led.path.read_text())
    led.path.write_text(json.dumps(dict(reversed(list(doc.items()))), separators=(",", ":")))
    assert led.summary()["runs"] == 2
    attempt_run(led)
    assert len(led.runs()) == 3


def test_another_data_sets_ledger_or_another_ring_is_refused(tmp_path, ring):
    led = make_ledger(tmp_path / "a", "ds", keyring=ring)
    other = make_ledger(tmp_path / "b", "other", keyring=ring, cap=1000.0)
    led.path.write_bytes(other.path.read_bytes())
    assert_refused(led, "does not belong to dataset 'ds'")
    evil = make_ledger(tmp_path / "c", "ds", keyring=KeyRing.generate(), cap=1000.0)
    led.path.write_bytes(evil.path.read_bytes())
    assert_refused(led, "was altered")


def test_an_authenticated_ledger_cannot_be_written_without_its_ring(tmp_path, ring):
    led = make_ledger(tmp_path, keyring=ring)
    before = led.path.read_bytes()
    plain = BudgetLedger(tmp_path, "ds")
    assert not plain.authenticated and plain.summary()["authenticated"] is False
    with pytest.raises(PrivacyInputError, match="only the holder of its key ring"):
        attempt_run(plain)
    assert led.path.read_bytes() == before


def test_authentication_is_exposed_and_an_unauthenticated_ledger_must_be_adopted(tmp_path, ring):
    plain = make_ledger(tmp_path)
    assert plain.authenticated is False and plain.summary()["authenticated"] is False
    keyed = BudgetLedger(tmp_path, "ds", keyring=ring)
    assert keyed.authenticated is True
    with pytest.raises(PrivacyInputError, match="carries no MAC.*adopt"):
        keyed.summary()
    assert keyed.adopt() is True and keyed.adopt() is False
    s = keyed.summary()
    assert s["authenticated"] is True and s["runs"] == 2


def test_rotation_keeps_old_macs_valid_and_rewrites_under_the_new_primary(tmp_path, ring):
    led = make_ledger(tmp_path, keyring=ring)
    old = json.loads(led.path.read_text())["mac"]["key_id"]
    new = ring.rotate()
    assert led.summary()["runs"] == 2
    attempt_run(led)
    mac = json.loads(led.path.read_text())["mac"]
    assert old != new and mac["key_id"] == new


# -- 5. a stranger verifies a ledger from the docs alone ---------------------------------------
def docs_verifier():
    text = DOCS.read_text(encoding="utf-8")
    m = re.search(r"<!-- ledger-verify -->\s*```python\n(.*?)```", text, re.S)
    assert m, "docs/dp.md lost its ledger-verify block"
    code = m.group(1)
    imported = set(re.findall(r"^(?:from|import) ([\w.]+)", code, re.M))
    assert imported <= {"json", "cryptography.exceptions", "cryptography.hazmat.primitives",
                        "cryptography.hazmat.primitives.kdf.hkdf"}, imported
    ns: dict = {}
    exec(compile(code, "docs/dp.md", "exec"), ns)  # noqa: S102 - the documented recipe itself
    return ns["verify_ledger"], ns["LEDGER_MAC_INFO"]


def test_a_ledger_verifies_with_only_cryptography_and_the_docs(tmp_path, ring):
    verify_ledger, info = docs_verifier()
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from auditkit.privacy.dp._ledger_format import MAC_INFO

    assert info == MAC_INFO
    raw = {kid: ring._keys[kid].material for kid in ring.key_ids}  # what the ring file holds
    for kid in ring.key_ids:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(raw[kid])
        assert derived == ring.ledger_key(kid)
    led = make_ledger(tmp_path, keyring=ring)
    assert verify_ledger(led.path, raw) is True
    assert verify_ledger(led.path, {k: bytes(32) for k in raw}) is False
    good = led.path.read_text()
    for name, tamper in sorted(TAMPERS.items()):
        doc = json.loads(good)
        tamper(doc, ring)
        rewrite(led.path, doc)
        assert verify_ledger(led.path, raw) is False, name


# -- 6. through make_private -------------------------------------------------------------------
def _training(tmp_path, **kw):
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from auditkit.privacy.dp import make_private

    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 4, generator=g)
    data = TensorDataset(X, (X[:, 0] > 0).long())
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 2))
    return make_private(model, torch.optim.SGD(model.parameters(), lr=0.1),
                        DataLoader(data, batch_size=40), target_epsilon=1.0, epochs=1,
                        accountant="rdp", ledger=tmp_path, **kw)


def test_make_private_refuses_an_edited_authenticated_ledger(tmp_path, ring):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = _training(tmp_path, dataset_id="Adult. ", keyring=ring, max_epsilon=5.0)
        assert p.ledger.authenticated and p.dataset_id == "adult"
        path = tmp_path / "adult.json"
        doc = json.loads(path.read_text())
        assert doc["mac"]["key_id"] == ring.primary_id
        doc["max_epsilon"] = 500.0
        rewrite(path, doc)
        before = path.read_bytes()
        with pytest.raises(PrivacyInputError, match="was altered"):
            _training(tmp_path, dataset_id="ADULT", keyring=ring)
        with pytest.raises(PrivacyInputError, match="'keyring'.*ledger="):
            _training(None, dataset_id="adult", keyring=ring)
        assert path.read_bytes() == before
