"""``auditkit demo``: a deterministic synthetic loan-applications audit, end to end.

The generator plants what an audit should find:

- personal data: name, email, phone, US SSN, card number, street address, ZIP code, date of
  birth (all synthetic; card numbers pass the Luhn check, SSNs follow the area/group/serial rules);
- protected attributes: sex, race, age group;
- a historical disparity: the recorded outcome penalises two race groups and women beyond what
  the financial features explain, and the ZIP-derived ``region`` feature correlates with race,
  so a model that never sees race still reproduces the gap through the proxy.

The model is a scikit-learn Pipeline (one-hot encoding + gradient boosting) saved with skops.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditkit._context import _no_track

__all__ = ["DemoContext", "DemoResult", "generate_applications", "run_demo"]

FIRST_NAMES = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy "
    "Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily "
    "Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah "
    "Timothy Stephanie Ronald Rebecca Jason Sharon Edward Laura Jeffrey Cynthia Ryan Amy "
    "Jacob Kathleen Gary Angela Nicholas Shirley Eric Brenda Jonathan Emma Stephen Anna "
    "Larry Pamela Justin Nicole Scott Samantha Brandon Katherine Benjamin Christine Samuel "
    "Helen Gregory Debra Alexander Rachel Patrick Carolyn Frank Janet Raymond Maria Jack "
    "Catherine Dennis Heather Jerry Diane Tyler Olivia Aaron Julie Jose Joyce Adam Victoria "
    "Nathan Ruth Henry Virginia Zachary Lauren Douglas Kelly Peter Christina Kyle Joan "
    "Noah Evelyn Ethan Judith Jeremy Andrea Walter Hannah Christian Megan Keith Cheryl "
    "Roger Jacqueline Terry Martha Austin Madison Sean Teresa Gerald Gloria Carl Sara "
    "Harold Janice Dylan Ann Arthur Kathryn Lawrence Abigail Jordan Sophia Jesse Frances "
    "Bryan Jean Billy Alice Bruce Judy Gabriel Isabella Joe Julia Logan Grace Alan Amber "
    "Juan Denise Albert Danielle Willie Marilyn Elijah Beverly Wayne Charlotte Randy Natalie"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter "
    "Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart "
    "Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed "
    "Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray "
    "Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez "
    "Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales "
    "Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds "
    "Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar"
).split()
STREETS = (
    "Oak Maple Cedar Pine Elm Washington Lake Hill Park Main Sunset Lincoln Jackson River "
    "Highland Church Spring Walnut Chestnut Franklin Willow Meadow Ridge Forest Valley"
).split()
STREET_TYPES = ("St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Ct", "Way", "Pl", "Ter")
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
# Area codes of large US cities (all assigned, so phone numbers validate).
AREA_CODES = (212, 213, 305, 312, 404, 415, 512, 617, 702, 713, 718, 720, 206, 303, 602, 214)
RACES = ("White", "Black", "Hispanic", "Asian", "Other")
RACE_SHARES = (0.55, 0.18, 0.15, 0.08, 0.04)
PURPOSES = ("home", "car", "education", "business", "debt consolidation", "medical")
# Regions, each with a ZIP prefix range and a race mix: region carries information about race.
REGIONS = {
    "north": ((100, 149), (0.80, 0.05, 0.07, 0.06, 0.02)),
    "south": ((300, 349), (0.35, 0.45, 0.12, 0.04, 0.04)),
    "east": ((200, 249), (0.50, 0.25, 0.12, 0.10, 0.03)),
    "west": ((900, 949), (0.45, 0.05, 0.30, 0.16, 0.04)),
    "central": ((600, 649), (0.55, 0.15, 0.22, 0.05, 0.03)),
}

LABEL = "approved"
PREDICTION = "predicted"
SCORE = "score"
PROTECTED = ["sex", "race", "age_group"]
PERSONAL = ["name", "email", "phone", "ssn", "card_number", "street_address", "zip", "date_of_birth"]
NUMERIC_FEATURES = [
    "annual_income", "loan_amount", "credit_history_years", "debt_to_income",
    "employment_years", "existing_loans",
]
CATEGORICAL_FEATURES = ["region", "loan_purpose"]
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES


def _luhn_complete(prefix_digits: np.ndarray) -> np.ndarray:
    """Append the Luhn check digit to each row of 15 digits."""
    digits = prefix_digits.copy()
    # Positions counted from the right of the final 16-digit number: the check digit is at 0,
    # so prefix positions at odd offsets from the right (1, 3, ...) are doubled.
    rev = digits[:, ::-1]
    doubled = rev[:, 0::2] * 2
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    total = doubled.sum(axis=1) + rev[:, 1::2].sum(axis=1)
    check = (10 - total % 10) % 10
    return np.concatenate([digits, check[:, None]], axis=1)


def generate_applications(n: int = 20_000, seed: int = 7) -> pd.DataFrame:
    """The synthetic loan-applications dataset (deterministic for a given ``n`` and ``seed``)."""
    rng = np.random.default_rng(seed)
    region_names = list(REGIONS)
    region = rng.choice(region_names, size=n, p=[0.22, 0.24, 0.2, 0.2, 0.14])
    race = np.empty(n, dtype=object)
    zip_codes = np.empty(n, dtype=object)
    for name in region_names:
        mask = region == name
        (lo, hi), mix = REGIONS[name]
        race[mask] = rng.choice(RACES, size=mask.sum(), p=mix)
        prefix = rng.integers(lo, hi + 1, size=mask.sum())
        suffix = rng.integers(0, 100, size=mask.sum())
        zip_codes[mask] = [f"{p:03d}{s:02d}" for p, s in zip(prefix, suffix, strict=True)]
    sex = rng.choice(["female", "male"], size=n, p=[0.49, 0.51])
    age = np.clip(rng.normal(41, 13, size=n).round(), 18, 85).astype(int)
    ref = np.datetime64("2026-06-30")
    dob = ref - (age * 365.25 + rng.integers(0, 365, size=n)).astype("timedelta64[D]")
    age_group = pd.cut(age, [17, 24, 39, 59, 200], labels=["18-24", "25-39", "40-59", "60+"]).astype(str)

    first = rng.choice(FIRST_NAMES, size=n)
    last = rng.choice(LAST_NAMES, size=n)
    names = np.char.add(np.char.add(first.astype(str), " "), last.astype(str))
    numbers = rng.integers(1, 999, size=n)
    emails = [
        f"{f.lower()}.{ln.lower()}{k}@{d}"
        for f, ln, k, d in zip(first, last, numbers, rng.choice(EMAIL_DOMAINS, size=n), strict=True)
    ]
    area = rng.choice(AREA_CODES, size=n)
    exchange = rng.integers(201, 999, size=n)
    exchange = np.where(exchange == 555, 556, exchange)
    line = rng.integers(0, 10_000, size=n)
    phones = [f"({a}) {e:03d}-{ln:04d}" for a, e, ln in zip(area, exchange, line, strict=True)]
    ssn_area = rng.integers(1, 900, size=n)
    ssn_area = np.where(ssn_area == 666, 667, ssn_area)
    ssns = [
        f"{a:03d}-{g:02d}-{s:04d}"
        for a, g, s in zip(ssn_area, rng.integers(1, 100, size=n), rng.integers(1, 10_000, size=n), strict=True)
    ]
    card_prefix = np.concatenate(
        [np.full((n, 1), 4), rng.integers(0, 10, size=(n, 14))], axis=1
    )
    cards = ["".join(map(str, row)) for row in _luhn_complete(card_prefix)]
    streets = [
        f"{num} {s} {t}"
        for num, s, t in zip(
            rng.integers(1, 9999, size=n), rng.choice(STREETS, size=n), rng.choice(STREET_TYPES, size=n), strict=True)
    ]

    # Financial features. Income differs by group (a structural gap the data reflects).
    race_income = {"White": 1.0, "Black": 0.82, "Hispanic": 0.86, "Asian": 1.05, "Other": 0.92}
    income = rng.lognormal(mean=np.log(58_000), sigma=0.45, size=n)
    income *= np.vectorize(race_income.get)(race) * np.where(sex == "female", 0.93, 1.0)
    income *= np.clip(0.6 + age / 60, 0.8, 1.5)
    loan = np.clip(rng.lognormal(np.log(18_000), 0.6, size=n), 1_000, 250_000)
    history = np.clip(age - 18 - rng.integers(0, 6, size=n), 0, None)
    dti = np.clip(rng.beta(2.2, 6, size=n) + loan / income / 8, 0, 1.5)
    employment = np.clip(rng.gamma(2.0, 3.0, size=n), 0, age - 16)
    existing = rng.poisson(1.1, size=n)
    purpose = rng.choice(PURPOSES, size=n, p=[0.3, 0.2, 0.1, 0.12, 0.2, 0.08])

    # Historical outcome: financial merit plus a planted penalty for two race groups and women,
    # and a neighbourhood penalty on the two regions where those groups live most ("redlining"):
    # the model sees region, so it learns the gap through a proxy of race.
    logit = (
        1.1 * (np.log(income) - np.log(55_000)) / 0.45
        - 2.6 * (dti - 0.3)
        + 0.04 * np.minimum(history, 25)
        + 0.06 * np.minimum(employment, 15)
        - 0.25 * existing
        - 0.4 * (loan / income > 0.5)
        + 0.5
    )
    bias = np.select([race == "Black", race == "Hispanic"], [-0.9, -0.6], 0.0) - 0.35 * (sex == "female")
    bias -= np.select([region == "south", region == "west"], [0.6, 0.3], 0.0)
    p = 1 / (1 + np.exp(-(logit + bias)))
    approved = (rng.random(n) < p).astype(int)

    df = pd.DataFrame(
        {
            "applicant_id": [f"A{i:06d}" for i in range(1, n + 1)],
            "name": names,
            "email": emails,
            "phone": phones,
            "ssn": ssns,
            "card_number": cards,
            "street_address": streets,
            "zip": zip_codes,
            "date_of_birth": pd.Series(dob).dt.strftime("%Y-%m-%d").to_numpy(),
            "sex": sex,
            "race": race,
            "age": age,
            "age_group": age_group,
            "region": region,
            "annual_income": income.round(0),
            "loan_amount": loan.round(0),
            "credit_history_years": history,
            "debt_to_income": dti.round(4),
            "employment_years": employment.round(1),
            "existing_loans": existing,
            "loan_purpose": purpose,
            LABEL: approved,
        }
    )
    df["split"] = np.where(rng.random(n) < 0.5, "train", "test")
    return df


def build_model(random_state: int = 0) -> Any:
    """The demo's model: one-hot encoding of categoricals + gradient boosting."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    pre = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL_FEATURES),
            ("numeric", "passthrough", NUMERIC_FEATURES),
        ]
    )
    clf = HistGradientBoostingClassifier(max_iter=120, learning_rate=0.08, max_leaf_nodes=15, random_state=random_state)
    return Pipeline([("preprocess", pre), ("classifier", clf)])


