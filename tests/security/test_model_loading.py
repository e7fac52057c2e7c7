"""Model loading executes nothing untrusted (issue 12, class 1).

A ``.skops`` file names every type it imports; auditkit decides trust by exact name before
skops constructs anything: a deny list that wins over ``[model] trusted_types``, then a reviewed
allow list (``auditkit._trusted_types``) plus the user's exact entries. ``[model] sha256`` pins
the file before it is parsed; trees are bounds-checked before anything predicts.

Every crafted file below writes a marker file when its code runs. ``test_payload_is_live``
proves that each one does run under naive trust (``skops.io.load`` with every type it reports);
the other tests assert that ``load_model`` and ``auditkit run`` refuse it, name the type, exit 2
with one line, and that the marker never appears.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import operator
import pickle
import subprocess
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit._formats import MODEL_FORMATS
from auditkit._models import _skops_load, load_model
from auditkit._trusted_types import (
    DENIED_LAST_PARTS,
    DENIED_MODULES,
    TRUSTED_TYPES,
    denied,
    is_exact_type_name,
)
from auditkit.config import ModelConfig, parse_config
from auditkit.demo import FEATURES, LABEL, build_model, generate_applications
from auditkit.errors import ConfigError, ModelError
from tests.security.conftest import run_main

# -- building crafted files -------------------------------------------------------------------


def _zip(data: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    return json.loads(files.pop("schema.json")), files


def _strip_ids(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_ids(v) for k, v in node.items() if k != "__id__"}
    if isinstance(node, list):
        return [_strip_ids(v) for v in node]
    return node


def _state(obj: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    """skops' own state of ``obj`` (and its side files), to splice into another file."""
    schema, files = _zip(sio.dumps(obj))
    schema.pop("protocol", None)
    schema.pop("_skops_version", None)
    return _strip_ids(schema), files


def _call(func: str, *args: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A node that calls ``func(*args)`` while the file loads (skops' constructor-call node)."""
    module, name = func.rsplit(".", 1)
    content, files = _state(tuple(args))
    return {"__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode",
            "content": content}, files


def _type(name: str) -> dict[str, Any]:
    module, cls = name.rsplit(".", 1)
    return {"__class__": cls, "__module__": module, "__loader__": "TypeNode"}


def _splice(model: Any, swaps: dict[str, tuple[dict[str, Any], dict[str, bytes]]]) -> bytes:
    """Dump ``model`` with skops, then replace each placeholder string by a crafted node."""
    schema, files = _zip(sio.dumps(model))
    targets = {json.dumps(k): v for k, v in swaps.items()}
    extra: dict[str, bytes] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("__loader__") == "JsonNode" and node.get("content") in targets:
                crafted, side = targets[node["content"]]
                extra.update(side)
                return crafted
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    schema = walk(schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema))
        for name, blob in {**files, **extra}.items():
            zf.writestr(name, blob)
    return out.getvalue()


def _code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('ran')"


def _ttr(constant: str, inverse_func: Any, inv_kw_args: dict | None = None) -> Any:
    """A fitted TransformedTargetRegressor whose predict calls ``inverse_func(predictions)``:
    the predictions are ``constant`` (a string the attacker chose)."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.dummy import DummyRegressor

    ttr = TransformedTargetRegressor(regressor=DummyRegressor(), check_inverse=False)
    ttr.fit(np.zeros((4, len(FEATURES))), np.arange(4.0))
    ttr.regressor_.constant_ = np.array([[constant]])
    ttr.transformer_.validate = False
    ttr.transformer_.inverse_func = ttr.inverse_func = inverse_func
    ttr.transformer_.inv_kw_args = inv_kw_args
    return ttr


def _fitted_lr(**extra: Any) -> Any:
    """A fitted LogisticRegression carrying extra attributes (placeholders for payloads)."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression().fit(np.arange(8.0).reshape(-1, 1), [0, 1] * 4)
    lr.__dict__.update(extra)
    return lr


def _function_transformer(func: Any) -> Any:
    from sklearn.preprocessing import FunctionTransformer

    ft = FunctionTransformer().fit(np.zeros((2, 1)))
    ft.func = func
    return ft


class _Unknown:
    """A class nobody reviewed: it writes the marker when skops restores its state."""

    def __setstate__(self, state: dict) -> None:
        Path(state["marker"]).write_text("ran")


class _PickledExec:
    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self):
        return (exec, (self.code,))


