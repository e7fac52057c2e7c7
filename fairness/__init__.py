"""Fairness metrics on mergeable counts, bootstrap intervals, CI gates and mitigation.

>>> from auditkit.fairness import audit
>>> result = audit(y_true, y_pred, sensitive_features=df[["sex", "race"]], n_boot=1000)
>>> result.disparity("demographic_parity_ratio")

Public API
----------
- :func:`audit` — metrics by group, disparities and bootstrap intervals (:class:`FairnessResult`).
- :func:`count`, :func:`audit_counts`, :class:`Counts` — the one-pass sufficient statistics,
  mergeable across chunks and Dask partitions, and the result derived from them.
- :class:`Threshold`, :func:`parse_threshold`, :func:`load_thresholds`, :func:`evaluate_gate`,
  :class:`GateReport` — fairness gates for CI (``auditkit gate``).
- :func:`assert_fair` — a test assertion (also the ``assert_fair`` fixture of the pytest plugin).
- :func:`mitigate` — fairlearn's ThresholdOptimizer / ExponentiatedGradient with before/after;
  :data:`MITIGATION_METHODS` and :data:`MITIGATION_CONSTRAINTS` name what it accepts.
- :data:`METRICS`, :data:`DISPARITY_ALIASES`, :data:`MISSING`, :func:`level_key` (the order of
  group levels and classes in :class:`Counts`).
- :func:`run_monitor`, :func:`evaluate_monitor`, :class:`MonitorSpec`, :class:`MonitorResult`,
  :class:`Alert`, :class:`MonitorState`, :class:`LogColumns`, :class:`LabelColumns`,
  :class:`Windowing`, :class:`DetectorSpec`, :class:`ReferenceSpec` — monitoring over time
  (``auditkit monitor``, docs/monitoring.md).
- :func:`compare`, :class:`ComparisonResult`, :func:`holm`, :func:`benjamini_hochberg` — two
  models on the same rows, group by group (``auditkit compare``).
- :data:`GroupLabel` (a group's label: a string for one attribute, a tuple of per-attribute
  labels for an intersection), :func:`group_text` (its display form, parts joined by
  :data:`GROUP_SEPARATOR`, ``" × "``).
"""

import lazy_loader as _lazy

# Every public name loads its private module on first use, so that ``import auditkit.fairness``
# (and the pytest plugin, loaded in every test session) stays light: no pandas until a name is
# used. The names and where they live are listed once, in ``__init__.pyi``.
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
