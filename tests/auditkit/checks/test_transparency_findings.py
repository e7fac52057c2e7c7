"""The transparency and dataset checks' findings, built from known inputs without a model."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from auditkit.checks._proxy_findings import protected_findings, proxies_finding, reliance_finding
from auditkit.checks._transparency_findings import (
    efficiency_finding,
    local_finding,
    stability_finding,
    unknown_individuals_finding,
)
from auditkit.checks.dataset import _LedByArt9
from auditkit.errors import ConfigError
from auditkit.explain import ProxyFinding, ProxyReport
from auditkit.reports import Severity, Status


class Scope:
    """Cites one made-up provision per topic, so that tests see which topics were cited."""

    def cite(self, *topics: str) -> tuple[str, ...]:
        return tuple(f"law-on-{t}" for t in topics)


CTX = Scope()


def _pair(feature, protected, v, share, *, direct=False, flagged=False, threshold=0.3):
    return ProxyFinding(feature=feature, protected=protected, cramers_v=v, nmi=v / 2,
                        threshold=threshold, share=share, rank=1, direct=direct, flagged=flagged)


def _report(*pairs) -> ProxyReport:
    return ProxyReport(pairs=pairs, association_threshold=None, share_threshold=0.05,
                       rows_used=1000)


def test_without_protected_attributes_proxies_are_not_applicable() -> None:
    (only,) = protected_findings(CTX, None)
    assert only.check_id == "transparency.proxies"
    assert only.status is Status.NOT_APPLICABLE and only.severity is Severity.INFO
    assert only.regulations == ("law-on-proxy",)


@pytest.mark.parametrize(
    ("pairs", "status", "severity"),
    [
        ((), Status.PASS, Severity.INFO),
        ((_pair("sex", "sex", 1.0, 0.02, direct=True),), Status.WARN, Severity.HIGH),
        ((_pair("sex", "sex", 1.0, 0.20, direct=True, flagged=True),), Status.FAIL,
         Severity.HIGH),
    ],
)
def test_reliance_on_protected_features(pairs, status, severity) -> None:
    f = reliance_finding(CTX, _report(*pairs))
    assert (f.status, f.severity) == (status, severity)
    assert f.metrics["protected_attribution_share"] == pytest.approx(
        sum(p.share for p in pairs))


def test_proxies_are_listed_first_then_by_association() -> None:
    px = _report(
        _pair("income", "race", 0.35, 0.01),  # associated, not relied upon
        _pair("region", "race", 0.60, 0.30, flagged=True),  # a proxy
        _pair("age", "race", 0.10, 0.40),  # neither
        _pair("race", "race", 1.0, 0.0, direct=True),  # direct use: not a proxy row
    )
    f = proxies_finding(CTX, px)
    assert f.status is Status.WARN and f.severity is Severity.HIGH
    assert [r[0] for r in f.tables[0].rows] == ["region", "income", "age"]
    assert f.metrics == {"proxies": 1, "associated_pairs": 2, "rows_used": 1000}
    assert f.summary.startswith("region stands in for race")
    # race already has a proxy, so the weaker association is not repeated as "Also"
    assert "Also" not in f.summary


def test_association_without_reliance_passes_and_is_named() -> None:
    f = proxies_finding(CTX, _report(_pair("income", "race", 0.35, 0.01)))
    assert f.status is Status.PASS and f.severity is Severity.INFO
    assert f.summary.startswith("No feature is both associated")
    assert "income is associated with race" in f.summary


def _efficiency(passed: bool):
    return SimpleNamespace(passed=passed, rows_checked=100, rows_violating=0 if passed else 7,
                           max_abs_error=1e-9 if passed else 0.2, mean_abs_error=1e-10,
                           tolerance=1e-6, exact=True)


@pytest.mark.parametrize(("passed", "status"), [(True, Status.PASS), (False, Status.FAIL)])
def test_efficiency(passed, status) -> None:
    f = efficiency_finding(CTX, _efficiency(passed))
    assert f.status is status and f.severity is Severity.HIGH
    assert f.regulations == ("law-on-explanation-quality",)
    assert ("7 of 100" in f.summary) is (not passed)


def _local(name, fidelity):
    import pandas as pd

    frame = pd.DataFrame({"feature": ["a", "b"], "value": ["001", True],
                          "shap": [0.123456, float("inf")], "shap_rank": [1, 2]})
    return SimpleNamespace(
        individual=name, output=0.7, base_value=0.5, output_name="probability",
        lime=SimpleNamespace(fidelity_r2=fidelity), table=lambda hide_values: frame)


def test_local_finding_warns_on_a_poor_surrogate_and_keeps_cells_as_they_are() -> None:
    f = local_finding(CTX, [_local("A", 0.9), _local("B", 0.2)], naming="by row index",
                      hidden=[], min_fidelity=0.5, plots=False)
    assert f.status is Status.WARN and f.severity is Severity.MEDIUM
    assert "for B: rely on SHAP" in f.summary
    assert f.metrics["min_lime_fidelity_r2"] == 0.2
    # text stays text, numbers are rounded, infinity is "not measured"
    assert f.tables[0].rows[0] == ("a", "001", 0.1235, 1.0)
    assert f.tables[0].rows[1][1:3] == (True, None)
    good = local_finding(CTX, [_local("A", 0.9)], naming="by row index", hidden=[],
                         min_fidelity=0.5, plots=False)
    assert good.status is Status.PASS and good.severity is Severity.INFO


def test_stability_names_the_unstable_features() -> None:
    import pandas as pd

    st = SimpleNamespace(
        repeats=3, rows_per_repeat=200, unstable=["b"], max_rank_spread=2, top_k=5,
        mean_pairwise_spearman=0.8, top_k_jaccard=0.5,
        to_frame=lambda: pd.DataFrame([{"feature": "b", "median_rank": 2.0, "min_rank": 1,
                                        "max_rank": 5, "rank_spread": 4,
                                        "mean_importance": 0.1, "importance_cv": 0.3,
                                        "unstable": True}]),
    )
    f = stability_finding(CTX, st)
    assert f.status is Status.WARN and "b move by more than 2 places" in f.summary
    assert f.tables[0].rows == (("b", 2.0, 1, 5, 4, 0.1, 0.3, True),)


def test_unknown_individuals_say_how_to_name_them() -> None:
    f = unknown_individuals_finding(CTX, ValueError("No row 'x'."), by_identifier=True)
    assert f.status is Status.ERROR
    assert f.summary == "No row 'x'. Individuals were picked automatically instead."
    assert f.remediation.endswith("by identifier.")


def test_art9_provisions_lead_the_citations() -> None:
    class Law:
        def cite(self, *topics):
            if topics == ("special-category",):
                return ("gdpr-art-9-2", "gdpr-art-9-1", "gdpr-art-22-4")
            return ("ecoa",)

    assert _LedByArt9(Law()).cite("outcome-disparity") == ("gdpr-art-9-1", "gdpr-art-22-4",
                                                           "ecoa")


def test_option_errors_are_config_errors_with_a_hint() -> None:
    from auditkit.checks.transparency import TransparencyOptions

    for bad, hint in (({"method": "kernal"}, "Did you mean 'kernel'?"),
                      ({"stability_repeats": 1}, "at least 2")):
        with pytest.raises(ValidationError) as info:
            TransparencyOptions(**bad)
        error = info.value.errors()[0]["ctx"]["error"]
        assert isinstance(error, ConfigError) and hint in str(error)
