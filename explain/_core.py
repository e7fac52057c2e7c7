"""``ModelExplainer`` and :func:`explain`: pick an engine, bound the cost, check efficiency."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

import auditkit.explain._builders  # noqa: F401  (registers the built-in explainers)
from auditkit.explain._engines import (
    BuildRequest,
    Engine,
    ExplainerSpec,
    Target,
    available_methods,
    get_explainer,
    predict_output,
    target_for,
)
from auditkit.explain._inputs import Codec, as_frame, check_model, group_map, split_pipeline
from auditkit.explain._result import (
    EfficiencyCheck,
    ExplainerChoice,
    ExplanationResult,
    Sampling,
    bootstrap_importance,
)
from auditkit.explain.errors import ExplainInputError

__all__ = ["DEFAULT_MAX_BACKGROUND", "ModelExplainer", "explain"]

DEFAULT_MAX_BACKGROUND = 1000
_KMEANS_K = 20
_LINEAR_BACKGROUND = 1000
_GRADIENT_BACKGROUND = 200


def _single_openmp_thread() -> Any:
    """Predict on small batches with one OpenMP thread.

    Our batches are small (a few thousand rows); spinning up OpenMP teams for each of them
    (HistGradientBoosting, LightGBM) costs more than it saves, several times more on a busy
    machine. BLAS is left alone.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def _seed(random_state: int | None) -> int:
    return 0 if random_state is None else int(random_state)


def _check_int(name: str, value: Any, minimum: int, fn: str = "explain") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ExplainInputError(
            f"The {name!r} parameter of {fn} must be an integer >= {minimum}; got {value!r}."
        )
    return int(value)


