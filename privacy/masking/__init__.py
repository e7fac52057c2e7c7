"""PII discovery, masking policies and re-identification risk for tabular data.

- :func:`scan` — inventory of personal data per column (entity types, shares, confidence,
  free text with embedded entities); counts only, never values. :func:`find_spans` finds
  entities inside free text: pattern entities, and names, street addresses and places with
  an offline detector (:func:`set_prose_detector` switches it off or to a local spaCy or
  GLiNER model). :func:`score_detector` scores a detector on a labelled corpus.
- Recognisers (:class:`Recogniser`, :func:`register_recogniser`) declare a pattern, a
  validator (Luhn, mod-97, ``phonenumbers``, SSN rules, ...) and column-name hints.
- Operators (:class:`Operator`, :func:`register_operator`): keep, redact, replace, mask,
  pseudonymize (HMAC), tokenize (AES-SIV), generalise, drop, suppress; each validates its
  frozen-dataclass parameters before it touches data.
- Policies (:class:`Policy`, :class:`Rule`, :func:`load_policy`) in TOML or Python, validated
  before any data is read; :func:`mask` applies one to a DataFrame, :func:`mask_file` streams
  CSV or Parquet files larger than memory in chunks, :func:`mask_dask` maps over partitions.
- Risk: :func:`risk_report` (k-anonymity, distinct l-diversity, uniqueness),
  :func:`suggest_generalisation` for a target k, mergeable :class:`ClassCounts`.

See ``docs/masking.md``.
"""

from auditkit.privacy.masking import _operators  # noqa: F401 - the built-in operators register
from auditkit.privacy.masking._evaluate import (
    EntityScore,
    LabelledText,
    load_labelled_corpus,
    score_detector,
    split_by_template,
)
from auditkit.privacy.masking._inventory import ColumnInventory, EntityShare, Inventory
from auditkit.privacy.masking._mask import ColumnChange, Masker, MaskResult, MaskSummary, mask
from auditkit.privacy.masking._operator_contract import Operator, OperatorContext
from auditkit.privacy.masking._operator_registry import (
    get_operator,
    operator_names,
    register_operator,
)
from auditkit.privacy.masking._policy import Policy, Rule, load_policy
from auditkit.privacy.masking._prose import find_prose_spans
from auditkit.privacy.masking._prose_backends import local_ner_model, set_prose_detector
from auditkit.privacy.masking._recognisers import (
    Recogniser,
    get_recogniser,
    iter_recognisers,
    register_recogniser,
    unregister_recogniser,
)
from auditkit.privacy.masking._risk import (
    ClassCounts,
    GeneralisationSuggestion,
    RiskReport,
    risk_report,
    suggest_generalisation,
)
from auditkit.privacy.masking._scan import column_hints, scan
from auditkit.privacy.masking._span_engine import SpanBatch, find_spans_batch
from auditkit.privacy.masking._spans import (
    Span,
    TextFinder,
    find_spans,
    register_text_finder,
    unregister_text_finder,
)
from auditkit.privacy.masking._stream import mask_dask, mask_file, read_frame, scan_dask, scan_file

__all__ = [
    "ClassCounts",
    "EntityScore",
    "LabelledText",
    "ColumnChange",
    "ColumnInventory",
    "EntityShare",
    "GeneralisationSuggestion",
    "Inventory",
    "MaskResult",
    "MaskSummary",
    "Masker",
    "Operator",
    "OperatorContext",
    "Policy",
    "Recogniser",
    "RiskReport",
    "Rule",
    "Span",
    "SpanBatch",
    "TextFinder",
    "column_hints",
    "find_prose_spans",
    "find_spans",
    "find_spans_batch",
    "get_operator",
    "get_recogniser",
    "iter_recognisers",
    "load_labelled_corpus",
    "load_policy",
    "local_ner_model",
    "mask",
    "mask_dask",
    "mask_file",
    "operator_names",
    "read_frame",
    "register_operator",
    "register_recogniser",
    "register_text_finder",
    "risk_report",
    "score_detector",
    "set_prose_detector",
    "split_by_template",
    "scan",
    "scan_dask",
    "scan_file",
    "suggest_generalisation",
    "unregister_recogniser",
    "unregister_text_finder",
]
