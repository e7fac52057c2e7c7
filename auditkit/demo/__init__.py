"""``auditkit demo``: a deterministic synthetic loan-applications audit, end to end.

The generator (:func:`generate_applications`) plants what an audit should find: personal data
(name, email, phone, SSN, card number, street address, ZIP code, date of birth; all synthetic),
protected attributes (sex, race, age group) and a historical disparity that a ZIP-derived
``region`` feature carries as a proxy of race. The model is a scikit-learn Pipeline (one-hot
encoding + gradient boosting) saved with skops. :func:`run_demo` writes the data, the model,
each check's evidence (:data:`CHECK_SETUP`) and an ``audit.toml``, then runs the audit.

The production checks know nothing of the demo: everything it prepares lives in this package.
"""

from __future__ import annotations

from auditkit.demo._applications import (
    CATEGORICAL_FEATURES,
    FEATURES,
    LABEL,
    NUMERIC_FEATURES,
    PERSONAL,
    PREDICTION,
    PROTECTED,
    SCORE,
    generate_applications,
)
from auditkit.demo._context import DemoContext
from auditkit.demo._model import build_model
from auditkit.demo._pipeline import DemoResult, run_demo
from auditkit.demo._setup import CHECK_SETUP, CheckSetup

__all__ = [
    "CATEGORICAL_FEATURES",
    "CHECK_SETUP",
    "FEATURES",
    "LABEL",
    "NUMERIC_FEATURES",
    "PERSONAL",
    "PREDICTION",
    "PROTECTED",
    "SCORE",
    "CheckSetup",
    "DemoContext",
    "DemoResult",
    "build_model",
    "generate_applications",
    "run_demo",
]
