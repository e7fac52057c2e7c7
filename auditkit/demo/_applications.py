"""The synthetic loan applications: people, their identifiers, their finances and a biased history.

The generator plants what an audit should find:

- personal data: name, email, phone, US SSN, card number, street address, ZIP code, date of
  birth (all synthetic; card numbers pass the Luhn check, SSNs follow the area/group/serial rules);
- protected attributes: sex, race, age group;
- a historical disparity: the recorded outcome penalises two race groups and women beyond what
  the financial features explain, and the ZIP-derived ``region`` feature correlates with race,
  so a model that never sees race still reproduces the gap through the proxy.

Each phase draws from one shared generator in a fixed order, so the data are deterministic for
a given ``n`` and ``seed``: change the order of the draws and every seed gives other data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

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

# The date the applicants' ages are counted to.
AGE_REFERENCE_DATE = np.datetime64("2026-06-30")


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


def _people(rng: np.random.Generator, n: int) -> dict[str, Any]:
    """Region, race (mixed by region), ZIP code (prefixed by region), sex, age and birth date."""
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
    dob = AGE_REFERENCE_DATE - (age * 365.25 + rng.integers(0, 365, size=n)).astype("timedelta64[D]")
    age_group = pd.cut(age, [17, 24, 39, 59, 200], labels=["18-24", "25-39", "40-59", "60+"]).astype(str)
    return {"region": region, "race": race, "zip": zip_codes, "sex": sex, "age": age,
            "date_of_birth": dob, "age_group": age_group}


def _names_and_emails(rng: np.random.Generator, n: int) -> tuple[np.ndarray, list[str]]:
    first = rng.choice(FIRST_NAMES, size=n)
    last = rng.choice(LAST_NAMES, size=n)
    names = np.char.add(np.char.add(first.astype(str), " "), last.astype(str))
    numbers = rng.integers(1, 999, size=n)
    emails = [
        f"{f.lower()}.{ln.lower()}{k}@{d}"
        for f, ln, k, d in zip(first, last, numbers, rng.choice(EMAIL_DOMAINS, size=n), strict=True)
    ]
    return names, emails


def _phone_numbers(rng: np.random.Generator, n: int) -> list[str]:
    """US numbers with assigned area codes; exchange 555 (reserved for fiction) is skipped."""
    area = rng.choice(AREA_CODES, size=n)
    exchange = rng.integers(201, 999, size=n)
    exchange = np.where(exchange == 555, 556, exchange)
    line = rng.integers(0, 10_000, size=n)
    return [f"({a}) {e:03d}-{ln:04d}" for a, e, ln in zip(area, exchange, line, strict=True)]


def _social_security_numbers(rng: np.random.Generator, n: int) -> list[str]:
    """Area 001-899 but never 666, group 01-99, serial 0001-9999."""
    area = rng.integers(1, 900, size=n)
    area = np.where(area == 666, 667, area)
    group = rng.integers(1, 100, size=n)
    serial = rng.integers(1, 10_000, size=n)
    return [f"{a:03d}-{g:02d}-{s:04d}" for a, g, s in zip(area, group, serial, strict=True)]


def _card_numbers(rng: np.random.Generator, n: int) -> list[str]:
    """16-digit numbers starting with 4 that pass the Luhn check."""
    prefix = np.concatenate([np.full((n, 1), 4), rng.integers(0, 10, size=(n, 14))], axis=1)
    return ["".join(map(str, row)) for row in _luhn_complete(prefix)]


def _street_addresses(rng: np.random.Generator, n: int) -> list[str]:
    numbers = rng.integers(1, 9999, size=n)
    streets = rng.choice(STREETS, size=n)
    kinds = rng.choice(STREET_TYPES, size=n)
    return [f"{num} {s} {t}" for num, s, t in zip(numbers, streets, kinds, strict=True)]


def _identifiers(rng: np.random.Generator, n: int) -> dict[str, Any]:
    """The direct identifiers: name, email, phone, SSN, card number, street address."""
    names, emails = _names_and_emails(rng, n)
    return {"name": names, "email": emails, "phone": _phone_numbers(rng, n),
            "ssn": _social_security_numbers(rng, n), "card_number": _card_numbers(rng, n),
            "street_address": _street_addresses(rng, n)}


def _finances(rng: np.random.Generator, people: dict[str, Any]) -> dict[str, Any]:
    """Income (with a structural gap by race and sex the data reflect), loan and credit history."""
    race, sex, age = people["race"], people["sex"], people["age"]
    n = len(age)
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
    return {"annual_income": income, "loan_amount": loan, "credit_history_years": history,
            "debt_to_income": dti, "employment_years": employment, "existing_loans": existing,
            "loan_purpose": purpose}


def _historical_outcome(
    rng: np.random.Generator, people: dict[str, Any], finances: dict[str, Any]
) -> np.ndarray:
    """The recorded decision: financial merit plus the planted penalties.

    Two race groups and women are penalised, and so are the two regions where those groups
    live most ("redlining"): the model sees region, so it learns the gap through a proxy of race.
    """
    income, dti = finances["annual_income"], finances["debt_to_income"]
    race, sex, region = people["race"], people["sex"], people["region"]
    logit = (
        1.1 * (np.log(income) - np.log(55_000)) / 0.45
        - 2.6 * (dti - 0.3)
        + 0.04 * np.minimum(finances["credit_history_years"], 25)
        + 0.06 * np.minimum(finances["employment_years"], 15)
        - 0.25 * finances["existing_loans"]
        - 0.4 * (finances["loan_amount"] / income > 0.5)
        + 0.5
    )
    bias = np.select([race == "Black", race == "Hispanic"], [-0.9, -0.6], 0.0) - 0.35 * (sex == "female")
    bias -= np.select([region == "south", region == "west"], [0.6, 0.3], 0.0)
    p = 1 / (1 + np.exp(-(logit + bias)))
    return (rng.random(len(p)) < p).astype(int)


def generate_applications(n: int = 20_000, seed: int = 7) -> pd.DataFrame:
    """The synthetic loan-applications dataset (deterministic for a given ``n`` and ``seed``)."""
    rng = np.random.default_rng(seed)
    people = _people(rng, n)
    identifiers = _identifiers(rng, n)
    finances = _finances(rng, people)
    approved = _historical_outcome(rng, people, finances)
    df = pd.DataFrame(
        {
            "applicant_id": [f"A{i:06d}" for i in range(1, n + 1)],
            **identifiers,
            "zip": people["zip"],
            "date_of_birth": pd.Series(people["date_of_birth"]).dt.strftime("%Y-%m-%d").to_numpy(),
            **{k: people[k] for k in ("sex", "race", "age", "age_group", "region")},
            "annual_income": finances["annual_income"].round(0),
            "loan_amount": finances["loan_amount"].round(0),
            "credit_history_years": finances["credit_history_years"],
            "debt_to_income": finances["debt_to_income"].round(4),
            "employment_years": finances["employment_years"].round(1),
            "existing_loans": finances["existing_loans"],
            "loan_purpose": finances["loan_purpose"],
            LABEL: approved,
        }
    )
    df["split"] = np.where(rng.random(n) < 0.5, "train", "test")
    return df
