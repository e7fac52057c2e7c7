"""How the allow list of :mod:`auditkit._allow_list` is derived, for review.

``python -m auditkit._allow_list_review`` prints the data block of :mod:`auditkit._allow_list`
from the installed scikit-learn, numpy, scipy and skops, sorted: after a dependency upgrade the
difference is reviewed, then pasted into that module (the groups and what each holds are
described there). ``tests/security/test_model_loading.py`` checks that the stored list is what
this derives, so an upgrade that changes it fails until it has been reviewed.

Names the deny list refuses, and names that are not exact, are never proposed.
"""

from __future__ import annotations

from auditkit._trusted_types import denied, is_exact_type_name

__all__: list[str] = []


def _type_name(obj: object) -> str:
    from skops.io._utils import get_type_name

    return get_type_name(obj)


def _classes_in(module: object, base: type | None = None) -> list[str]:
    """Classes defined in ``module`` (optionally subclasses of ``base``), by skops name."""
    out = []
    for attr in sorted(vars(module)):
        obj = getattr(module, attr)
        if isinstance(obj, type) and obj.__module__ == module.__name__:  # type: ignore[attr-defined]
            if base is None or issubclass(obj, base):
                out.append(_type_name(obj))
    return out


def _generate() -> dict[str, list[str]]:  # pragma: no cover - run by hand, output reviewed
    """The four groups of :data:`ALLOW_LIST`, derived from the installed libraries."""
    import inspect

    import numpy as np
    import scipy.sparse as sp
    from sklearn import calibration
    from sklearn._loss import link, loss
    from sklearn.gaussian_process import kernels
    from sklearn.gaussian_process._gpc import _BinaryGaussianProcessClassifierLaplace
    from sklearn.metrics import _scorer
    from sklearn.model_selection import _split
    from sklearn.neural_network import _stochastic_optimizers as optim
    from sklearn.utils import all_estimators
    from skops.io import _trusted_types as skt
    from skops.io._sklearn import ALLOWED_LOSSES


    sparse = [
        _type_name(obj) for obj in (getattr(sp, a) for a in sorted(dir(sp)))
        if isinstance(obj, type) and issubclass(obj, (sp.spmatrix, sp.sparray))
    ]
    data = sorted(
        {n for n in skt.PRIMITIVE_TYPE_NAMES + skt.CONTAINER_TYPE_NAMES if n != "builtins.map"}
        | {"builtins.bytearray", "builtins.bytes", "builtins.dict", "builtins.slice"}
        | {"collections.OrderedDict", "collections.defaultdict", "numpy.dtype", "numpy.ndarray"}
        | {"numpy.ma.MaskedArray", "numpy.ma.core.MaskedArray"}
        | {_type_name(np.random.RandomState), _type_name(np.random.Generator)}
        | set(skt.NUMPY_DTYPE_TYPE_NAMES) | set(skt.NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES)
        | set(sparse)
    )
    estimators = sorted(
        n for n in (_type_name(c) for _, c in all_estimators()) if n.startswith("sklearn.")
    )
    internals = sorted(
        set(skt.SKLEARN_INTERNAL_TYPE_NAMES)
        | {_type_name(c) for c in ALLOWED_LOSSES}
        | set(_classes_in(loss)) | set(_classes_in(link))
        | set(_classes_in(kernels, kernels.Kernel)) | {_type_name(kernels.Hyperparameter)}
        | {_type_name(calibration._CalibratedClassifier)}
        | {_type_name(calibration._SigmoidCalibration)}
        | {_type_name(_BinaryGaussianProcessClassifierLaplace)}
        | set(_classes_in(optim))
        | {n for n in _classes_in(_split) if not n.rsplit(".", 1)[1].startswith("_")}
        | {_type_name(_scorer._PassthroughScorer), _type_name(_scorer._Scorer)}
        | {_type_name(_scorer._MultimetricScorer)}
        | {"sklearn.utils._bunch.Bunch", "sklearn.compose._column_transformer.make_column_selector"}
        | {"sklearn.tree._tree.Tree"}
        | {"sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"}
    )
    callables = set()
    for _, cls in all_estimators():
        for param in inspect.signature(cls.__init__).parameters.values():
            default = param.default
            if callable(default) and not isinstance(default, type):
                callables.add(f"{getattr(default, '__module__', None) or 'numpy'}.{default.__name__}")
    groups = {
        "_DATA_TYPES": data, "_SKLEARN_ESTIMATORS": estimators,
        "_SKLEARN_INTERNALS": internals, "_SKLEARN_DEFAULT_CALLABLES": sorted(callables),
    }
    for key, names in groups.items():
        bad = [n for n in names if denied(n) or not is_exact_type_name(n)]
        if bad:
            raise SystemExit(f"{key} would trust denied or malformed names: {bad}")
    return groups


def _render(groups: dict[str, list[str]]) -> str:  # pragma: no cover - run by hand
    """The data block: sorted names, packed greedily into lines of at most 100 characters."""
    lines = []
    for key, names in groups.items():
        lines.append(f"{key}: tuple[str, ...] = (")
        line = "   "
        for item in (f' "{n}",' for n in names):
            if len(line) + len(item) > 100:
                lines.append(line)
                line = "   "
            line += item
        lines.append(line)
        lines.append(")")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(_render(_generate()))

