"""Loading the audited model without running code from the file.

skops files are loaded with exact-name trust (:mod:`auditkit._trusted_types`) decided before
anything is constructed; pickle and joblib only with ``trust_model = true``; an optional
SHA-256 pin is checked before the file is parsed. See docs/reports.md, "Loading the audited
model".
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditkit._formats import (
    AUTO,
    MODEL_FORMATS,
    FileFormat,
    format_from_suffix,
    format_named,
    suffix_list,
)
from auditkit.errors import ModelError

__all__ = ["load_model", "skops_io"]


_MAX_NAMES_SHOWN = 8


class _Hidden(ModuleNotFoundError):
    """A module hidden on purpose for the length of one import (never reaches a user: the
    import that meets it skips the module, see :func:`skops_io`)."""


class _NotFound:
    """A module finder that finds no module of the given top-level names."""

    def __init__(self, *names: str) -> None:
        self.names = names

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] in self.names:
            raise _Hidden(f"No module named {name!r} (hidden while skops is imported)", name=name)
        return None


def skops_io() -> Any:
    """``skops.io``, imported without importing torch.

    When skops is first imported it lists scikit-learn's estimators by importing every
    scikit-learn module, scikit-learn's array-API adapter for torch among them, and that adapter
    imports torch when torch is installed: about 180 MiB of memory and a second of start-up
    that no skops load needs (the adapter's import failing is skipped by that listing). For that
    import only, torch cannot be found; it can be imported again right after, and a process
    that has already imported torch is left as it is.
    """
    import sys

    if "skops.io" in sys.modules or "torch" in sys.modules:
        import skops.io

        return skops.io
    finder = _NotFound("torch")
    sys.meta_path.insert(0, finder)
    try:
        import skops.io
    finally:
        sys.meta_path.remove(finder)
    return skops.io


def _shown_names(names: list[str]) -> str:
    """Type names for a one-line message: odd names escaped and cut, a long list summarised."""
    from auditkit._trusted_types import is_exact_type_name

    shown = [n if is_exact_type_name(n) else repr(n[:60]) for n in names[:_MAX_NAMES_SHOWN]]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _model_bytes(p: Path, sha256: str | None) -> bytes:
    """The model file's bytes, read once; checked against the ``[model] sha256`` pin if given.

    Everything after this (the trust decision, then the load) reads these same bytes, so the
    file cannot change between the check and the load.
    """
    import hashlib
    import hmac

    data = p.read_bytes()
    if sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if not hmac.compare_digest(actual, sha256.lower()):
            raise ModelError(
                f"The model file '{p}' does not match its pin: its SHA-256 starts {actual[:12]}, "
                f"[model] sha256 starts {sha256.lower()[:12]}. The file changed since it was "
                "pinned: check where it came from, then update [model] sha256 in audit.toml."
            )
    return data


def _skops_type_names(data: bytes) -> tuple[set[str], list[str]]:
    """Every type name a skops file would import, and those skops itself reports as untrusted.

    The names are read from the file's schema (each node's ``__module__`` and ``__class__``) and
    from ``skops.io.get_untrusted_types``, which adds the names skops derives (bound methods,
    tree constructors, bit generators). Neither step imports a module the file names or
    constructs an object.
    """
    import io
    import json

    sio = skops_io()

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
    names: set[str] = set()
    stack: list[Any] = [schema]
    while stack:  # iterative: a deeply nested schema cannot exhaust the recursion limit here
        node = stack.pop()
        if isinstance(node, dict):
            if "__module__" in node or "__class__" in node or "__loader__" in node:
                names.add(f"{node.get('__module__')}.{node.get('__class__')}")
                # skops loaders whose object does not follow the node's claimed type
                if node.get("__loader__") == "PartialNode":
                    names.add("functools.partial")
                elif node.get("__loader__") == "OperatorFuncNode":
                    names.add(f"operator.{node.get('__class__')}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    reported = sio.get_untrusted_types(data=data)
    return names | set(reported), reported


def _skops_load(path: Path, data: bytes, trusted_types: list[str]) -> Any:
    """Load a skops file, deciding trust by exact name before anything is constructed.

    A name on the deny list (:func:`auditkit._trusted_types.denied`) is refused even when
    ``trusted_types`` lists it; any other name must be in
    :data:`auditkit._trusted_types.TRUSTED_TYPES` or listed exactly in ``trusted_types``.
    """
    sio = skops_io()

    from auditkit._trusted_types import DENIED_HINTS, TRUSTED_TYPES, denied

    if not data:
        raise ModelError(f"The model file '{path}' is empty; expected a model saved with skops.")
    try:
        names, reported = _skops_type_names(data)
    except Exception as exc:  # nothing is constructed yet: any failure means a bad file
        raise ModelError(
            f"The model file '{path}' is not a skops file, or is damaged "
            f"({exc.__class__.__name__}). Save the model with skops.io.dump, or set [model] "
            "format to the format it has."
        ) from None
    refused = sorted(n for n in names if denied(n))
    if refused:
        hints = "".join(f" Note on {n}: {DENIED_HINTS[n]}." for n in refused if n in DENIED_HINTS)
        raise ModelError(
            f"The model file '{path}' contains types that can run code or reach the system, "
            f"which auditkit never loads, even when listed in [model] trusted_types: "
            f"{_shown_names(refused)}. If the file is yours, re-save the model without them; "
            f"otherwise do not use it.{hints}"
        )
    listed = set(trusted_types)
    untrusted = sorted(n for n in names if n not in TRUSTED_TYPES and n not in listed)
    if untrusted:
        raise ModelError(
            f"The model file '{path}' contains types that are not trusted: "
            f"{_shown_names(untrusted)}. If you know where the file came from and have "
            "reviewed them, list these exact names in [model] trusted_types in audit.toml."
        )
    try:
        model = sio.loads(data, trusted=reported)
    except Exception as exc:  # every type is trusted by now; a damaged state can raise anything
        raise ModelError(
            f"The model file '{path}' cannot be loaded ({exc.__class__.__name__}): it is damaged "
            "or was written by an incompatible version of scikit-learn or skops."
        ) from None
    if names & _TREE_TYPES:
        _check_tree_nodes(model, path)
    return model


_TREE_TYPES = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
})


def _check_tree_nodes(model: Any, path: Path) -> None:
    """Refuse trees and tree ensembles whose arrays do not fit together.

    scikit-learn's compiled prediction code follows a tree's child and feature indices (and
    HistGradientBoosting's ``left``/``right``/``feature_idx``/``bitset_idx``) and writes
    GradientBoosting's stages by column without bounds checks, so a crafted file of trusted
    types could read or write out of bounds. Every tree reachable from the model is checked
    against its nodes and the features its owner validates, before anything predicts.
    """
    import numpy as np
    from sklearn.ensemble import BaseEnsemble
    from sklearn.ensemble._gb import BaseGradientBoosting
    from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import (
        BaseHistGradientBoosting,
    )
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    # (object, feature bound of its nearest owner, bound of an enclosing ensemble, cat. masks)
    stack: list[tuple[Any, int | None, int | None, tuple[Any, ...]]] = [(model, None, None, ())]
    seen: set[tuple[int, int | None, int | None, int]] = set()
    boosted: list[tuple[Any, int]] = []  # GradientBoosting models, for the init check
    ok = True
    while stack:
        obj, bound, ens, cats = stack.pop()
        if (id(obj), bound, ens, id(cats)) in seen:
            continue
        seen.add((id(obj), bound, ens, id(cats)))
        children: Any = ()
        if isinstance(obj, Tree):
            ok = bound is not None and _tree_ok(obj, bound)
        elif isinstance(obj, TreePredictor):
            ok = bound is not None and _predictor_ok(obj, bound, cats)
        elif isinstance(obj, dict):
            children = obj.values()
        elif isinstance(obj, (list, tuple, set, frozenset)):
            children = obj
        elif isinstance(obj, np.ndarray):
            children = obj.ravel() if obj.dtype == object else ()
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            children = vars(obj).values()
            n_in = vars(obj).get("n_features_in_")
            if isinstance(n_in, (int, np.integer)) and not isinstance(n_in, bool):
                if isinstance(obj, (BaseEnsemble, BaseHistGradientBoosting)):
                    ok = _ensemble_ok(obj, int(n_in))
                    if isinstance(obj, BaseGradientBoosting) and "estimators_" in vars(obj):
                        boosted.append((obj, int(n_in)))
                    bound = ens = int(n_in)
                    if isinstance(obj, BaseHistGradientBoosting):
                        mapper = vars(obj).get("_bin_mapper")
                        cats = (vars(obj).get("is_categorical_"),
                                getattr(mapper, "is_categorical_", None))
                else:  # a plain estimator validates its input against its own features
                    bound, ens = (int(n_in) if ens is None else min(int(n_in), ens)), None
        if not ok:
            break
        stack.extend((child, bound, ens, cats) for child in children)
    if not ok or not all(_init_width_ok(obj, n_in) for obj, n_in in boosted):
        raise ModelError(
            f"The model file '{path}' holds a tree or tree ensemble whose arrays do not fit "
            "together (scikit-learn would read or write out of bounds while predicting). "
            "The file is damaged or crafted: re-save the model from its source."
        )


def _ensemble_ok(obj: Any, n_in: int) -> bool:
    """The shapes an ensemble's compiled prediction code relies on without checking them."""
    import numpy as np
    from sklearn.ensemble._gb import BaseGradientBoosting
    from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import (
        BaseHistGradientBoosting,
    )

    attrs = vars(obj)
    if isinstance(obj, BaseHistGradientBoosting):  # set only with categorical features, which
        return attrs.get("_preprocessor") is None  # hold a denied functools.partial anyway
    estimators = attrs.get("estimators_")
    subsets = attrs.get("estimators_features_")  # bagging, isolation forest: each tree's columns
    if subsets is not None:
        if not isinstance(estimators, list) or len(subsets) != len(estimators):
            return False
        pairs = zip(subsets, estimators, strict=True)
        if any(len(f) != getattr(e, "n_features_in_", None) for f, e in pairs):
            return False
    if not isinstance(obj, BaseGradientBoosting) or estimators is None:
        return True
    # predict_stages writes column k of the init predictions for every stage's k-th tree, and
    # validates X against estimators_[0, 0] only
    if not (isinstance(estimators, np.ndarray) and estimators.ndim == 2 and estimators.size):
        return False
    k = estimators.shape[1]
    if k != attrs.get("n_trees_per_iteration_") or any(
            getattr(e, "n_features_in_", None) != n_in for e in estimators.ravel()):
        return False
    init = attrs.get("init_")
    return init == "zero" if isinstance(init, str) else hasattr(init, "predict")


def _init_width_ok(obj: Any, n_in: int) -> bool:
    """GradientBoosting's init predictions have a column for each tree of a stage. Run once
    every tree of the model is checked: it predicts one row of zeros with the init model."""
    import numpy as np
    from sklearn.base import is_classifier
    from sklearn.ensemble._gb import _init_raw_predictions

    init, k = vars(obj)["init_"], vars(obj)["estimators_"].shape[1]
    if isinstance(init, str):
        return True  # "zero": as many columns as n_trees_per_iteration_, checked equal to k
    try:
        raw = _init_raw_predictions(np.zeros((1, n_in)), init, obj._loss, is_classifier(obj))
    except Exception:
        return False
    return raw.ndim == 2 and raw.shape[1] >= k


def _children_ok(left: Any, right: Any, inner: Any, n: int) -> bool:
    """Inner nodes' children lie after them and inside the tree (so no cycle, no overrun)."""
    import numpy as np

    idx = np.arange(n)
    return bool(
        np.all(left[inner] > idx[inner]) and np.all(left[inner] < n)
        and np.all(right[inner] > idx[inner]) and np.all(right[inner] < n)
    )


def _tree_ok(tree: Any, bound: int | None) -> bool:
    import numpy as np

    n = int(tree.node_count)
    left, right = np.asarray(tree.children_left), np.asarray(tree.children_right)
    feature = np.asarray(tree.feature)
    if n < 1 or not len(left) == len(right) == len(feature) == len(tree.value) == n:
        return False
    leaf = left == -1
    if np.any(leaf != (right == -1)) or not _children_ok(left, right, ~leaf, n):
        return False
    limit = int(tree.n_features) if bound is None else min(bound, int(tree.n_features))
    return bool(np.all(feature[~leaf] >= 0) and np.all(feature[~leaf] < limit))


def _predictor_ok(pred: Any, bound: int | None, cats: tuple[Any, ...]) -> bool:
    import numpy as np

    nodes = getattr(pred, "nodes", None)
    names = getattr(getattr(nodes, "dtype", None), "names", None) or ()
    needed = {"is_leaf", "left", "right", "feature_idx", "is_categorical", "bitset_idx"}
    if not needed <= set(names) or nodes.ndim != 1 or len(nodes) < 1:
        return False
    n = len(nodes)
    inner = ~nodes["is_leaf"].astype(bool)
    left, right = nodes["left"].astype(np.int64), nodes["right"].astype(np.int64)
    feature = nodes["feature_idx"].astype(np.int64)
    if not _children_ok(left, right, inner, n) or np.any(feature[inner] < 0):
        return False
    if bound is not None and np.any(feature[inner] >= bound):
        return False
    categorical = inner & nodes["is_categorical"].astype(bool)
    if not categorical.any():
        return True
    n_bitsets = min(len(pred.raw_left_cat_bitsets), len(pred.binned_left_cat_bitsets))
    bitset = nodes["bitset_idx"].astype(np.int64)[categorical]
    if np.any(bitset < 0) or np.any(bitset >= n_bitsets) or not cats:
        return False
    for mask in cats:  # the owner's categorical masks: each categorical split's feature is one
        mask = np.zeros(0, bool) if mask is None else np.asarray(mask, dtype=bool)
        used = feature[categorical]
        if np.any(used >= len(mask)) or not np.all(mask[np.minimum(used, len(mask) - 1)]):
            return False
    return True


def load_model(
    path: str | Path,
    fmt: str = AUTO,
    *,
    trust_model: bool = False,
    trusted_types: list[str] | None = None,
    sha256: str | None = None,
) -> Any:
    """Load a fitted model without running code from the file.

    Parameters
    ----------
    path:
        The model file: ``.skops``, or ``.pkl``/``.pickle``/``.joblib`` (with ``trust_model``).
    fmt:
        ``"auto"`` (from the suffix) or a name of :data:`auditkit._formats.MODEL_FORMATS`:
        ``"skops"``, ``"pickle"`` or ``"joblib"``.
    trust_model:
        Allow pickle and joblib, which run any code the file holds. Only for files you made.
    trusted_types:
        Exact type or function names a skops file may hold beyond the reviewed defaults
        (:data:`auditkit._trusted_types.TRUSTED_TYPES`); names on the deny list never load.
    sha256:
        The file's expected SHA-256 (64 hex characters): checked before the file is parsed.

    Returns
    -------
    object
        The fitted model (anything with a ``predict`` method).

    Raises
    ------
    ModelError
        The file is missing, of an unknown format, does not match ``sha256``, holds a denied or
        untrusted type (named), is damaged, or is pickle/joblib without ``trust_model``.

    Examples
    --------
    >>> model = load_model("model.skops", trusted_types=["numpy.log1p"])  # doctest: +SKIP
    """
    p = Path(path)
    _check_arguments(trusted_types, sha256)
    kind = _model_format(p, fmt)
    if kind.runs_code and not trust_model:
        raise ModelError(
            f"Refusing to load '{p}' as {kind.name}: unpickling runs arbitrary code from the file. "
            "Save the model with skops instead, or, if you trust this file, set "
            "[model] trust_model = true in audit.toml."
        )
    data = _model_bytes(p, sha256)
    model = LOADERS[kind.name](p, data, list(trusted_types or []))
    if not hasattr(model, "predict"):
        raise ModelError(
            f"The object in '{p}' has no predict method ({type(model).__name__}); expected a "
            "fitted scikit-learn style model."
        )
    return model


def _check_arguments(trusted_types: list[str] | None, sha256: str | None) -> None:
    """Refuse a bad ``trusted_types`` list or ``sha256`` pin before the file is touched."""
    from auditkit._trusted_types import trusted_types_problem

    problem = trusted_types_problem(list(trusted_types or []))
    if problem:
        raise ModelError(f"[model] trusted_types {problem}.")
    if sha256 is not None and not (
        isinstance(sha256, str) and len(sha256) == 64
        and all(c in "0123456789abcdefABCDEF" for c in sha256)
    ):
        raise ModelError(
            "[model] sha256 must be the model file's SHA-256 as 64 hexadecimal characters "
            "(the first field of 'sha256sum <model file>')."
        )


def _model_format(p: Path, fmt: str) -> FileFormat:
    """The format of the model file: ``fmt``, else the one its suffix names."""
    if not p.exists():
        raise ModelError(f"The model file '{p}' does not exist. Check [model] path in audit.toml.")
    if p.is_dir():
        raise ModelError(f"The model path '{p}' is a directory; expected a model file.")
    if fmt != AUTO:
        return format_named(MODEL_FORMATS, fmt)
    found = format_from_suffix(MODEL_FORMATS, p)
    if found is None:
        raise ModelError(
            f"Cannot tell the format of model '{p}' from its name; expected "
            f"{suffix_list(MODEL_FORMATS)}. Set [model] format in audit.toml."
        )
    return found


def _unpickled(p: Path, kind: str, read: Callable[[], Any]) -> Any:
    """What ``read`` unpickles from ``p``; any failure named as a :class:`ModelError`."""
    try:
        return read()
    except Exception as exc:  # unpickling can raise anything
        raise ModelError(
            f"The model file '{p}' cannot be loaded as {kind} ({exc.__class__.__name__}). "
            "Check that it is a model saved with that format."
        ) from None


def _pickle_load(p: Path, data: bytes, trusted_types: list[str]) -> Any:
    """A pickle file: runs any code it holds (the caller checked ``trust_model``)."""
    import pickle

    return _unpickled(p, "pickle", lambda: pickle.loads(data))  # noqa: S301 - trusted by the user


def _joblib_load(p: Path, data: bytes, trusted_types: list[str]) -> Any:
    """A joblib file: runs any code it holds (the caller checked ``trust_model``)."""
    import io

    import joblib

    return _unpickled(p, "joblib", lambda: joblib.load(io.BytesIO(data)))


#: The loader of each format of :data:`auditkit._formats.MODEL_FORMATS`, by name:
#: ``(path, bytes, trusted_types) -> model``.
LOADERS: dict[str, Callable[[Path, bytes, list[str]], Any]] = {
    "skops": _skops_load,
    "pickle": _pickle_load,
    "joblib": _joblib_load,
}
