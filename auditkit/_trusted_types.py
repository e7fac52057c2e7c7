"""Which types a ``.skops`` model file may contain: the reviewed allow list and the deny list.

skops never unpickles: it rebuilds an object from a schema naming every type it will import,
and refuses names that are not *trusted*. ``auditkit._models._skops_load`` decides that trust by
exact name before skops constructs anything, without importing any module the file names:

1. A name on the **deny list** is refused even when ``[model] trusted_types`` lists it: code
   runners and escalation primitives (``builtins.exec``/``eval``/``compile``/``getattr``/
   ``setattr``/``open``..., ``numpy.vectorize``, ``numpy.frompyfunc``, ``operator``,
   ``functools``), modules that reach the system or the interpreter (``os``, ``posix``,
   ``subprocess``, ``sys``, ``importlib``, ``pickle``...), file I/O helpers, dunder parts, and
   aliases by last part (``numpy.lib._function_base_impl.vectorize``).
2. Any other name must be in :data:`TRUSTED_TYPES` or listed exactly by the user.

The allow list itself, and how it is derived from the installed libraries, is
:mod:`auditkit._allow_list` (``python -m auditkit._allow_list_review`` prints it for review).
"""

from __future__ import annotations

import re

from auditkit._allow_list import ALLOW_LIST

__all__ = [
    "DENIED_HINTS",
    "DENIED_LAST_PARTS",
    "DENIED_MODULES",
    "DENIED_NAMES",
    "TRUSTED_TYPES",
    "denied",
    "is_exact_type_name",
    "trusted_types_problem",
]

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")

#: Top-level modules none of whose names is ever trusted: they reach the operating system, the
#: interpreter, the import system, serialisers that run code, or files and the network.
DENIED_MODULES = frozenset({
    "__main__", "_ctypes", "_functools", "_io", "_operator", "_pickle", "_posixsubprocess",
    "_thread", "_winapi", "asyncio", "ast", "atexit", "bdb", "code", "codecs",
    "codeop", "concurrent", "copy", "copyreg", "ctypes", "dbm", "dill", "dis", "cloudpickle",
    "distutils", "ensurepip", "faulthandler", "fcntl", "fileinput", "ftplib", "functools", "gc",
    "genericpath", "glob", "http", "imp", "importlib", "inspect", "io", "IPython", "joblib",
    "linecache", "logging", "marshal", "mmap", "msvcrt", "multiprocessing", "nt", "ntpath",
    "operator", "os", "pathlib", "pdb", "pickle", "pip", "pkgutil", "platform", "posix",
    "posixpath", "pty", "pydoc", "resource", "runpy", "select", "selectors", "setuptools",
    "shelve", "shutil", "signal", "site", "skops", "smtplib", "socket", "sqlite3", "ssl",
    "subprocess", "sys", "sysconfig", "tarfile", "tempfile", "threading", "timeit", "trace",
    "types", "urllib", "venv", "weakref", "webbrowser", "winreg", "zipfile", "zipimport",
})

#: Exact names never trusted: builtins that run, reach or write anything, and the callable
#: factories and file helpers of the scientific stack.
DENIED_NAMES = frozenset({
    "builtins.breakpoint", "builtins.classmethod", "builtins.compile", "builtins.delattr",
    "builtins.dir", "builtins.eval", "builtins.exec", "builtins.exit", "builtins.filter",
    "builtins.getattr", "builtins.globals", "builtins.hasattr", "builtins.help",
    "builtins.input", "builtins.locals", "builtins.map", "builtins.memoryview",
    "builtins.object", "builtins.open", "builtins.print", "builtins.property", "builtins.quit",
    "builtins.setattr", "builtins.staticmethod", "builtins.super", "builtins.type",
    "builtins.vars", "numpy.DataSource", "numpy.apply_along_axis", "numpy.apply_over_axes",
    "numpy.fromfunction", "numpy.fromregex", "numpy.genfromtxt", "numpy.loadtxt",
    "numpy.piecewise", "numpy.savez", "numpy.savez_compressed", "pandas.eval",
    "pandas.read_pickle", "scipy.LowLevelCallable",
})

