"""The one "did you mean" hint every auditkit message uses for a mistyped name.

Registries (checks, renderers, operators, recognisers, explainers, accountants, clipping
modes), config keys, column names and catalogue ids all refuse an unknown name with a message
that names the input, lists what was expected and, when one option is close, suggests it.
This module writes that suggestion once.

Like :mod:`auditkit.atomic`, it imports only the standard library and nothing else of
auditkit, so every package (the runner and the four domain packages) can use it without
breaking the direction of imports.

>>> did_you_mean("demographic_parity_ratoi", ["demographic_parity_ratio", "impact_ratio"])
" Did you mean 'demographic_parity_ratio'?"
>>> did_you_mean("zzz", ["alpha", "beta"])
''
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["CUTOFF", "did_you_mean"]

CUTOFF = 0.6
"""Similarity (:class:`difflib.SequenceMatcher` ratio) an option needs to be suggested."""


def did_you_mean(name: object, options: Iterable[object], *, cutoff: float = CUTOFF) -> str:
    """`` Did you mean 'x'?`` for the option closest to ``name``, or ``""`` when none is close.

    Both ``name`` and the options are compared as ``str``; the result starts with a space so
    that it can be appended to a sentence.
    """
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=cutoff)
    return f" Did you mean {close[0]!r}?" if close else ""
