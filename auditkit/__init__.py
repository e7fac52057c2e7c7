"""auditkit: a responsible-AI audit and privacy toolkit.

One import namespace:

- :mod:`auditkit.fairness` — metrics on mergeable counts, bootstrap intervals, CI gates;
- :mod:`auditkit.privacy` — differentially private training (``dp``), encryption and keys
  (``crypto``), PII discovery and masking (``masking``);
- :mod:`auditkit.explain` — SHAP and LIME with agreement, stability and proxies;
- :mod:`auditkit.reports` — the findings model, its renderers, signing and the regulation
  catalogue;
- the config-driven runner (:func:`run_audit`) and the ``auditkit`` command.

>>> from auditkit import run_audit            # doctest: +SKIP
>>> run = run_audit("audit.toml")             # doctest: +SKIP
>>> run.exit_code, run.paths["html"]          # doctest: +SKIP

Importing this package is cheap: it imports no domain package, nor the runner; each public
name loads its module on first use (``lazy_loader``, names listed in ``__init__.pyi``).
"""

import lazy_loader as _lazy

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
__all__ = [*__all__, "__version__"]
