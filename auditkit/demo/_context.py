"""What the demo's per-check set-up may use: the generated data, the trained model and roles."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

import auditkit.demo._applications as applications

__all__ = ["DemoContext"]


@dataclass
class DemoContext:
    """What a check's demo set-up may use (see :data:`auditkit.demo.CHECK_SETUP`)."""

    out_dir: Path
    data: pd.DataFrame
    data_path: Path
    model: Any
    model_path: Path
    features: list[str]
    label: str
    prediction: str
    score: str
    protected: list[str]
    personal: list[str]
    random_state: int = 0
    categorical_features: list[str] = field(default_factory=lambda: list(applications.CATEGORICAL_FEATURES))
    numeric_features: list[str] = field(default_factory=lambda: list(applications.NUMERIC_FEATURES))

    @classmethod
    def for_applications(
        cls, out_dir: Path, data: pd.DataFrame, *, data_path: Path, model_path: Path,
        model: Any = None, random_state: int = 0,
    ) -> DemoContext:
        """The context of the synthetic applications (:func:`generate_applications`), with
        their column roles (features, label, prediction, score, protected, personal)."""
        return cls(
            out_dir=out_dir, data=data, data_path=data_path, model=model, model_path=model_path,
            features=list(applications.FEATURES), label=applications.LABEL,
            prediction=applications.PREDICTION, score=applications.SCORE,
            protected=list(applications.PROTECTED), personal=list(applications.PERSONAL),
            random_state=random_state,
        )
