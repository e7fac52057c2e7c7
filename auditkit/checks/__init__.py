"""Audit checks. Each public module registers one :class:`~auditkit.checks._registry.CheckSpec`."""

from auditkit.checks._registry import (
    CheckOptions,
    CheckResult,
    CheckSpec,
    get_check,
    iter_checks,
    register_check,
)

__all__ = ["CheckOptions", "CheckResult", "CheckSpec", "get_check", "iter_checks", "register_check"]