@dataclass(frozen=True)
class Payload:
    id: str
    build: Callable[[Path, Path], bytes]  # (marker, workdir) -> skops bytes
    names: tuple[str, ...]  # what the refusal must name
    denied: bool = True  # refused even when every reported type is listed


def _mod(func: Callable) -> str:
    from skops.io._utils import get_module

    return f"{get_module(func)}.{func.__name__}"


def _import_module_payload(marker: Path, work: Path) -> bytes:
    name = f"auditkit_evil_{uuid.uuid4().hex}"
    (work / f"{name}.py").write_text(_code(marker))
    return _splice(_fitted_lr(payload_="@P"), {"@P": _call("importlib.import_module", name)})


def _runpy_payload(marker: Path, work: Path) -> bytes:
    script = work / "evil_script.py"
    script.write_text(_code(marker))
    return _splice(_fitted_lr(payload_="@P"), {"@P": _call("runpy.run_path", str(script))})


def _dump_svmlight(marker: Path, work: Path) -> bytes:
    from sklearn.datasets import dump_svmlight_file

    call = _call(_mod(dump_svmlight_file), np.ones((1, 1)), np.ones(1), str(marker))
    return _splice(_fitted_lr(payload_="@P"), {"@P": call})


def _savemat(marker: Path, work: Path) -> bytes:
    from scipy.io import savemat

    call = _call(_mod(savemat), str(marker), {"a": 1})
    return _splice(_fitted_lr(payload_="@P"), {"@P": call})


PAYLOADS = [
    # predict-time: the estimator classes are trusted containers; the callable inside is not
    Payload("ttr-inverse_func-vectorize-exec",
            lambda m, w: sio.dumps(_ttr(_code(m), np.vectorize(exec))),
            ("numpy.vectorize", "builtins.exec")),
    Payload("ttr-inverse_func-frompyfunc-exec",
            lambda m, w: _splice(_ttr(_code(m), "@P"),
                                 {"@P": _call("numpy.frompyfunc", exec, 1, 1)}),
            ("numpy.frompyfunc",)),
    Payload("ttr-inverse_func-getattr-tofile",
            lambda m, w: _splice(_ttr("x", "@P", {"file": str(m)}),
                                 {"@P": _call("builtins.getattr", np.ndarray, "tofile")}),
            ("builtins.getattr",)),
    Payload("ttr-inverse_func-methodcaller-tofile",
            lambda m, w: sio.dumps(_ttr("x", operator.methodcaller("tofile", str(m)))),
            ("operator.methodcaller",)),
    Payload("ttr-inverse_func-partial-savetxt",
            lambda m, w: sio.dumps(_ttr("x", functools.partial(np.savetxt, str(m), fmt="%s"))),
            ("functools.partial", "numpy.savetxt")),
    Payload("functiontransformer-func-eval",
            lambda m, w: _splice(_fitted_lr(step_=_function_transformer("@P")),
                                 {"@P": _call("builtins.eval", _code(m))}),
            ("builtins.eval",)),
    # load-time: a constructor call in the schema runs while skops rebuilds the object
    Payload("load-exec", lambda m, w: _splice(_fitted_lr(payload_="@P"),
                                              {"@P": _call("builtins.exec", _code(m))}),
            ("builtins.exec",)),
    Payload("load-compile", lambda m, w: _compile_payload(m), ("builtins.compile",)),
    Payload("load-open", lambda m, w: _splice(_fitted_lr(payload_="@P"),
                                              {"@P": _call("builtins.open", str(m), "w")}),
            ("builtins.open",)),
    Payload("load-os-system", lambda m, w: _splice(
        _fitted_lr(payload_="@P"), {"@P": _call("os.system", f"touch '{m}'")}), ("os.system",)),
    Payload("load-posix-system", lambda m, w: _splice(
        _fitted_lr(payload_="@P"), {"@P": _call("posix.system", f"touch '{m}'")}),
            ("posix.system",)),
    Payload("load-subprocess-popen", lambda m, w: _splice(
        _fitted_lr(payload_="@P"),
        {"@P": _call("subprocess.Popen", [sys.executable, "-c", _code(m)])}),
            ("subprocess.Popen",)),
    Payload("load-importlib-import_module", _import_module_payload,
            ("importlib.import_module",)),
    Payload("load-pickle-loads", lambda m, w: _splice(
        _fitted_lr(payload_="@P"),
        {"@P": _call("pickle.loads", pickle.dumps(_PickledExec(_code(m))))}), ("pickle.loads",)),
    Payload("load-runpy-run_path", _runpy_payload, ("runpy.run_path",)),
    # names the old prefix trust let through: sklearn.*, numpy.*, scipy.* functions
    Payload("prefix-sklearn-dump_svmlight_file", _dump_svmlight, ("dump_svmlight_file",)),
    Payload("prefix-numpy-savetxt", lambda m, w: _splice(
        _fitted_lr(payload_="@P"), {"@P": _call("numpy.savetxt", str(m), np.ones(2))}),
            ("numpy.savetxt",)),
    Payload("prefix-scipy-savemat", _savemat, ("savemat",)),
    # an unknown class: refused until listed (then it is the user's exact, reviewed choice)
    Payload("unknown-class", lambda m, w: sio.dumps(_fitted_lr(payload_=_with_state(m))),
            (f"{_Unknown.__module__}._Unknown",), denied=False),
]


