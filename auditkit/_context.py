"""The audit context handed to every check, and what a check can require of it.

:data:`REQUIREMENTS` is the one table of requirements a check may declare
(``CheckSpec.requires``): each name maps to the test of whether an audit context provides it.
The check registry validates declarations against it and :meth:`AuditContext.has` answers from
it, so a requirement is added in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from auditkit.errors import ConfigError
from auditkit.hints import did_you_mean
from auditkit.reports import Artifact

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from auditkit._outcomes import Outcomes
    from auditkit._personal import PersonalDataClassification
    from auditkit._redact import PersonalValueIndex
    from auditkit.config import AuditConfig

T = TypeVar("T")

__all__ = ["REQUIREMENTS", "AuditContext", "requirement_test"]


def _no_track(items: Iterable[T], description: str = "", total: int | None = None) -> Iterator[T]:
    yield from items


@dataclass
class AuditContext:
    """Everything a check may read, loaded once by the runner.

    Attributes
    ----------
    config:
        The validated :class:`auditkit.config.AuditConfig`.
    base_dir:
        Directory of ``audit.toml``; relative paths in the config resolve against it.
    out_dir:
        Directory the reports go to. Checks that write files (plots, ledgers copies) write them
        under ``out_dir / "artifacts"`` via :meth:`artifact_path` and register them with
        :meth:`add_artifact`.
    data:
        The audit dataset as a pandas DataFrame (already decrypted if it was encrypted). On the
        Dask engine (``[data] engine``, docs/scale.md): a uniform sample of it, of at most
        ``[data] sample_rows`` rows, and :attr:`scale` holds the figures of every row.
    scale:
        ``None`` when the whole dataset is in :attr:`data`; on the Dask engine the
        :class:`~auditkit._scale._view.ScaleView` of the streaming pass, which count-based
        checks read instead of :attr:`data` and sampled checks cite (``scale.sample_note()``).
    personal_columns:
        Columns whose values identify people (declared in the config, or identifiers and
        identifying quasi-identifiers found by the PII scan):
        ``personal_data.identifying_columns``. No check may put a raw value of these columns
        in a finding, table, figure, log line or exception message.
    personal_data:
        The one :class:`~auditkit._personal.PersonalDataClassification` of the audit: which
        columns are personal data and of which categories (identifier, quasi-identifier, GDPR
        Art. 9 special category, CCPA sensitive, protected attribute). Every check that counts
        or judges personal data reads it. When not given (a context built by hand), it is
        derived without a scan from ``personal_columns`` (as declared) and ``protected``.
    data_notes:
        What the reader did to the dataset that the report must say (copies of a repeated
        column name dropped); names and positions only, never values.
    data_files:
        The files the data was read from, in the data's order (one, or every partition): what
        the signed manifest lists, exactly the files this audit read.
    """

    config: AuditConfig
    base_dir: Path
    out_dir: Path
    data: pd.DataFrame
    model: Any = None
    label: str | None = None
    prediction: str | None = None
    score: str | None = None
    protected: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    personal_columns: frozenset[str] = frozenset()
    personal_data: PersonalDataClassification = None  # type: ignore[assignment]
    data_notes: tuple[str, ...] = ()
    random_state: int = 0
    track: Callable[..., Iterator[Any]] = _no_track
    artifacts: list[Artifact] = field(default_factory=list)
    scale: Any = None
    data_files: tuple[Path, ...] = ()
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.personal_data is None:
            from auditkit._personal import PersonalDataClassification

            self.personal_data = PersonalDataClassification.from_inventory(
                None, declared=self.personal_columns, protected=self.protected,
                columns=[str(c) for c in self.data.columns],
            )

    @cached_property
    def guard(self) -> PersonalValueIndex:
        """The values that nothing the audit writes may contain: those of
        :attr:`personal_columns` and of every protected column whose labels are pseudonymised,
        less the category labels of :attr:`category_label_columns`.

        The category labels of a protected attribute ("Female", "Caucasian", "25-34") are not
        identifiers and are left out, so that its groups can be named in the report; a column
        whose values identify people (names, ids, contacts, date of birth, ZIP code, more than
        50 values) is never exempt (:func:`auditkit._personal.labels_to_pseudonymise`).
        """
        from auditkit._redact import PersonalValueIndex

        protected = {c for c in self.protected if c in self.data.columns}
        return PersonalValueIndex.from_frame(
            self.data, sorted((set(self.personal_columns) | protected) - self.category_label_columns)
        )

    @cached_property
    def category_label_columns(self) -> frozenset[str]:
        """Protected columns whose values are category labels, shown as they are; every other
        protected column is shown as ``group 1..k`` in every output. The one decision of
        :func:`auditkit._personal.category_label_columns`, with the audit's classification."""
        from auditkit._personal import category_label_columns

        present = list(dict.fromkeys(c for c in self.protected if c in self.data.columns))
        if not present:
            return frozenset()
        if self.scale is None:
            return category_label_columns(self.data[present], self.personal_data)
        return self._scaled_category_label_columns(present)

    def _scaled_category_label_columns(self, present: list[str]) -> frozenset[str]:
        """:attr:`category_label_columns` of data read at scale: decided on the sample with
        every value of each column that the sample lacks added (the labels' shapes are judged
        on every distinct value); a column with more values than the tally keeps is never
        shown."""
        import pandas as pd

        from auditkit._personal import category_label_columns

        frame = self.data[present]
        kept = [c for c in present if self.scale.vocabulary(c) is not None]
        extra = {}
        for c in kept:
            seen = set(frame[c].dropna().tolist())
            extra[c] = [v for v in self.scale.vocabulary(c) if v not in seen]
        longest = max((len(v) for v in extra.values()), default=0)
        if longest:
            added = pd.DataFrame({c: pd.Series(v + [None] * (longest - len(v)), dtype=object)
                                  for c, v in extra.items()})
            frame = pd.concat([frame[kept].astype(object), added], ignore_index=True)
        else:
            frame = frame[kept]
        return category_label_columns(frame, self.personal_data) if kept else frozenset()

    # -- legal scope -----------------------------------------------------------------------
    def cite(self, *topics: str) -> tuple[str, ...]:
        """Ids of the catalogue's provisions on these topics that apply in the audit's scope
        (``[audit] domain`` and ``jurisdictions``), e.g. ``ctx.cite("outcome-disparity")`` in a
        US credit audit gives Regulation B's provisions and no employment rule. The topics are
        :data:`auditkit.reports.catalogue.TOPICS`."""
        from auditkit.reports.catalogue import get_catalogue

        meta = self.config.audit
        return get_catalogue().cite(topics, domain=meta.domain, jurisdictions=meta.jurisdictions)

    # -- model outputs ---------------------------------------------------------------------
    def outcomes(self) -> Outcomes:
        """Label and predictions in one vocabulary, with the positive and favourable outcomes
        in it (:mod:`auditkit._outcomes`: a text label beside 0/1 predictions is recoded)."""
        if "outcomes" not in self._cache:
            from auditkit._outcomes import resolve_outcomes

            if self.label is None:
                raise ConfigError(_NO_LABEL)
            data = self.config.data
            kw = dict(positive_label=data.positive_label, favourable_label=data.favourable_label,
                      label_name=self.label, prediction_name=self.prediction or "model predictions")
            outcomes = self._scaled_outcomes(kw) if self.scale is not None else None
            if outcomes is None:
                outcomes = resolve_outcomes(self.data[self.label].to_numpy(),
                                            self._raw_prediction(), **kw)
            self._cache["outcomes"] = outcomes
        return self._cache["outcomes"]

    def _scaled_outcomes(self, kw: dict[str, Any]) -> Outcomes | None:
        """The vocabulary of data read at scale, resolved on every label and prediction value
        (so refused as in memory), applied to the sample's rows; ``None`` when the values are
        too many to keep (not a binary vocabulary: the sample's then decides)."""
        import numpy as np
        import pandas as pd

        from auditkit._outcomes import Outcomes, label_recoder, resolve_outcomes

        labels = self.scale.labels
        predictions = self.scale.vocabulary("__prediction")
        if labels is None or predictions is None:
            return None
        predictions = np.asarray(predictions, dtype=object)
        whole = resolve_outcomes(np.asarray(labels.index, dtype=object), predictions, **kw)
        y_true, y_pred = self.data[self.label].to_numpy(), self._raw_prediction()
        if whole.recoded:
            recode = label_recoder(predictions, positive_label=kw["positive_label"])
            missing = pd.isna(pd.Series(y_true)).to_numpy()
            recoded = np.array([None if m else recode(v) for v, m in zip(y_true, missing, strict=True)],
                               dtype=object)
            y_true = recoded if missing.any() else recoded.astype(np.asarray(y_pred).dtype)
        return Outcomes(y_true, np.asarray(y_pred), whole.positive, whole.favourable, whole.recoded)

    @property
    def positive_label(self) -> Any:
        """The positive class in the predictions' vocabulary (``None``: the library default)."""
        return self.outcomes().positive

    @property
    def favourable_label(self) -> Any:
        """The favourable outcome in the predictions' vocabulary (``None``: not configured)."""
        return self.outcomes().favourable

    def y_true(self) -> np.ndarray:
        """The label column as a numpy array, in the predictions' vocabulary when a model or
        prediction column is configured (see :meth:`outcomes`)."""
        if self.label is None:
            raise ConfigError(_NO_LABEL)
        if self.prediction is None and self.model is None:
            return self.data[self.label].to_numpy()
        return self.outcomes().y_true

    def y_pred(self) -> np.ndarray:
        """Predictions: the configured column, else ``model.predict`` on the features."""
        return self._raw_prediction()

    def _raw_prediction(self) -> np.ndarray:
        if "y_pred" not in self._cache:
            if self.prediction is not None:
                self._cache["y_pred"] = self.data[self.prediction].to_numpy()
            elif self.model is not None:
                self._cache["y_pred"] = self.model.predict(self.feature_frame())
            else:
                raise ConfigError(
                    "The audit has neither a prediction column nor a model, so there are no "
                    "predictions to judge; name the column in [data] prediction or the model "
                    "file in [model] path of audit.toml."
                )
        return self._cache["y_pred"]

    def y_score(self) -> np.ndarray | None:
        """Scores for the positive class: the configured column, else ``predict_proba``."""
        if "y_score" not in self._cache:
            value = None
            if self.score is not None:
                value = self.data[self.score].to_numpy(dtype=float)
            elif self.model is not None and hasattr(self.model, "predict_proba"):
                proba = self.model.predict_proba(self.feature_frame())
                if proba.ndim == 2 and proba.shape[1] == 2:
                    value = proba[:, 1]
            self._cache["y_score"] = value
        return self._cache["y_score"]

    def feature_frame(self) -> pd.DataFrame:
        """The model's input columns."""
        if not self.features:
            raise ConfigError(
                "The audit lists no model features, so the model has no input; list its input "
                "columns in [model] features of audit.toml."
            )
        return self.data[self.features]

    def has(self, requirement: str) -> bool:
        """Whether the audit provides ``requirement`` (a name of :data:`REQUIREMENTS`, as in
        ``CheckSpec.requires``); an unknown name raises :class:`~auditkit.errors.ConfigError`."""
        return requirement_test(requirement)(self)

    # -- files -----------------------------------------------------------------------------
    def resolve(self, path: str | Path) -> Path:
        """A path from the config, resolved against the config's directory."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    def artifact_path(self, name: str) -> Path:
        """Where a check should write a file of its own (created on demand)."""
        d = self.out_dir / "artifacts"
        d.mkdir(parents=True, exist_ok=True)
        return d / name

    def add_artifact(self, path: str | Path, kind: str, *, note: str | None = None) -> Artifact:
        art = Artifact.from_path(path, kind, note=note)
        self.artifacts.append(art)
        return art

    @contextmanager
    def step(self, description: str) -> Iterator[None]:
        """Show a long step in the progress display."""
        for _ in self.track([None], description=description, total=1):
            yield


_NO_LABEL = ("The audit has no label column, so outcomes cannot be compared with the truth; name "
             "it in [data] label of audit.toml.")

#: What a check can require of the audit (``CheckSpec.requires``), each with the test of whether
#: an audit context provides it; the runner turns a missing one into ``not_applicable``.
REQUIREMENTS: Mapping[str, Callable[[AuditContext], bool]] = MappingProxyType({
    "label": lambda ctx: ctx.label is not None,
    "prediction": lambda ctx: ctx.prediction is not None or ctx.model is not None,
    "score": lambda ctx: ctx.score is not None or (
        ctx.model is not None and hasattr(ctx.model, "predict_proba")),
    "protected": lambda ctx: bool(ctx.protected),
    "model": lambda ctx: ctx.model is not None,
    "features": lambda ctx: bool(ctx.features),
})


def requirement_test(name: str, *, declared_by: str | None = None) -> Callable[[AuditContext], bool]:
    """The test of requirement ``name``; an unknown name raises
    :class:`~auditkit.errors.ConfigError` naming ``declared_by`` (a check id) when given, the
    known names and the closest one."""
    try:
        return REQUIREMENTS[name]
    except KeyError:
        who = f"Check {declared_by!r} declares" if declared_by else "Asked for"
        raise ConfigError(
            f"{who} an unknown requirement {name!r}; expected one of "
            f"{', '.join(REQUIREMENTS)}.{did_you_mean(name, REQUIREMENTS)} Declare requirements "
            "by these names (auditkit._context.REQUIREMENTS)."
        ) from None