def _summarise(
    matrix: np.ndarray, categorical: Sequence[int], k: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A k-means summary of ``matrix``: centres (modes for categorical codes) and weights."""
    n = matrix.shape[0]
    if n <= k:
        return matrix.copy(), np.full(n, 1.0 / n)
    numeric = [j for j in range(matrix.shape[1]) if j not in set(categorical)]
    if not numeric:
        rng = np.random.default_rng(seed)
        idx = rng.choice(n, size=k, replace=False)
        return matrix[idx].copy(), np.full(k, 1.0 / k)
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    num = matrix[:, numeric]
    scale = num.std(axis=0)
    scale[scale == 0] = 1.0
    # One thread: on a few thousand rows, OpenMP start-up costs more than the clustering.
    with threadpool_limits(1):
        km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit((num - num.mean(axis=0)) / scale)
    labels = km.labels_
    centres = np.empty((k, matrix.shape[1]))
    weights = np.bincount(labels, minlength=k).astype(float)
    for c in range(k):
        members = matrix[labels == c]
        if len(members) == 0:
            members = matrix[:1]
        centres[c, numeric] = members[:, numeric].mean(axis=0)
        for j in categorical:
            codes = np.rint(members[:, j]).astype(int)
            centres[c, j] = np.bincount(codes).argmax()
    keep = weights > 0
    return centres[keep], weights[keep] / weights[keep].sum()


class ModelExplainer:
    """An explainer bound to one model and one reference dataset.

    Parameters
    ----------
    model:
        A fitted scikit-learn estimator or Pipeline, a torch module, or a callable mapping a 2-D
        array to outputs.
    X:
        Reference data (DataFrame or 2-D array) in the model's input space. Rows explained later
        must come from the same columns.
    background:
        Optional background rows. With a tree model it switches TreeSHAP to the interventional
        algorithm; more than ``max_background`` rows are sampled down (the result says so).
    method:
        ``"auto"`` or a registered explainer name (``available_methods()``).
    target_class:
        The class whose output is explained (default: the positive class of a binary model,
        the last class of a multiclass one).
    """

    def __init__(
        self,
        model: Any,
        X: Any,
        *,
        background: Any = None,
        method: str = "auto",
        target_class: Any = None,
        feature_names: Sequence[str] | None = None,
        max_background: int = DEFAULT_MAX_BACKGROUND,
        nsamples: int | None = None,
        random_state: int | None = None,
    ) -> None:
        kind = check_model(model)
        max_background = _check_int("max_background", max_background, 1)
        self.model = model
        self.random_state = _seed(random_state)
        self.frame = as_frame(X, model, feature_names)
        self.feature_names = tuple(self.frame.columns)
        self.notes: list[str] = []
        pre, est = split_pipeline(model)
        self._pre, self._est = pre, est
        self.codec = Codec.fit(self.frame)
        if pre is None and not self.codec.all_numeric:
            bad = [self.feature_names[j] for j in self.codec.categorical]
            raise ExplainInputError(
                f"The 'X' parameter of explain has non-numeric columns "
                f"({', '.join(repr(b) for b in bad[:6])}) but the model is not a scikit-learn "
                f"Pipeline that encodes them. Pass a Pipeline whose first step encodes them "
                f"(e.g. ColumnTransformer with OneHotEncoder), or encode them before fitting."
            )
        target_source = model if hasattr(model, "classes_") else est
        self.target: Target = (
            target_for(target_source, target_class) if kind != "torch" else Target(None, None, 0)
        )
        self._bg_frame = self._background_frame(background, max_background)
        spec, reason, self._parents = self._choose(method, kind)
        self.spec = spec
        try:
            self._engine = self._build(spec, nsamples)
        except ExplainInputError:
            raise
        except Exception as exc:
            if method != "auto" or not spec.model_specific or kind == "torch":
                raise
            # shap refused a model it normally supports (e.g. multiclass GradientBoosting):
            # explain the whole model on the original features instead, and say so.
            self.notes.append(
                f"shap's {spec.name} explainer does not support this "
                f"{type(self._est).__name__} ({type(exc).__name__}: {str(exc)[:160]}); "
                f"permutation SHAP on the model's outputs was used instead."
            )
            spec = self.spec = get_explainer("permutation")
            reason = spec.detect(self._est) or ""
            self._parents = None
            self._engine = self._build(spec, nsamples)
        space = (
            "preprocessed features, grouped back to the original features"
            if self._parents is not None
            else ("model inputs" if spec.model_specific else "original features")
        )
        self.choice = ExplainerChoice(
            spec.name,
            reason,
            self._engine.engine,
            self._engine.output,
            space,
            self._engine.background,
        )
        self.notes.extend(self._engine.notes)

    # -- setup -----------------------------------------------------------------------------
    def _background_frame(self, background: Any, max_background: int) -> pd.DataFrame | None:
        if background is None:
            return None
        frame = as_frame(background, self.model, list(self.feature_names))
        if len(frame) > max_background:
            frame = frame.sample(n=max_background, random_state=self.random_state)
            self.notes.append(
                f"The background had {len(background):,} rows, more than max_background="
                f"{max_background:,}; a uniform random sample of {max_background:,} rows was used."
            )
        return frame

    def _choose(self, method: str, kind: str) -> tuple[ExplainerSpec, str, list[int] | None]:
        if not isinstance(method, str):
            raise ExplainInputError(
                f"The 'method' parameter of explain must be a string; got {type(method).__name__}."
            )
        parents = None
        if self._pre is not None:
            z = self._pre.transform(self.frame.iloc[:1])
            parents = group_map(self._pre, list(self.feature_names), int(np.shape(z)[1]))
        if method == "auto":
            candidates = [get_explainer(n) for n in available_methods() if get_explainer(n).auto]
        else:
            candidates = [get_explainer(method)]
        for spec in candidates:
            if not spec.model_specific:
                reason = (
                    spec.detect(self._est)
                    if method == "auto"
                    else f"method={method!r} was requested: {spec.summary}, with a "
                    f"k-means-summarised background."
                )
                return spec, reason or "", None
            reason = spec.detect(self._est) if kind != "callable" else None
            if reason is None:
                if method != "auto":
                    raise ExplainInputError(
                        f"The 'method' parameter of explain is {method!r}, which does not apply "
                        f"to a {type(self._est).__name__}. Use method='auto' or 'permutation'."
                    )
                continue
            if self._pre is not None and parents is None:
                if method != "auto":
                    raise ExplainInputError(
                        f"The 'method' parameter of explain is {method!r}, but the Pipeline's "
                        f"preprocessing cannot be mapped back to the original features. Use "
                        f"method='auto' or 'permutation'."
                    )
                self.notes.append(
                    f"The Pipeline's preprocessing mixes columns (its outputs cannot be mapped "
                    f"back to single features), so the {spec.name} explainer was not used; the "
                    f"whole Pipeline is explained on the original features instead."
                )
                continue
            return spec, reason, parents
        raise ExplainInputError(  # pragma: no cover - permutation always applies
            f"No explainer applies to {type(self._est).__name__}."
        )

    def _to_engine(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows in the engine's input space."""
        if self.spec.model_specific:
            z = self._pre.transform(frame) if self._pre is not None else frame
            if hasattr(z, "toarray"):
                z = z.toarray()
            return np.asarray(z, dtype=float)
        return self.codec.encode(frame)

    def _build(self, spec: ExplainerSpec, nsamples: int | None) -> Engine:
        seed = self.random_state
        bg_frame = self._bg_frame
        rng_frame = self.frame
        weights = None
        predict = None
        categorical: tuple[int, ...] = ()
        if spec.model_specific:
            if bg_frame is None and spec.needs_background:
                size = _GRADIENT_BACKGROUND if spec.name == "gradient" else _LINEAR_BACKGROUND
                bg_frame = rng_frame.sample(n=min(size, len(rng_frame)), random_state=seed)
            background = self._to_engine(bg_frame) if bg_frame is not None else None
        else:
            categorical = self.codec.categorical
            source = (
                bg_frame
                if bg_frame is not None
                else rng_frame.sample(n=min(5000, len(rng_frame)), random_state=seed)
            )
            background, weights = _summarise(
                self.codec.encode(source), categorical, _KMEANS_K, seed
            )
            fn, scale = predict_output(self.model, self.target)
            codec, model_names = self.codec, hasattr(self.model, "feature_names_in_")

            def predict(M: np.ndarray) -> np.ndarray:
                frame = codec.decode(M)
                return np.asarray(
                    fn(
                        frame
                        if model_names or self._pre is not None or not codec.all_numeric
                        else frame.to_numpy()
                    ),
                    dtype=float,
                )

            self._agnostic_scale = scale
        req = BuildRequest(
            self._est if spec.model_specific else self.model,
            self.target,
            background,
            weights,
            categorical,
            seed,
            nsamples,
            predict,
        )
        engine = spec.build(req)
        if not spec.model_specific:
            engine.output = self.target.describe(self._agnostic_scale)
        return engine

    # -- explaining -------------------------------------------------------------------------
    def output(self, frame: pd.DataFrame) -> np.ndarray:
        """The explained model output ``f`` for rows in the original feature space."""
        Z = self._to_engine(frame)
        with _single_openmp_thread():
            return self._engine.f(Z)

    def shap_values(
        self, frame: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(values, base, f, raw_values)`` for rows of ``frame`` (original feature space)."""
        Z = self._to_engine(frame)
        with _single_openmp_thread():
            raw, base = self._engine.values(Z)
            f = self._engine.f(Z)
        if self._parents is not None:
            G = np.zeros((raw.shape[1], len(self.feature_names)))
            G[np.arange(raw.shape[1]), self._parents] = 1.0
            values = raw @ G
        else:
            values = raw
        return values, base, f, raw

    def raw_feature_names(self) -> tuple[str, ...] | None:
        if self._parents is None or self._pre is None:
            return None
        try:
            return tuple(str(n) for n in self._pre.get_feature_names_out())
        except Exception:  # noqa: BLE001
            return None

    def rows(self, labels: Sequence[Any]) -> pd.DataFrame:
        """Rows of the reference data by index label."""
        return self.frame.loc[list(labels)]

    def explain(
        self,
        *,
        sample: int | None = None,
        rows: Sequence[Any] | None = None,
        n_bootstrap: int = 200,
        confidence: float = 0.95,
        efficiency_tolerance: float | None = None,
    ) -> ExplanationResult:
        """SHAP values for a row sample (or the given row labels) with global importance."""
        n_bootstrap = _check_int("n_bootstrap", n_bootstrap, 0)
        if not 0 < confidence < 1:
            raise ExplainInputError(
                f"The 'confidence' parameter of explain must be between 0 and 1; got {confidence!r}."
            )
        total = len(self.frame)
        if rows is not None:
            frame = self.rows(rows)
        else:
            limit = self.spec.default_sample if sample is None else _check_int("sample", sample, 1)
            frame = (
                self.frame.sample(n=limit, random_state=self.random_state).sort_index()
                if total > limit
                else self.frame
            )
        values, base, f, raw = self.shap_values(frame)
        efficiency = EfficiencyCheck.compute(
            values,
            base,
            f,
            rtol=self._engine.rtol,
            exact=self._engine.exact,
            tolerance=efficiency_tolerance,
        )
        importance = bootstrap_importance(
            values,
            self.feature_names,
            n_bootstrap=n_bootstrap,
            confidence=confidence,
            random_state=self.random_state,
        )
        sampling = Sampling(
            total if rows is None else len(frame),
            len(frame),
            self._engine.background,
            self.random_state,
            tuple(self.notes),
        )
        return ExplanationResult(
            values=values,
            base_values=base,
            output=f,
            feature_names=self.feature_names,
            data=frame,
            importance=importance,
            efficiency=efficiency,
            choice=self.choice,
            sampling=sampling,
            raw_values=raw if self._parents is not None else None,
            raw_feature_names=self.raw_feature_names(),
            notes=tuple(self.notes),
        )


def explain(
    model: Any,
    X: Any,
    *,
    background: Any = None,
    method: str = "auto",
    sample: int | None = None,
    target_class: Any = None,
    feature_names: Sequence[str] | None = None,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    max_background: int = DEFAULT_MAX_BACKGROUND,
    nsamples: int | None = None,
    efficiency_tolerance: float | None = None,
    random_state: int | None = None,
) -> ExplanationResult:
    """Explain ``model`` on ``X`` with SHAP, choosing the engine and bounding the cost.

    Parameters
    ----------
    model:
        Fitted estimator, Pipeline (ColumnTransformer preprocessing is grouped back to the
        original features), torch module or callable.
    X:
        Rows to explain (DataFrame or 2-D array).
    background:
        Background rows (optional; sampled down to ``max_background`` and the result says so).
    method:
        ``"auto"`` (tree, linear, gradient, else permutation) or an explicit name.
    sample:
        At most this many rows are explained (uniform random sample, stated in
        ``result.sampling``). Default: per engine (2,000 for trees, 200 for permutation).
    n_bootstrap, confidence:
        Bootstrap resamples over rows for the global-importance intervals.

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(200, 3)); y = X @ [1.0, -2.0, 0.5]
    >>> res = explain(LinearRegression().fit(X, y), X, random_state=0)
    >>> res.choice.method, res.efficiency.passed, res.top(1)
    ('linear', True, ['x1'])
    """
    explainer = ModelExplainer(
        model,
        X,
        background=background,
        method=method,
        target_class=target_class,
        feature_names=feature_names,
        max_background=max_background,
        nsamples=nsamples,
        random_state=random_state,
    )
    return explainer.explain(
        sample=sample,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        efficiency_tolerance=efficiency_tolerance,
    )