def _compile_payload(marker: Path) -> bytes:
    compiled, side = _call("builtins.compile", _code(marker), "<payload>", "exec")
    run, side2 = _call("builtins.exec", "@C")
    run["content"]["content"][0] = compiled  # exec(compile(...))
    return _splice(_fitted_lr(payload_="@P"), {"@P": (run, {**side, **side2})})


def _with_state(marker: Path) -> _Unknown:
    obj = _Unknown.__new__(_Unknown)
    obj.__dict__["marker"] = str(marker)
    return obj


# -- the crafted files: live under naive trust, refused by auditkit ---------------------------


def _frame(n: int = 3) -> Any:
    import pandas as pd

    return pd.DataFrame(np.zeros((n, len(FEATURES))), columns=list(FEATURES))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on ``sys.path`` (so the import payload would find its module)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("payload", PAYLOADS, ids=[p.id for p in PAYLOADS])
def test_payload_is_live(payload: Payload, workdir: Path) -> None:
    """Control: loaded the way the old loader did (every reported type trusted) and used once,
    each crafted file does run its code. So a marker absent below means nothing ran."""
    marker = workdir / "marker"
    data = payload.build(marker, workdir)
    model = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    for value in vars(model).values():
        if isinstance(value, subprocess.Popen):
            value.wait()
        elif hasattr(value, "close"):  # the file object the open() payload returned
            value.close()
    if not marker.exists():
        try:
            model.predict(_frame())
        except Exception:  # the payload's return value may break predict after it ran
            pass
    assert marker.exists()


def _modes() -> list[Any]:
    out = []
    for p in PAYLOADS:
        out.append(pytest.param(p, False, id=f"{p.id}-nothing-listed"))
        if p.denied:
            out.append(pytest.param(p, True, id=f"{p.id}-all-listed"))
    return out


@pytest.mark.parametrize(("payload", "listed"), _modes())
def test_load_model_refuses_crafted_file(payload: Payload, listed: bool, workdir: Path) -> None:
    marker = workdir / "marker"
    path = workdir / "model.skops"
    path.write_bytes(payload.build(marker, workdir))
    trusted = sio.get_untrusted_types(file=path) if listed else []
    with pytest.raises(ModelError) as info:
        load_model(path, trusted_types=trusted)
    for name in payload.names:
        assert name in str(info.value)
    if listed:  # the file-level deny list wins even where the entry check is bypassed
        with pytest.raises(ModelError) as info:
            _skops_load(path, path.read_bytes(), trusted)
        assert all(name in str(info.value) for name in payload.names)
        assert "never loads" in str(info.value)
    assert not marker.exists()


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "data.csv"
    generate_applications(120, seed=2).to_csv(path, index=False)
    return path


def _audit(workdir: Path, data_csv: Path, **model: Any) -> Path:
    cfg = {
        "data": {"path": str(data_csv), "label": LABEL},
        "model": {"path": "model.skops", "features": list(FEATURES), **model},
        "report": {"out": "out", "formats": ["json"]},
    }
    path = workdir / "audit.toml"
    path.write_text(tomli_w.dumps(cfg))
    return path


