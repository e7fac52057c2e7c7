"""The guesses ``auditkit init`` writes into ``audit.toml``: column roles, domain, outcome direction.

Every guess comes with the reason it was made, written next to it in the file as
``# guess: ...`` so that a user fixes only what is marked. The rules (docs/init.md):

- **label**: ``two_year_recid`` first (COMPAS's fixed two-year window), then the usual outcome
  names (``label``, ``target``, ``y``, ``outcome``, ``approved``, ``default`` ...), then
  ``is_recid`` and any other ``*_recid``; a column with two values wins over one with more.
  In a headerless file: the last column when it holds two values.
- **prediction**: ``pred``, ``prediction``, ``y_pred``, ``yhat``, ``y_hat``, ``decision``,
  ``pred_*``, ``*_pred``, ``predicted_*``, ``*_prediction``.
- **score**: ``score``, ``proba``, ``probability``, ``y_score``, ``risk_score``,
  ``decile_score``, ``*_proba``, ``*_prob`` ... when numeric. Values inside [0, 1] are a
  probability; anything else (COMPAS's 1-10 ``decile_score``) is written as an ordinal score
  and never read as a probability.
- **personal**: the PII scan, plus the name columns ``name``, ``first``, ``last``,
  ``first_name``, ``last_name``, ``surname`` ...
- **features**: every other column, never the label, prediction, score, id, personal or
  protected columns, nor columns derived from the score or the outcome (``score_text``,
  ``v_*``, ``*decile_score*``, ``*_recid``, and COMPAS's ``r_*``/``vr_*`` outcome details, case
  numbers, ``event``/``start``/``end``), nor constant columns.
- **domain**: the domain whose words the column names use most (``recid``/``charge``/``arrest``:
  criminal_justice; ``loan``/``credit``: credit; ``hire``/``applicant``: employment ...), else
  ``general``.
- **positive_label / favourable_label**: guessed only for a label of exactly two values that do
  not look personal (names, ids, free text, a personal-data column); otherwise the file has a
  commented line asking the user to set them, quoting no value. favourable_label: 0 (or the
  class that is not the positive one) for criminal_justice, else the positive class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Guesses", "guess_roles", "norm"]

MAX_GROUPS = 20  # more distinct values than this is not a usable protected grouping
MAX_ORDINAL_LEVELS = 20

_LABEL_TIERS = (
    re.compile(r"^two_year_recid$"),
    re.compile(r"^(label|target|y|y_true|ytrue|outcome|class|approved|default|defaulted|repaid|"
               r"hired|admitted|income|churn|churned|fraud|recid|recidivism|reoffended)$"),
    re.compile(r"^is_recid$"),
    re.compile(r"(^recid_|_recid$)"),
)
_PRED = re.compile(r"^(pred|preds|predicted|prediction|predictions|yhat|y_hat|y_pred|ypred|"
                   r"decision)$|^pred_|_pred$|^predicted_|_prediction$")
_SCORE = re.compile(r"^(score|scores|proba|probability|prob|y_score|y_prob|y_proba|risk_score|"
                    r"decile_score|model_score|pred_score|predicted_score)$|_proba$|_prob$|"
                    r"_probability$")
_PROTECTED = re.compile(r"^(sex|gender|race|ethnicity|ethnic_group|race_ethnicity|age|age_group|"
                        r"age_cat|age_band|religion|disability|nationality|native_country|"
                        r"marital_status|pregnancy|sexual_orientation)$")
_PERSON_NAME = re.compile(r"^(name|first|last|first_name|last_name|firstname|lastname|surname|"
                          r"given_name|family_name|full_name|fullname|middle_name|maiden_name|"
                          r"forename)$")
_ID = re.compile(r"(^id$|_id$|^id_|^uuid$)")
_CASE_NUMBER = re.compile(r"(^|_)case_(number|no|num|id)$")
# Derived from a risk score or from the outcome: a model must not take them as inputs.
_DERIVED = re.compile(r"(^|_)score_text$|^v_|decile_score|(^|_)recid($|_)")
# COMPAS's details of the later offence (r_*, vr_*) and its survival-analysis columns.
_OUTCOME_DETAILS = re.compile(r"^(r|vr)_|^(event|start|end)$")

_DOMAIN_WORDS = (
    ("criminal_justice", re.compile(r"recid|offen[cs]e|charge|arrest|jail|prison|parole|custody|"
                                    r"sentenc|compas|priors|felony|misdemeanou?r")),
    ("credit", re.compile(r"loan|credit|default|repa(y|id)|mortgage|interest_rate|debt|"
                          r"installment|borrow|lend|fico")),
    ("housing", re.compile(r"rent|tenan|housing|landlord|lease|evict")),
    ("insurance", re.compile(r"premium|claim|insur|policyholder|underwrit")),
    ("healthcare", re.compile(r"diagnos|patient|readmi|clinic|hospital|treatment|medic")),
    ("education", re.compile(r"student|admission|admitted|gpa|school|enrol|exam")),
    ("employment", re.compile(r"hire|hiring|applicant|candidate|job|salary|employ|resume|"
                              r"interview|promot")),
)
# Category labels that give a headerless column away (compared case-folded, without '.').
_SEX_VALUES = frozenset({"male", "female", "m", "f", "man", "woman"})
_POSITIVE_WORDS = re.compile(r"^(1|1\.0|yes|y|true|t|positive|pos|approved|accepted|hired|"
                             r"admitted|default|defaulted|fraud|churn|churned|>.*)$")


def norm(col: object) -> str:
    """A column name lower-cased with runs of other characters as ``_`` (``decile_score.1``:
    ``decile_score_1``)."""
    return re.sub(r"[^0-9a-z]+", "_", str(col).lower()).strip("_")


@dataclass(frozen=True)
class Guesses:
    """What ``auditkit init`` proposes for one table; ``why`` holds the reason per key."""

    label: str | None = None
    prediction: str | None = None
    score: str | None = None
    score_kind: str | None = None  # "probability" or "ordinal"
    protected: tuple[str, ...] = ()
    to_band: tuple[str, ...] = ()
    personal: tuple[str, ...] = ()
    id_column: str | None = None
    features: tuple[str, ...] = ()
    excluded: dict[str, str] = field(default_factory=dict)
    domain: str = "general"
    positive_label: Any = None
    favourable_label: Any = None
    why: dict[str, str] = field(default_factory=dict)


def _distinct(df: Any, col: str) -> int:
    return int(df[col].nunique(dropna=True))


def _pick_label(df: Any, cols: list[str], headerless: bool) -> tuple[str | None, str]:
    candidates = [c for c in cols if not _PRED.search(norm(c))]
    for tier in _LABEL_TIERS:
        hits = [c for c in candidates if tier.search(norm(c))]
        if hits:
            binary = [c for c in hits if _distinct(df, c) == 2]
            return (binary or hits)[0], "true outcome column, from its name"
    if headerless and cols and _distinct(df, cols[-1]) == 2:
        return cols[-1], "the last column holds two values (headerless files often end with the outcome)"
    return None, ""


def _pick_prediction(df: Any, cols: list[str], label: str | None) -> str | None:
    hits = [c for c in cols if c != label and _PRED.search(norm(c))]
    small = [c for c in hits if _distinct(df, c) <= 2]
    return (small or hits or [None])[0]


def _pick_score(df: Any, cols: list[str], taken: set[str | None]) -> tuple[str | None, str | None, str]:
    import pandas as pd

    for c in cols:
        if c in taken or not _SCORE.search(norm(c)) or not pd.api.types.is_numeric_dtype(df[c]):
            continue
        values = df[c].dropna()
        if values.empty:
            continue
        lo, hi = float(values.min()), float(values.max())
        if 0.0 <= lo and hi <= 1.0:
            return c, "probability", "score of the positive class; its values lie in [0, 1]"
        levels = values.nunique()
        integer = bool((values == values.round()).all())
        # the number of levels only: the column's values are never quoted
        shape = (f"{levels} integer levels, outside [0, 1]"
                 if integer and levels <= MAX_ORDINAL_LEVELS else "values outside [0, 1]")
        return c, "ordinal", (f"an ordinal score ({shape}): never read as a "
                              "probability; judged by AUC and the outcome rate per score level")
    return None, None, ""


def _is_01(column: Any) -> bool:
    import pandas as pd

    values = column.dropna()
    return bool(pd.api.types.is_numeric_dtype(column) and len(values)
                and set(values.unique().tolist()) <= {0, 1})


def _by_shape(df: Any, cols: list[str], protected: set[str], why: dict[str, str], label: Any,
              prediction: Any, score: Any, kind: Any) -> tuple[Any, Any, Any, Any]:
    """Label, prediction and score of a headerless file from the shape of its values: the one
    column of probabilities (non-integer values in [0, 1]) is the score; a 0/1 column is the
    prediction; another two-valued column the label (the last ones of each: a scored file
    appends the model's columns)."""
    import pandas as pd

    binary = [c for c in cols if c not in protected and _distinct(df, c) == 2]
    if prediction is None:
        zero_one = [c for c in binary if _is_01(df[c]) and c != label]
        if zero_one:
            prediction = zero_one[-1]
            why["prediction"] = "a 0/1 column (headerless file: guessed from its values)"
    if label is None or label == prediction:
        others = [c for c in binary if c != prediction]
        label = others[-1] if others else None
        why["label"] = ("a column of two values (headerless file: guessed from its values)"
                        if label else "")
    if score is None:
        probs = [c for c in cols if c not in (label, prediction)
                 and pd.api.types.is_float_dtype(df[c]) and df[c].dropna().between(0, 1).all()
                 and not (df[c].dropna() == df[c].dropna().round()).all()]
        if len(probs) == 1:
            score, kind = probs[0], "probability"
            why["score"] = ("its values are probabilities in [0, 1] (headerless file: guessed "
                            "from its values)")
    return label, prediction, score, kind


def _by_values(df: Any, col: str) -> str | None:
    """``sex`` or ``race`` when a headerless column's category labels give it away."""
    if _distinct(df, col) > MAX_GROUPS:
        return None
    values = {str(v).strip().rstrip(".").lower() for v in df[col].dropna().unique()}
    from auditkit._personal import RACE_LABELS

    for kind, known in (("sex", _SEX_VALUES), ("race", RACE_LABELS)):
        if len(values & known) >= 2 and len(values & known) >= 0.5 * len(values):
            return kind
    return None


def _protected(df: Any, cols: list[str], headerless: bool, why: dict[str, str]) -> tuple[list[str], list[str]]:
    named = [c for c in cols if _PROTECTED.match(norm(c))]
    if headerless:
        for c in cols:
            kind = _by_values(df, c)
            if kind and c not in named:
                named.append(c)
                why[c] = f"its category labels look like {kind}"
    # A protected attribute must be categorical: a numeric column with many values (age in
    # years) would make every value its own group. Those are listed for banding instead.
    protected = [c for c in named if _distinct(df, c) <= MAX_GROUPS]
    return sorted(protected, key=cols.index), [c for c in named if c not in protected]


def _domain(cols: list[str]) -> tuple[str, str]:
    best, hits_best = "general", []
    for domain, words in _DOMAIN_WORDS:
        hits = [c for c in cols if words.search(norm(c))]
        if len(hits) > len(hits_best):
            best, hits_best = domain, hits
    if not hits_best:
        return "general", "no column name points to a domain"
    shown = ", ".join(hits_best[:4]) + (" ..." if len(hits_best) > 4 else "")
    return best, f"from the column names {shown}"


def _labels(df: Any, label: str | None, domain: str,
            personal: list[str]) -> tuple[Any, Any, str]:
    """``(positive_label, favourable_label, why)``; positive ``None`` means the default 1, or,
    with ``favourable_label`` ``None`` too, that nothing is guessed (``why`` says why, naming no
    value): only a label of exactly two values that do not look personal is guessed."""
    if label is None:
        return None, None, ""
    values = list(df[label].dropna().unique())
    plain = [v.item() if hasattr(v, "item") else v for v in values]
    unset = _unguessable(plain, label, label in personal)
    if unset:
        return None, None, unset
    if set(plain) <= {0, 1} or set(plain) <= {-1, 1}:
        positive, negative = None, (0 if 0 in plain else -1)
    else:
        def is_pos(v: Any) -> bool:
            return bool(_POSITIVE_WORDS.match(str(v).strip().rstrip(".").lower()))

        counts = df[label].value_counts()
        named = [v for v in counts.index if is_pos(v)]
        positive = named[0] if named else counts.index[-1]  # else the rarer class
        positive = positive.item() if hasattr(positive, "item") else positive
        others = [v for v in plain if v != positive]
        negative = others[0] if len(others) == 1 else None
    pos_value = 1 if positive is None else positive
    if domain == "criminal_justice" and negative is not None:
        return positive, negative, ("the outcome that benefits the person: for criminal_justice "
                                    "the class that is not predicted (not re-offending)")
    return positive, pos_value, "the outcome that benefits the person: the positive class"


# A full name inside a label ("approved for Zelda Quinterra"): two capitalised words after another.
_EMBEDDED_NAME = re.compile(r"\S\s+[^\W\d_][^\W\d_'’-]+\s+[^\W\d_][^\W\d_'’-]+")


def _unguessable(values: list[Any], label: str, personal: bool) -> str:
    """Why no value of the label may be written as a guess (``""`` when one may): not exactly
    two values, a personal-data column, or values shaped like names, ids or free text."""
    from auditkit._personal import is_person_role, looks_like_id, looks_like_person

    if len(values) != 2:
        return (f"the label column {label!r} holds {len(values)} distinct value(s), not two: "
                "name the class the model predicts as positive")
    if set(values) <= {0, 1} or set(values) <= {-1, 1}:
        return ""
    role = is_person_role(label)
    texts = [str(v).strip() for v in values]
    if personal or any(
            looks_like_person(t, role=role) or looks_like_id(t) or len(t.split()) > 4
            or any(w[:1].isupper() for w in t.split()[1:]) and _EMBEDDED_NAME.search(t)
            for t in texts):
        return (f"the values of the label column {label!r} look like personal data, so none is "
                "quoted here: name the class the model predicts as positive")
    return ""


def _excluded(df: Any, cols: list[str], roles: dict[str, str], recid_label: bool) -> dict[str, str]:
    out = dict(roles)
    for c in cols:
        if c in out:
            continue
        n = norm(c)
        if _DERIVED.search(n):
            out[c] = "derived from the risk score or the outcome"
        elif recid_label and _OUTCOME_DETAILS.search(n):
            out[c] = "describes the later offence (the outcome), not the person at screening"
        elif _CASE_NUMBER.search(n) or _ID.search(n):
            out[c] = "an identifier"
        elif _distinct(df, c) <= 1:
            out[c] = "holds one value"
        elif _is_dates(df[c]):
            out[c] = "a date or time (derive a duration from it instead)"
        else:
            twin = next((o for o in cols[:cols.index(c)] if o not in out and df[o].equals(df[c])), None)
            if twin is not None:
                out[c] = "a copy of another column"
    return out


def _is_dates(column: Any) -> bool:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(column):
        return True
    if pd.api.types.is_numeric_dtype(column):
        return False
    values = column.dropna().astype(str).head(200)
    return bool(len(values)) and bool(values.str.match(r"\d{4}-\d{2}-\d{2}").mean() >= 0.9)


def guess_roles(df: Any, *, headerless: bool = False) -> Guesses:
    """Guess column roles, the domain and the outcome direction from names and values."""
    from auditkit._personal import classify_personal_columns

    cols = [str(c) for c in df.columns]
    why: dict[str, str] = {}
    label, why["label"] = _pick_label(df, cols, headerless)
    prediction = _pick_prediction(df, cols, label)
    score, kind, why["score"] = _pick_score(df, cols, {label, prediction})
    protected, to_band = _protected(df, cols, headerless, why)
    if headerless:  # no names to go by: the shape of the values
        label, prediction, score, kind = _by_shape(df, cols, set(protected), why,
                                                   label, prediction, score, kind)
    scanned = classify_personal_columns(df)
    personal = [c for c in cols if c in scanned or _PERSON_NAME.match(norm(c))]
    id_col = next((c for c in cols if _ID.search(norm(c)) and df[c].is_unique), None)
    domain, why["domain"] = _domain(cols)
    positive, favourable, why["favourable_label"] = _labels(df, label, domain, personal)
    if label is not None and favourable is None:  # nothing guessed: the file says to set them
        why["positive_label"] = why["favourable_label"]
    roles = {label: "label", prediction: "prediction", score: "score", id_col: "id column",
             **{c: "protected attribute" for c in protected},
             **{c: "personal data" for c in personal}}
    roles.pop(None, None)  # type: ignore[call-overload]
    recid = label is not None and bool(re.search(r"recid", norm(label)))
    excluded = _excluded(df, cols, roles, recid)
    return Guesses(
        label=label, prediction=prediction, score=score, score_kind=kind,
        protected=tuple(protected), to_band=tuple(to_band), personal=tuple(personal),
        id_column=id_col, features=tuple(c for c in cols if c not in excluded),
        excluded=excluded, domain=domain, positive_label=positive,
        favourable_label=favourable, why=why,
    )
