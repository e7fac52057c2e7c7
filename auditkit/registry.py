"""The one registry every auditkit plug-in point uses: names to items, no silent overwrite.

Checks, report formats, masking operators, recognisers, explainers, privacy accountants and
clipping modes are each kept in a :class:`Registry`. It refuses to replace a name unless asked
(``force=True``), refuses an unknown name with the names it knows and the closest one, and
raises the error class of the package that owns it, so a caller of ``auditkit.privacy`` still
catches :class:`~auditkit.privacy.errors.PrivacyInputError` and a caller of the runner
:class:`~auditkit.errors.ConfigError`. :func:`import_submodules` is the discovery step of the
registries filled by modules (one check or one CLI command group per module).

Like :mod:`auditkit.atomic` and :mod:`auditkit.hints`, it imports only the standard library and
those leaves, so every package can use it without breaking the direction of imports.

>>> formats = Registry("report format", LookupError)
>>> formats.add("html", "render_html")
'render_html'
>>> formats.lookup("htm")
Traceback (most recent call last):
...
LookupError: No report format named 'htm'. Did you mean 'html'? Known report formats: 'html'; name one of them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import TypeVar

from auditkit.hints import did_you_mean

__all__ = ["Registry", "import_submodules"]

T = TypeVar("T")


class Registry(MutableMapping[str, T]):
    """Items of one kind by name, in the order they were added.

    Parameters
    ----------
    kind:
        What an item is, in words (``"check"``, ``"clipping mode"``); every message names it.
    error:
        The exception class raised for a refused name: the owning package's own error.
    parameter:
        When names arrive through one parameter (``"'mode' parameter of make_private"``), the
        unknown-name message is phrased as that parameter's constraint.
    unknown_error:
        The class :meth:`lookup` raises for an unknown name, when it differs from ``error``
        (e.g. one that is also a ``KeyError``, as a mapping lookup's would be).
    also:
        Names the caller accepts besides the registered ones (e.g. ``"auto"``): listed first in
        the unknown-name message and offered by its hint. They are not items.

    Reading is a plain mapping (``registry[name]``, ``in``, iteration in order added).
    :meth:`add` refuses a silent overwrite and :meth:`lookup` an unknown name. Item assignment
    is :meth:`add` without ``force`` (a new name, or the same item again), so no form of writing
    replaces an item silently; ``del`` removes one (``monkeypatch.setitem`` works on new names).
    """

    def __init__(
        self,
        kind: str,
        error: type[Exception],
        *,
        parameter: str | None = None,
        also: Sequence[str] = (),
        unknown_error: type[Exception] | None = None,
    ) -> None:
        self.kind = kind
        self.error = error
        self.unknown_error = unknown_error or error
        self.parameter = parameter
        self.also = tuple(also)
        self._items: dict[str, T] = {}

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()!r})"

    def __getitem__(self, name: str) -> T:
        return self._items[name]

    def __setitem__(self, name: str, item: T) -> None:
        self.add(name, item)

    def __delitem__(self, name: str) -> None:
        del self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> tuple[str, ...]:
        """Every registered name, in the order added."""
        return tuple(self._items)

    def add(self, name: str, item: T, *, force: bool = False) -> T:
        """Register ``item`` as ``name`` and return it.

        Adding the same (or an equal) item again is harmless; a different item under a taken
        name is refused with :attr:`error` unless ``force=True``, which replaces it.
        """
        if name in self._items and not force:
            existing = self._items[name]
            if existing is not item and existing != item:
                article = "An" if self.kind[:1].lower() in "aeiou" else "A"
                raise self.error(
                    f"{article} {self.kind} named {name!r} is already registered; pass "
                    f"force=True to replace it, or register the {self.kind} under another name."
                )
        self._items[name] = item
        return item

    @contextmanager
    def replaced(self, name: str, item: T) -> Iterator[T]:
        """Within the block, ``name`` is ``item`` (registered or replaced); afterwards the
        registry is as it was. For tests that wrap or stub a registered item."""
        had, previous = name in self._items, self._items.get(name)
        self._items[name] = item
        try:
            yield item
        finally:
            if had:
                self._items[name] = previous  # type: ignore[assignment]
            else:
                self._items.pop(name, None)

    def lookup(self, name: str) -> T:
        """The item registered as ``name``; an unknown name raises :attr:`error` naming the
        known ones and the closest."""
        try:
            return self._items[name]
        except KeyError:
            raise self.unknown_error(self.unknown(name)) from None

    def unknown(self, name: object) -> str:
        """The message refusing ``name``: what was given, what exists, the closest, what to do."""
        options = [*self.also, *self._items]
        hint = did_you_mean(name, options)
        listed = ", ".join(repr(o) for o in options) or "(none registered)"
        if self.parameter is not None:
            return f"The {self.parameter} must be one of {listed}; got {name!r}.{hint}"
        return (
            f"No {self.kind} named {name!r}.{hint} Known {self.kind}s: {listed}; name one of "
            "them."
        )


def import_submodules(package: ModuleType) -> list[ModuleType]:
    """Import every public submodule of ``package`` (names not starting ``_``), in name order.

    The modules register their items as they are imported; the list lets a caller do more
    with each (the CLI calls ``register(app)``).
    """
    found = sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name)
    return [
        importlib.import_module(f"{package.__name__}.{m.name}")
        for m in found
        if not m.name.startswith("_")
    ]