@pytest.mark.parametrize(("payload", "listed"), _modes())
def test_run_refuses_crafted_file(payload: Payload, listed: bool, workdir: Path,
                                  data_csv: Path) -> None:
    marker = workdir / "marker"
    (workdir / "model.skops").write_bytes(payload.build(marker, workdir))
    trusted = sio.get_untrusted_types(file=workdir / "model.skops") if listed else []
    cfg = _audit(workdir, data_csv, trusted_types=trusted)
    code, text = run_main("run", str(cfg), "--quiet")
    assert code == 2, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in text
    assert all(name in text for name in payload.names)
    assert not marker.exists()
    assert not (workdir / "out").exists()


# -- what must still load ---------------------------------------------------------------------


def _demo_model() -> Any:
    """The demo's model (one-hot encoding + HistGradientBoosting), with fewer boosting rounds."""
    return build_model(0).set_params(classifier__max_iter=15)


def _common_models() -> dict[str, Callable[[], Any]]:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.svm import SVC

    from auditkit.demo import CATEGORICAL_FEATURES, NUMERIC_FEATURES

    def numeric(est: Any) -> Any:
        pre = ColumnTransformer([("num", "passthrough", list(NUMERIC_FEATURES))])
        return Pipeline([("pre", pre), ("est", est)])

    return {
        "demo-onehot-histgradientboosting": _demo_model,
        "logistic-regression": lambda: numeric(LogisticRegression(max_iter=500)),
        "random-forest": lambda: numeric(RandomForestClassifier(20, random_state=0)),
        "gradient-boosting": lambda: numeric(GradientBoostingClassifier(n_estimators=20)),
        "standardscaler-svc": lambda: numeric(make_pipeline(StandardScaler(), SVC())),
        "columntransformer-onehot-scaler-logistic": lambda: Pipeline([
            ("pre", ColumnTransformer([
                ("cat", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
                ("num", StandardScaler(), list(NUMERIC_FEATURES)),
            ])),
            ("clf", LogisticRegression(max_iter=500)),
        ]),
    }


@pytest.fixture(scope="module")
def applications() -> Any:
    return generate_applications(300, seed=4)


@pytest.mark.parametrize("kind", list(_common_models()))
def test_common_models_load_with_no_trusted_types(kind: str, applications: Any,
                                                  tmp_path: Path) -> None:
    model = _common_models()[kind]().fit(applications[FEATURES], applications[LABEL])
    sio.dump(model, tmp_path / "model.skops")
    loaded = load_model(tmp_path / "model.skops")
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(applications[FEATURES]),
                                  model.predict(applications[FEATURES]))


def test_a_function_loads_only_once_listed_exactly(applications: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from auditkit.demo import NUMERIC_FEATURES

    X = applications[list(NUMERIC_FEATURES)].abs()
    model = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression(max_iter=500))
    model.fit(X, applications[LABEL])
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    for trusted in ([], ["numpy.log"], ["numpy.log1p_"]):
        with pytest.raises(ModelError, match=r"not trusted: numpy\.log1p\."):
            load_model(path, trusted_types=trusted)
    for pattern in (["numpy."], ["numpy.*"], ["numpy.log*"], ["log1p"], ["numpy. log1p"]):
        with pytest.raises(ModelError, match="not exact type names"):
            load_model(path, trusted_types=pattern)
    loaded = load_model(path, trusted_types=["numpy.log1p"])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


# -- the deny list and the allow list ---------------------------------------------------------

DENIED_EXAMPLES = [
    "builtins.exec", "builtins.eval", "builtins.compile", "builtins.getattr", "builtins.setattr",
    "builtins.delattr", "builtins.__import__", "builtins.open", "builtins.breakpoint",
    "numpy.vectorize", "numpy.frompyfunc", "numpy.lib._function_base_impl.vectorize",
    "numpy.load", "numpy.savetxt", "numpy.fromfile", "operator.attrgetter",
    "operator.itemgetter", "operator.methodcaller", "functools.partial", "functools.reduce",
    "os.system", "os.popen", "os.path.join", "posix.system", "nt.system", "subprocess.Popen",
    "subprocess.run", "sys.exit", "importlib.import_module", "pickle.loads", "_pickle.loads",
    "shutil.rmtree", "socket.socket", "ctypes.CDLL", "code.interact", "runpy.run_path",
    "pty.spawn", "marshal.loads", "types.FunctionType", "types.CodeType", "scipy.io.savemat",
    "sklearn.datasets.fetch_openml", "sklearn.linear_model._logistic.LogisticRegression.__reduce__",
    "joblib.load", "skops.io.load",
]