@dataclass
class DemoContext:
    """What a check's demo hook may use (see ``CheckSpec.demo``)."""

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
    categorical_features: list[str] = field(default_factory=lambda: list(CATEGORICAL_FEATURES))
    numeric_features: list[str] = field(default_factory=lambda: list(NUMERIC_FEATURES))


@dataclass
class DemoResult:
    out_dir: Path
    config_path: Path
    run: Any  # auditkit.runner.AuditRun
    seconds: float
    hook_seconds: dict[str, float]


def _toml_header() -> str:
    return (
        "# audit.toml written by 'auditkit demo'.\n"
        "# Paths are relative to this file. Run it again with: auditkit run audit.toml\n"
        "# Every table and key is documented in the README ('Configuration').\n\n"
    )


def run_demo(
    out_dir: str | Path = "demo-output",
    *,
    rows: int = 20_000,
    seed: int = 7,
    formats: list[str] | None = None,
    track: Callable[..., Iterator[Any]] = _no_track,
    debug: bool = False,
) -> DemoResult:
    """Generate the data, train and save the model, write ``audit.toml`` and run the audit."""
    import skops.io as sio
    import tomli_w

    from auditkit.atomic import atomic_write_bytes, atomic_write_text
    from auditkit.checks._registry import iter_checks
    from auditkit.errors import OutputError
    from auditkit.runner import run_audit

    started = time.perf_counter()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"The demo output path '{out}' is a file; give a directory with --out.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"Cannot create the demo output directory '{out}' ({exc.__class__.__name__}). "
            "Choose another with --out."
        ) from None
    data_path = out / "applications.csv"
    model_path = out / "model.skops"

    for _ in track([None], description="Generating synthetic applications", total=1):
        df = generate_applications(rows, seed)
    for _ in track([None], description="Training the model", total=1):
        model = build_model(seed)
        train = df["split"] == "train"
        model.fit(df.loc[train, FEATURES], df.loc[train, LABEL])
        proba = model.predict_proba(df[FEATURES])[:, 1]
        df[SCORE] = proba.round(6)
        df[PREDICTION] = (proba >= 0.5).astype(int)
        atomic_write_bytes(data_path, df.to_csv(index=False).encode(), mode=0o600)
        tmp = model_path.with_suffix(".skops.part")
        sio.dump(model, tmp)
        tmp.replace(model_path)

    ctx = DemoContext(
        out_dir=out, data=df, data_path=data_path, model=model, model_path=model_path,
        features=list(FEATURES), label=LABEL, prediction=PREDICTION, score=SCORE,
        protected=list(PROTECTED), personal=list(PERSONAL), random_state=seed,
    )
    config: dict[str, Any] = {
        "audit": {
            "title": "Loan approval model: responsible-AI audit (demo)",
            "system": "Consumer loan pre-approval scoring",
            "version": "demo-1",
            "owner": "Credit Risk Analytics (synthetic demo)",
            "description": "Synthetic loan applications generated by 'auditkit demo', with a "
            "planted disparity the audit is expected to find.",
            "random_state": seed,
            "domain": "credit",
            "jurisdictions": ["EU", "US", "US-CA"],
            "controller": "Example Lending Ltd (synthetic demo)",
            "action_owner": "Head of Credit Risk Analytics (synthetic demo)",
        },
        "model_card": {
            "intended_use": "Pre-approval of consumer loan applications, reviewed by a credit "
            "officer before any decision (synthetic demo).",
            "intended_users": "Credit officers of the lender.",
            "out_of_scope_use": "Final credit decisions without human review; employment, "
            "insurance or housing decisions; applicants outside the lender's market.",
        },
        "dpia": {
            "purposes": "Assess the repayment risk of consumer loan applicants to decide "
            "whether to pre-approve their application (synthetic demo).",
        },
        "data": {
            "path": data_path.name,
            "label": LABEL,
            "prediction": PREDICTION,
            "score": SCORE,
            "protected": list(PROTECTED),
            "personal": list(PERSONAL),
            "id_column": "applicant_id",
            "positive_label": 1,
            "favourable_label": 1,
        },
        "model": {"path": model_path.name, "features": list(FEATURES)},
        "report": {"out": "report", "formats": list(formats or ["html", "md", "json"])},
        "checks": {},
    }
    hook_seconds: dict[str, float] = {}
    hooks = [s for s in iter_checks() if s.demo is not None]
    for spec in track(hooks, description="Preparing demo evidence", total=len(hooks)):
        t0 = time.perf_counter()
        config["checks"][spec.id] = spec.demo(ctx)
        hook_seconds[spec.id] = time.perf_counter() - t0
    # Sign the reports: a demo signing key (kept beside the data, never in the report).
    from auditkit.reports.signing import generate_signing_key

    key_path = out / "keys" / "report-signing.pem"
    if not key_path.exists():
        generate_signing_key(key_path)
    config["keys"] = {**config.get("keys", {}), "signing_key": os.path.relpath(key_path, out)}
    config_path = out / "audit.toml"
    atomic_write_text(config_path, _toml_header() + tomli_w.dumps(config))
    run = run_audit(config_path, track=track, debug=debug)
    return DemoResult(out, config_path, run, time.perf_counter() - started, hook_seconds)
