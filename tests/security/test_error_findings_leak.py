"""A check's exception never carries data into the report (issue 13 review, leak 4).

Libraries quote the values they choke on ("could not convert string to float: 'Robert
Smithers'"); an error finding shows the message of auditkit's own errors (written never to
quote data) and only the type of any other exception. The executive summary copies the
finding's summary, so it is clean at the source.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w

from auditkit._redact import PersonalValueIndex
from auditkit.checks._registry import iter_checks
from auditkit.cli import main
from auditkit.errors import ConfigError, DataError, ExitCode, ModelError
from auditkit.runner import _error_finding

VALUES = ["Robert Smithers", "E-48392", "person7@example.com", "1969-01-10"]
FOREIGN = [ValueError, TypeError, KeyError, RuntimeError, OSError, IndexError, ZeroDivisionError]


@pytest.mark.parametrize("exc_type", FOREIGN)
@pytest.mark.parametrize("value", VALUES)
def test_foreign_exception_messages_are_never_shown(exc_type, value: str) -> None:
    spec = next(iter(iter_checks()))
    exc = exc_type(f"could not convert string to float: {value!r}")
    finding = _error_finding(spec, exc, PersonalValueIndex())  # an empty guard: no help
    text = " ".join(str(v) for v in finding.to_dict().values())
    assert value not in text and "could not convert" not in text
    assert exc_type.__name__ in finding.summary and "--debug" in finding.summary


@pytest.mark.parametrize("exc_type", [ConfigError, DataError, ModelError])
def test_auditkit_errors_are_shown(exc_type) -> None:
    spec = next(iter(iter_checks()))
    message = "The score column 'risk' holds text; name a numeric column in [data] score."
    finding = _error_finding(spec, exc_type(message), PersonalValueIndex())
    assert message in finding.summary and exc_type.__name__ in finding.summary


def test_report_and_summary_quote_no_value_of_a_failing_check(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 200
    names = ["Robert Smithers", "Alice Johnson"]
    y = rng.integers(0, 2, n)
    pd.DataFrame({"sex": rng.choice(["Female", "Male"], n), "label": y, "pred": y,
                  "reviewer": rng.choice(names, n)}).to_csv(tmp_path / "data.csv", index=False)
    cfg = {"audit": {"title": "t"},
           "data": {"path": "data.csv", "label": "label", "prediction": "pred",
                    "score": "reviewer", "protected": ["sex"]},  # a score column of names
           "report": {"out": "out", "formats": ["json", "md", "html"]},
           "checks": {"fairness": {"n_boot": 0}, "performance": {"n_boot": 0}}}
    (tmp_path / "audit.toml").write_text(tomli_w.dumps(cfg))
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["run", str(tmp_path / "audit.toml"), "--only", "performance,fairness"])
    written = out.getvalue() + err.getvalue() + "".join(
        p.read_text() for p in (tmp_path / "out").glob("report.*"))
    assert code == ExitCode.INCOMPLETE, written
    assert "could not complete" in written
    for name in names:
        assert name not in written
    assert "could not convert" not in written