@pytest.mark.parametrize("name", DENIED_EXAMPLES)
def test_deny_list_beats_trusted_types(name: str, tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(_splice(_fitted_lr(payload_="@P"), {"@P": (_type(name), {})}))
    for trusted in ([], [name]):
        with pytest.raises(ModelError) as info:
            load_model(path, trusted_types=trusted)
        assert name in str(info.value)
    with pytest.raises(ModelError, match="never loads") as info:
        _skops_load(path, path.read_bytes(), [name])
    assert name in str(info.value)
    with pytest.raises(ConfigError, match="never trusts") as cfg_info:
        parse_config({"data": {"path": "d.csv"}, "model": {"trusted_types": [name]}})
    assert name in str(cfg_info.value)
    assert name not in TRUSTED_TYPES


def test_trusted_list_holds_no_denied_or_inexact_name() -> None:
    assert not [n for n in TRUSTED_TYPES if denied(n) or not is_exact_type_name(n)]
    assert not set(DENIED_EXAMPLES) & TRUSTED_TYPES
    # functions are code: skops trusts every ufunc by default, auditkit trusts none of them
    assert not {"numpy.log1p", "numpy.exp", "scipy.special.expit", "builtins.map"} & TRUSTED_TYPES


_IDENT = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(DENIED_MODULES)), st.lists(_IDENT, min_size=1, max_size=3))
def test_every_name_in_a_denied_module_is_denied(module: str, parts: list[str]) -> None:
    name = ".".join([module, *parts])
    assert denied(name) and name not in TRUSTED_TYPES
    with pytest.raises(ConfigError):
        parse_config({"data": {"path": "d.csv"}, "model": {"trusted_types": [name]}})


@settings(max_examples=200, deadline=None)
@given(st.lists(_IDENT, min_size=1, max_size=3), st.sampled_from(sorted(DENIED_LAST_PARTS)))
def test_a_denied_last_part_is_denied_under_any_module(parts: list[str], last: str) -> None:
    assert denied(".".join([*parts, last]))


@settings(max_examples=200, deadline=None)
@given(st.lists(_IDENT, min_size=1, max_size=3),
       st.sampled_from([".", ".*", "*", " ", "\n", ".x y", "-", ""]))
def test_trusted_types_takes_exact_names_only(parts: list[str], tail: str) -> None:
    name = ".".join(parts) + tail
    if len(parts) >= 2 and tail == "":
        return  # an exact name: accepted unless denied (covered above)
    with pytest.raises(ConfigError, match="not exact type names"):
        parse_config({"data": {"path": "d.csv"}, "model": {"trusted_types": [name]}})


# -- sha256 pin -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory, applications: Any) -> Path:
    path = tmp_path_factory.mktemp("pinned") / "model.skops"
    sio.dump(_demo_model().fit(applications[FEATURES], applications[LABEL]), path)
    return path


def test_sha256_match_loads(small_model: Path) -> None:
    digest = hashlib.sha256(small_model.read_bytes()).hexdigest()
    assert hasattr(load_model(small_model, sha256=digest), "predict")
    assert hasattr(load_model(small_model, sha256=digest.upper()), "predict")
    assert parse_config({"data": {"path": "d"}, "model": {"sha256": digest.upper()}}).model.sha256 == digest


@pytest.mark.parametrize("damage", ["one-byte", "other-model", "garbage"])
def test_sha256_mismatch_is_refused_before_parsing(small_model: Path, tmp_path: Path,
                                                   damage: str) -> None:
    pinned = hashlib.sha256(small_model.read_bytes()).hexdigest()
    path = tmp_path / "model.skops"
    blob = small_model.read_bytes()
    path.write_bytes({"one-byte": blob[:-1] + bytes([blob[-1] ^ 1]),
                      "other-model": sio.dumps(_fitted_lr()),
                      "garbage": b"not a zip file"}[damage])
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ModelError) as info:
        load_model(path, sha256=pinned)
    text = str(info.value)
    assert str(path) in text and actual[:12] in text and pinned[:12] in text
    assert "does not match its pin" in text
    assert "not a skops file" not in text  # refused on the digest, before any parsing


