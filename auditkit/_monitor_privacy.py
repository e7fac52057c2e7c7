"""What the monitor's outputs may show: group labels as ``auditkit gate`` shows them, and a
personal-data guard over every output before anything is written or committed.

A protected attribute's levels are shown as they are only when they are category labels (the
decision of :func:`auditkit._personal.labels_to_pseudonymise`, the one behind every output that
names groups); otherwise its groups become ``group 1`` .. ``group k`` in every output. Alert ids
and the state keep the real levels, so the numbering never changes an alert's identity.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["guard_outputs", "hidden_columns", "shown_result", "tensorboard_scalars"]


def _levels_frame(levels: Mapping[str, list[str]]) -> pd.DataFrame:
    longest = max((len(v) for v in levels.values()), default=0)
    return pd.DataFrame({k: list(v) + [None] * (longest - len(v)) for k, v in levels.items()})


def hidden_columns(levels: Mapping[str, list[str]], personal: list[str]) -> frozenset[str]:
    """Protected attributes whose levels must not be shown (see the module docstring)."""
    from auditkit._personal import PersonalDataClassification, labels_to_pseudonymise

    columns = list(levels)
    if not columns:
        return frozenset()
    classification = PersonalDataClassification.from_inventory(
        None, declared=[c for c in personal if c in columns], protected=columns, columns=columns)
    return frozenset(labels_to_pseudonymise(_levels_frame(levels), classification))


def _mapping(levels: Mapping[str, list[str]], hidden: frozenset[str]) -> dict[str, dict[str, str]]:
    return {a: {v: f"group {i + 1}" for i, v in enumerate(sorted(levels[a], key=str))} for a in hidden}


def _relabel_group(grouping: str, group: str, maps: Mapping[str, Mapping[str, str]], sep: str) -> str:
    if not grouping:
        return group
    attrs = grouping.split(sep)
    parts = group.split(sep) if len(attrs) > 1 else [group]
    if len(parts) != len(attrs):
        return group
    return sep.join(maps.get(a, {}).get(p, p) for a, p in zip(attrs, parts, strict=True))


def shown_result(result: Any, cfg: Any) -> Any:
    """A copy of ``result`` with the groups of hidden attributes relabelled everywhere."""
    from auditkit.fairness import GROUP_SEPARATOR as sep

    hidden = hidden_columns(result.levels, list(cfg.data.personal))
    if not hidden:
        return result
    maps = _mapping(result.levels, hidden)

    def frame(df: pd.DataFrame) -> pd.DataFrame:
        if df is None or df.empty or "group" not in df.columns:
            return df
        out = df.copy()
        out["group"] = [_relabel_group(str(g), str(v), maps, sep) for g, v in zip(out["grouping"], out["group"],
                                                                               strict=True)]
        return out

    alerts = []
    for a in result.alerts:
        alerts.append(dataclasses.replace(a, group=_relabel_group(a.grouping, a.group, maps, sep)))
    return dataclasses.replace(result, series=frame(result.series), drift=frame(result.drift), alerts=alerts,
                               levels={k: (sorted(maps[k].values()) if k in maps else v)
                                       for k, v in result.levels.items()})


def guard_outputs(result: Any, cfg: Any, prepared: Mapping[str, Any]) -> None:
    """Raise :class:`~auditkit.errors.PersonalDataLeakError` when any output holds a level of a
    hidden attribute or a category of a personal feature; nothing has been written then."""
    from auditkit._redact import PersonalValueIndex
    from auditkit.errors import PersonalDataLeakError
    from auditkit.reports import render

    personal = set(cfg.data.personal)
    hidden = hidden_columns(result.levels, list(personal))
    values = {a: v for a, v in result.levels.items() if a in hidden}
    values.update({f: c for f, c in result.categories.items() if f in personal and f not in result.levels})
    if not values:
        return
    index = PersonalValueIndex.from_frame(_levels_frame(values), sorted(values))
    text = "\n".join([render(prepared["report"], "json").decode("utf-8"), prepared["json"][1],
                      prepared["junit"][1], prepared["markdown"], *prepared["annotations"],
                      *(tag for tag, *_ in prepared.get("scalars", ()))])
    leaked = index.find(text)
    if leaked:
        raise PersonalDataLeakError(
            f"Refusing to write the monitor's outputs: they hold raw values of personal data from column(s) "
            f"{', '.join(leaked)}. Nothing was written and the state was not updated. If the column is not "
            "personal data, remove it from [data] personal; otherwise run with --debug and report it.")


def _tag(*parts: str) -> str:
    from auditkit.tensorboard_log import make_tag

    return make_tag(*(p if p else "all" for p in parts))


def tensorboard_scalars(result: Any) -> Iterator[tuple[str, float, int, float | None]]:
    """(tag, value, step, wall time) for every finite per-window statistic: each group's rate and
    its gap or estimate, the CUSUM statistics, and the drift PSI. The step is the window index."""
    series = result.series
    if series is not None and not series.empty:
        for r in series.itertuples(index=False):
            base = (r.kind, r.metric, r.grouping, str(r.group))
            for name, v in (("value", r.value), ("estimate", r.estimate), ("cusum_upper", r.upper),
                            ("cusum_lower", r.lower)):
                if np.isfinite(v):
                    yield _tag(*base, name), float(v), int(r.window), None
    disparities = getattr(result, "disparities", None)
    if disparities is not None and not disparities.empty:
        for r in disparities.itertuples(index=False):
            if np.isfinite(r.value):
                yield _tag("disparity", str(r.disparity), r.grouping, "value"), float(r.value), int(r.window), None
    drift = result.drift
    if drift is not None and not drift.empty:
        for r in drift.itertuples(index=False):
            for name, v in (("psi", r.psi), ("js", r.js)):
                if np.isfinite(v):
                    yield _tag("drift", name, str(r.feature), r.grouping, str(r.group)), float(v), int(r.window), None
