"""What ``auditkit demo`` prepares for each check, keyed by check id.

Each set-up takes the :class:`DemoContext` (the generated data, the trained model, the output
directory), writes whatever evidence the check reads (a masking policy, a key ring and an
encrypted copy, a DP ledger and an attack) and returns the check's options: the
``[checks.<id>]`` table of the demo's ``audit.toml``. The production checks know nothing of the
demo; a check without an entry here runs with its defaults.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditkit.demo._context import DemoContext
from auditkit.demo._private_training import setup_private_training

__all__ = ["CHECK_SETUP", "DEMO_PASSPHRASE", "DEMO_PASSPHRASE_ENV", "CheckSetup"]

DEMO_PASSPHRASE_ENV = "AUDITKIT_DEMO_KEYRING_PASSPHRASE"
DEMO_PASSPHRASE = "auditkit-demo-only-not-a-secret"
"""The demo key ring's passphrase when ``$AUDITKIT_DEMO_KEYRING_PASSPHRASE`` is unset: public,
for the demo only."""

CheckSetup = Callable[[DemoContext], dict[str, Any]]


def setup_data_protection(ctx: DemoContext) -> dict[str, Any]:
    """Write a masking policy for the demo's personal columns; return the check's options."""
    from auditkit.atomic import atomic_write_text
    from auditkit.privacy.masking import Policy, Rule

    personal = set(ctx.personal or [])
    wanted = [
        Rule.of("name", "replace"),
        Rule.of("email", "replace"),
        Rule.of("phone", "mask", keep_last=2),
        Rule.of("ssn", "drop"),
        Rule.of("card_number", "mask", keep_last=4),
        Rule.of("street_address", "drop"),
        Rule.of("zip", "generalise", to="prefix", keep=3),
        Rule.of("date_of_birth", "generalise", to="year"),
    ]
    cols = set(ctx.data.columns)
    rules = tuple(r for r in wanted if r.column in cols and (not personal or r.column in personal))
    qi = [c for c in ("zip", "date_of_birth", "sex") if c in cols]
    sensitive = "race" if "race" in cols else None
    policy = Policy(rules=rules, quasi_identifiers=tuple(qi), sensitive=sensitive, k=5)
    path = ctx.out_dir / "masking_policy.toml"
    atomic_write_text(path, "# Masking policy written by 'auditkit demo' (docs/masking.md).\n"
                      + policy.to_toml())
    options: dict[str, Any] = {"policy": path.name, "quasi_identifiers": qi, "k": 5}
    if sensitive:
        options["sensitive"] = sensitive
    return options


def setup_security(ctx: DemoContext) -> dict[str, Any]:
    """Create a key ring under the demo's directory and an encrypted copy of its dataset.

    The ring's passphrase comes from ``$AUDITKIT_DEMO_KEYRING_PASSPHRASE``; when that is unset
    the demo sets it, for this process only, to :data:`DEMO_PASSPHRASE`, a fixed, public demo
    value. Demo only: a real ring's passphrase belongs in a secret store.
    """
    from auditkit.privacy.crypto import KeyRing, encrypt_file, rewrap

    os.environ.setdefault(DEMO_PASSPHRASE_ENV, DEMO_PASSPHRASE)
    out = Path(ctx.out_dir)
    keys_dir = out / "keys"
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    ring_path = keys_dir / "demo-keyring.json"
    ring = KeyRing.generate()
    enc_path = Path(ctx.data_path).with_name(Path(ctx.data_path).name + ".enc")
    encrypt_file(ctx.data_path, enc_path, ring)
    ring.rotate()  # show a rotation: the copy is then rewrapped to the new primary key
    rewrap(enc_path, ring)
    ring.save(ring_path, passphrase=os.environ[DEMO_PASSPHRASE_ENV])
    return {
        "keyring": ring_path.relative_to(out).as_posix(),
        "passphrase_env": DEMO_PASSPHRASE_ENV,
        "artifacts": [enc_path.relative_to(out).as_posix()],
    }


def setup_fairness(ctx: DemoContext) -> dict[str, Any]:
    """The demo's policy: the four-fifths rule and a 0.1 equalized-odds budget.

    The demo data's planted disparity (race groups and women penalised) makes the
    demographic-parity / impact-ratio finding fail.
    """
    return {
        "thresholds": ["demographic_parity_ratio >= 0.8", "impact_ratio >= 0.8",
                       "equalized_odds_difference <= 0.1"],
        "mode": "ci",
        "n_boot": 1000,
        "min_group_size": 30,
        "min_denominator": 30,
    }


def setup_performance(ctx: DemoContext) -> dict[str, Any]:
    """The demo's settings: default budgets, and the mitigation trade-off shown."""
    return {"max_auc_gap": 0.05, "min_denominator": 30, "n_boot": 300, "mitigation": True,
            "mitigation_attribute": "race"}


def setup_transparency(ctx: DemoContext) -> dict[str, Any]:
    """Sampled rows keep the section to a few seconds on 2 cores (about 2 s for the default
    20,000-row demo on a busy machine)."""
    return {
        "sample_rows": 1500,
        "n_bootstrap": 200,
        "n_individuals": 3,
        "lime_samples": 1500,
        "stability_repeats": 5,
        "stability_rows": 500,
    }


CHECK_SETUP: dict[str, CheckSetup] = {
    "data_protection": setup_data_protection,
    "security": setup_security,
    "fairness": setup_fairness,
    "performance": setup_performance,
    "transparency": setup_transparency,
    "private_training": setup_private_training,
}
"""Check id -> its demo set-up. The demo runs them in report order (the check registry's)."""