def test_sha256_mismatch_stops_a_trusted_pickle_before_it_runs(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_PickledExec(_code(marker))))
    with pytest.raises(ModelError, match="does not match its pin"):
        load_model(path, trust_model=True, sha256="0" * 64)
    assert not marker.exists()


def test_sha256_mismatch_exits_2_with_one_line(small_model: Path, workdir: Path,
                                               data_csv: Path) -> None:
    (workdir / "model.skops").write_bytes(sio.dumps(_fitted_lr()))
    pinned = hashlib.sha256(small_model.read_bytes()).hexdigest()
    code, text = run_main("run", str(_audit(workdir, data_csv, sha256=pinned)), "--quiet")
    assert code == 2, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and pinned[:12] in text and "model.skops" in text


MALFORMED = ["", "abc", "0" * 63, "0" * 65, "g" * 64, " " + "0" * 63, "0" * 64 + "\n",
             "sha256:" + "0" * 64, "0x" + "0" * 62]


@pytest.mark.parametrize("value", MALFORMED)
def test_malformed_sha256_is_refused(value: str, workdir: Path, data_csv: Path,
                                     small_model: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[model\] key 'sha256' must be"):
        parse_config({"data": {"path": "d.csv"}, "model": {"sha256": value}})
    with pytest.raises(ModelError, match="64 hexadecimal"):
        load_model(small_model, sha256=value)
    (workdir / "model.skops").write_bytes(small_model.read_bytes())
    code, text = run_main("run", str(_audit(workdir, data_csv, sha256=value)), "--quiet")
    assert code == 2 and len([x for x in text.splitlines() if x.strip()]) == 1, text


def test_model_config_field_shapes() -> None:
    assert ModelConfig(sha256="A" * 64).sha256 == "a" * 64
    assert ModelConfig(trusted_types=["numpy.log1p"]).trusted_types == ["numpy.log1p"]


# -- trees: trusted types, checked contents ---------------------------------------------------


def _tree_model(kind: str) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.RandomState(0)
    X = rng.rand(200, 3)
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    est = {"tree": DecisionTreeClassifier(max_depth=3), "forest": RandomForestClassifier(3),
           "hist": HistGradientBoostingClassifier(max_iter=3)}[kind]
    return est.fit(X, y)


def _damage_tree(tree: Any, field: str, value: Any) -> None:
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    if value == "self":
        value = 0
    nodes[field][0] = value
    tree.__setstate__({**state, "nodes": nodes})


_TREE_REFUSAL = "tree or tree ensemble whose arrays do not fit together"

TREE_DAMAGE = [
    ("tree", "left_child", 10**6), ("tree", "right_child", 10**6), ("tree", "left_child", "self"),
    ("tree", "feature", 3), ("tree", "feature", -5), ("forest", "right_child", -7),
    ("forest", "feature", 10**9), ("hist", "left", 10**6), ("hist", "right", 0),
    ("hist", "feature_idx", 3), ("hist", "is_categorical", 1),
]


@pytest.mark.parametrize(("kind", "field", "value"), TREE_DAMAGE,
                         ids=[f"{k}-{f}-{v}" for k, f, v in TREE_DAMAGE])
def test_tree_nodes_out_of_bounds_are_refused(kind: str, field: str, value: Any,
                                              tmp_path: Path) -> None:
    model = _tree_model(kind)
    if kind == "tree":
        _damage_tree(model.tree_, field, value)
    elif kind == "forest":
        _damage_tree(model.estimators_[1].tree_, field, value)
    else:
        model._predictors[1][0].nodes[field][0] = value
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    with pytest.raises(ModelError, match=_TREE_REFUSAL):
        load_model(path)


def _ensemble(kind: str) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import (
        BaggingClassifier,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        IsolationForest,
    )
    from sklearn.linear_model import LogisticRegression

    rng = np.random.RandomState(0)
    X = rng.rand(150, 3)
    y2, y3 = (X[:, 0] > 0.5).astype(int), (X[:, 0] * 3).astype(int)
    if kind.startswith("gb-init-logistic"):
        return GradientBoostingClassifier(n_estimators=3, init=LogisticRegression()).fit(X, y3)
    if kind.startswith("gb"):
        model = GradientBoostingClassifier(n_estimators=3).fit(X, y3)
        if kind == "gb-stage-columns":  # more trees per stage than init predictions: heap write
            model.estimators_ = np.repeat(model.estimators_, 40, axis=1)
            model.n_trees_per_iteration_ = model.estimators_.shape[1]
        elif kind == "gb-first-tree-features":  # X is validated against estimators_[0, 0] only
            first, last = model.estimators_[0, 0], model.estimators_[-1, 0]
            _damage_tree(first.tree_, "feature", 0)
            first.tree_.feature[first.tree_.feature >= 1] = 0  # view: first tree reads column 0
            _damage_tree(last.tree_, "feature", 2)  # a later tree reads column 2 (< 3: valid)
            first.n_features_in_ = 1
        elif kind == "gb-init-width":  # a binary init model under a 3-class booster
            model.init_ = DummyClassifier(strategy="prior").fit(X, y2)
        return model
    if kind.startswith("hist"):
        model = HistGradientBoostingClassifier(max_iter=3).fit(X, y2)
        if kind == "hist-preprocessor":  # a preprocessor may output fewer columns than trees use
            model._preprocessor = ColumnTransformer([("a", "passthrough", [0])]).fit(X)
        return model
    model = (IsolationForest(n_estimators=3, max_features=2) if kind.startswith("iso")
             else BaggingClassifier(n_estimators=3, max_features=2)).fit(X, y2)
    if kind.endswith("-subset"):  # a feature subset narrower than the tree it feeds
        model.estimators_features_[0] = model.estimators_features_[0][:1]
    return model


ENSEMBLE_DAMAGE = ["gb-stage-columns", "gb-first-tree-features", "gb-init-width",
                   "hist-preprocessor", "iso-subset", "bagging-subset"]


@pytest.mark.parametrize("kind", ENSEMBLE_DAMAGE)
def test_ensembles_whose_shapes_do_not_fit_are_refused(kind: str, tmp_path: Path) -> None:
    sio.dump(_ensemble(kind), tmp_path / "model.skops")
    with pytest.raises(ModelError, match=_TREE_REFUSAL):
        load_model(tmp_path / "model.skops")


@pytest.mark.parametrize("kind", ["tree", "forest", "hist", "gb", "gb-init-logistic",
                                  "hist-plain", "iso", "bagging"])
def test_undamaged_trees_and_ensembles_load(kind: str, tmp_path: Path) -> None:
    model = _tree_model(kind) if kind in ("tree", "forest", "hist") else _ensemble(kind)
    sio.dump(model, tmp_path / "model.skops")
    X = np.random.RandomState(1).rand(20, 3)
    np.testing.assert_array_equal(load_model(tmp_path / "model.skops").predict(X),
                                  model.predict(X))


def test_histgradientboosting_with_categorical_features_is_refused_with_a_way_out(
    applications: Any, tmp_path: Path
) -> None:
    """scikit-learn's own preprocessor inside such a model holds a functools.partial: the deny
    list still wins (no exception by shape), and the message says what to do instead."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from auditkit.demo import CATEGORICAL_FEATURES

    X = applications[FEATURES].astype({c: "category" for c in CATEGORICAL_FEATURES})
    model = HistGradientBoostingClassifier(max_iter=5).fit(X, applications[LABEL])
    sio.dump(model, tmp_path / "model.skops")
    with pytest.raises(ModelError, match="functools.partial") as info:
        load_model(tmp_path / "model.skops")
    assert "one-hot encode" in str(info.value)


def _relabel(data: bytes, loader: str, module: str, cls: str) -> bytes:
    schema, files = _zip(data)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("__loader__") == loader:
                node["__module__"], node["__class__"] = module, cls
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema))
        for name, blob in files.items():
            zf.writestr(name, blob)
    return out.getvalue()


@pytest.mark.parametrize(("label", "listed"), [
    (("numpy", "ndarray"), ["numpy.round"]),
    (("sklearn.linear_model._logistic", "LogisticRegression"), ["numpy.round"]),
    (("builtins", "dict"), ["numpy.round"]),
])
def test_a_node_that_lies_about_its_type_is_judged_by_what_it_builds(
    label: tuple[str, str], listed: list[str], tmp_path: Path
) -> None:
    """skops builds a functools.partial from any PartialNode, whatever type the node claims:
    relabelled as a trusted type (and with its function listed), it is still refused."""
    data = sio.dumps(_ttr("x", functools.partial(np.round, decimals=1)))
    path = tmp_path / "model.skops"
    path.write_bytes(_relabel(data, "PartialNode", *label))
    assert "functools.partial" not in sio.get_untrusted_types(file=path)  # skops is fooled
    with pytest.raises(ModelError, match="never loads.*functools.partial"):
        load_model(path, trusted_types=listed)


def _nodes(node: Any, out: list[dict]) -> list[dict]:
    if isinstance(node, dict):
        out.append(node)
        for value in node.values():
            _nodes(value, out)
    elif isinstance(node, list):
        for value in node:
            _nodes(value, out)
    return out


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_a_damaged_file_loads_or_is_refused_with_one_model_error(small_model: Path,
                                                                 data: st.DataObject) -> None:
    """Bit flips anywhere, or any schema value replaced: ModelError or a model, nothing else."""
    blob = small_model.read_bytes()
    if data.draw(st.booleans(), label="flip bits"):
        flipped = bytearray(blob)
        for at in data.draw(st.lists(st.integers(0, len(blob) - 1), min_size=1, max_size=4)):
            flipped[at] ^= 0xFF
        damaged = bytes(flipped)
    else:
        schema, files = _zip(blob)
        nodes = [n for n in _nodes(schema, []) if n]  # a node with keys to replace (some are {})
        node = nodes[data.draw(st.integers(0, len(nodes) - 1), label="node")]
        key = data.draw(st.sampled_from(sorted(node)), label="key")
        node[key] = data.draw(st.one_of(
            st.none(), st.integers(-(2**63), 2**63), st.text(max_size=20),
            st.sampled_from([[], {}, {"__loader__": "ObjectNode"}, "builtins.exec", "os"]),
        ), label="value")
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            zf.writestr("schema.json", json.dumps(schema))
            for name, side in files.items():
                zf.writestr(name, side)
        damaged = out.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.skops"
        path.write_bytes(damaged)
        try:
            model = load_model(path)
        except ModelError as exc:
            assert "\n" not in str(exc)
        else:
            assert hasattr(model, "predict")


# -- the format registry: every model format has one loader, chosen by suffix or name ------------


def test_every_model_format_has_a_loader_and_nothing_else_does() -> None:
    from auditkit._models import LOADERS

    assert set(LOADERS) == {f.name for f in MODEL_FORMATS}
    assert [f.name for f in MODEL_FORMATS if not f.runs_code] == ["skops"]


@pytest.mark.parametrize("suffix", [s for f in MODEL_FORMATS for s in f.suffixes])
def test_each_model_suffix_loads_with_its_format(suffix: str, tmp_path: Path) -> None:
    """A plain model saved in the format its suffix names loads from that suffix; the formats
    that run code are refused without trust_model, before the file is read."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    from auditkit._formats import format_from_suffix

    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    fmt = format_from_suffix(MODEL_FORMATS, Path("m" + suffix))
    assert fmt is not None
    path = tmp_path / ("model" + suffix)
    if fmt.name == "skops":
        sio.dump(model, path)
    elif fmt.name == "joblib":
        joblib.dump(model, path)
    else:
        path.write_bytes(pickle.dumps(model))
    if fmt.runs_code:
        with pytest.raises(ModelError, match=f"as {fmt.name}: unpickling runs"):
            load_model(path)
    loaded = load_model(path, trust_model=fmt.runs_code)
    assert loaded.predict(np.array([[3.0]])).tolist() == [1]


def test_an_unknown_model_suffix_lists_every_registered_one(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"x")
    with pytest.raises(ModelError) as exc:
        load_model(path)
    assert all(s in str(exc.value) for f in MODEL_FORMATS for s in f.suffixes)


def test_allow_list_generator_reproduces_the_stored_list() -> None:
    """The stored allow list is what ``python -m auditkit._allow_list_review`` derives from the
    installed libraries (an upgrade that changes it fails here: review the diff, then paste it)."""
    from auditkit import _allow_list, _allow_list_review

    stored = {n for n in dir(_allow_list) if n.startswith(("_DATA", "_SKLEARN"))}
    generated = _allow_list_review._generate()
    assert set(generated) == stored
    assert frozenset(n for names in generated.values() for n in names) == TRUSTED_TYPES
