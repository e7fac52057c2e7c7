"""The TOML reader this package's files (the regulation catalogue, the trust store) are read with.

``tomllib`` is in the standard library from Python 3.11; on 3.10 the same parser comes from the
``tomli`` distribution (a dependency there only). Kept here once so the two readers agree.
"""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["tomllib"]