#: Last parts of a dotted name that are refused wherever they appear (aliases of the above).
DENIED_LAST_PARTS = frozenset({
    "attrgetter", "compile", "dump", "dumps", "eval", "exec", "execfile", "fromfile",
    "frompyfunc", "getattr", "import_module", "itemgetter", "load", "loads", "memmap",
    "methodcaller", "open", "partial", "partialmethod", "popen", "Popen", "run_module",
    "run_path", "save", "savetxt", "setattr", "spawn", "system", "tofile", "vectorize",
})

#: What to do when a denied name has a known legitimate source, for the refusal message.
DENIED_HINTS = {
    "functools.partial": (
        "scikit-learn stores one inside HistGradientBoosting* fitted with categorical features "
        "(its internal preprocessor); such a model cannot be loaded: one-hot encode the "
        "categories in the pipeline instead, as the demo does"
    ),
}

#: Dotted prefixes (a module and everything under it) refused below an otherwise allowed top.
_DENIED_PREFIXES = (
    "numpy.ctypeslib", "numpy.distutils", "numpy.f2py", "numpy.lib.format", "numpy.lib.npyio",
    "numpy.testing", "pandas.core.computation", "pandas.io", "scipy._lib._ccallback",
    "scipy.io", "sklearn.datasets", "sklearn.externals", "sklearn.utils._testing",
)


def is_exact_type_name(name: object) -> bool:
    """Whether ``name`` is one exact dotted name (``module.Name``): no prefix, no wildcard.

    Parameters
    ----------
    name:
        The candidate, e.g. an entry of ``[model] trusted_types``.

    Returns
    -------
    bool
        ``True`` for ``"numpy.log1p"``; ``False`` for ``"numpy."``, ``"numpy.*"``, ``"log1p"``.
    """
    return isinstance(name, str) and len(name) <= 300 and _NAME_RE.fullmatch(name) is not None


def denied(name: str) -> bool:
    """Whether auditkit refuses ``name`` whatever the user trusts.

    Parameters
    ----------
    name:
        A fully qualified type or function name as skops reports it (``module.Name``, or
        ``module.Class.method`` for a bound method).

    Returns
    -------
    bool
        ``True`` when the name is on the deny list: its top-level module, an enclosing module,
        the exact name or its last part is denied, or one of its parts is a dunder name.

    Examples
    --------
    >>> denied("numpy.vectorize"), denied("os.path.join"), denied("numpy.log1p")
    (True, True, False)
    """
    parts = name.split(".")
    if parts[0] in DENIED_MODULES or name in DENIED_NAMES or parts[-1] in DENIED_LAST_PARTS:
        return True
    if any(p.startswith("__") and p.endswith("__") for p in parts):
        return True
    return any(name == p or name.startswith(p + ".") for p in _DENIED_PREFIXES)


def trusted_types_problem(names: list[object]) -> str | None:
    """What is wrong with a ``[model] trusted_types`` list, or ``None`` if nothing is.

    Parameters
    ----------
    names:
        The entries the user wrote.

    Returns
    -------
    str or None
        A sentence fragment naming every bad entry (shortened) and what to do instead: first
        the entries that are not exact names, otherwise those on the deny list.

    Examples
    --------
    >>> trusted_types_problem(["numpy.log1p"]) is None
    True
    """
    odd = [n for n in names if not is_exact_type_name(n)]
    if odd:
        return (
            f"has entries that are not exact type names ({_short(odd)}): list each type or "
            "function exactly as auditkit's refusal names it (e.g. 'numpy.log1p'); prefixes "
            "such as 'numpy.' and wildcards are not accepted"
        )
    bad = [str(n) for n in names if denied(str(n))]
    if bad:
        return (
            f"lists {_short(bad)}, which can run code or reach the system, so auditkit never "
            "trusts them: remove them (a model file that holds them is refused whatever is listed)"
        )
    return None


def _short(names: list[object], limit: int = 8) -> str:
    """Entries for a one-line message: exact names whole, anything else escaped and cut."""
    shown = [
        repr(n) if is_exact_type_name(n) or len(repr(n)) <= 60 else repr(n)[:57] + "..."
        for n in names[:limit]
    ]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


#: Every type a model file may contain without being listed in ``[model] trusted_types``.
TRUSTED_TYPES = ALLOW_LIST
