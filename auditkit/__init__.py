"""auditkit: a config-driven responsible-AI audit runner and CLI.

The runner reads ``audit.toml``, loads the data and model once, runs every enabled check
(fairness, data protection, security, transparency, private training) and writes reports.

>>> from auditkit import run_audit            # doctest: +SKIP
>>> run = run_audit("audit.toml")             # doctest: +SKIP
>>> run.exit_code, run.paths["html"]          # doctest: +SKIP

Importing this package is cheap; the runner and its dependencies load on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "AuditRun", "load_config", "run_audit"]

_LAZY = {
    "run_audit": ("auditkit.runner", "run_audit"),
    "AuditRun": ("auditkit.runner", "AuditRun"),
    "load_config": ("auditkit.config", "load_config"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'auditkit' has no attribute {name!r}")
