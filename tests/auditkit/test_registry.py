"""The shared registry: refuses silent overwrites and unknown names, in the owner's error class."""

from __future__ import annotations

import types

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditkit.registry import Registry, import_submodules


class OwnError(ValueError):
    """Stands for a package's own error class."""


def test_add_returns_the_item_and_keeps_the_order_added() -> None:
    reg: Registry[int] = Registry("widget", OwnError)
    assert reg.add("b", 2) == 2 and reg.add("a", 1) == 1
    assert reg.names() == ("b", "a") and list(reg) == ["b", "a"] and len(reg) == 2
    assert "a" in reg and "z" not in reg and reg["a"] == 1 and reg.lookup("b") == 2


def test_a_taken_name_is_refused_unless_forced_and_the_same_item_is_harmless() -> None:
    reg: Registry[object] = Registry("widget", OwnError)
    first, other = object(), object()
    reg.add("w", first)
    reg.add("w", first)  # the same item again: nothing to refuse
    with pytest.raises(OwnError) as caught:
        reg.add("w", other)
    assert str(caught.value) == (
        "A widget named 'w' is already registered; pass force=True to replace it, or register "
        "the widget under another name."
    )
    assert reg["w"] is first
    assert reg.add("w", other, force=True) is other and reg["w"] is other


def test_the_article_follows_the_kind() -> None:
    reg: Registry[int] = Registry("explainer", OwnError)
    reg.add("x", 1)
    with pytest.raises(OwnError, match="^An explainer named 'x'"):
        reg.add("x", 2)


def test_an_unknown_name_names_the_input_the_known_names_and_the_closest() -> None:
    reg: Registry[int] = Registry("report format", OwnError)
    for name in ("html", "json"):
        reg.add(name, 0)
    with pytest.raises(OwnError) as caught:
        reg.lookup("htm")
    assert str(caught.value) == (
        "No report format named 'htm'. Did you mean 'html'? Known report formats: 'html', "
        "'json'; name one of them."
    )
    assert reg.get("htm") is None  # the plain mapping read is not a refusal


def test_a_parameter_registry_phrases_the_refusal_as_the_parameter_and_offers_also() -> None:
    reg: Registry[int] = Registry(
        "clipping mode", OwnError, parameter="'mode' parameter of f", also=("auto",)
    )
    reg.add("ghost", 0)
    with pytest.raises(OwnError) as caught:
        reg.lookup("aut")
    assert str(caught.value) == (
        "The 'mode' parameter of f must be one of 'auto', 'ghost'; got 'aut'. Did you mean "
        "'auto'?"
    )
    assert "auto" not in reg


def test_an_empty_registry_says_so() -> None:
    with pytest.raises(OwnError, match=r"Known widgets: \(none registered\)"):
        Registry("widget", OwnError).lookup("w")


def test_item_assignment_never_replaces_silently_and_replaced_restores(monkeypatch) -> None:
    reg: Registry[int] = Registry("widget", OwnError)
    reg.add("w", 1)
    with pytest.raises(OwnError, match="already registered"):
        reg["w"] = 2
    reg["w"] = 1  # the same item again is harmless
    monkeypatch.setitem(reg, "new", 3)  # a new name: allowed, and undone
    monkeypatch.undo()
    assert "new" not in reg
    with reg.replaced("w", 2):
        assert reg["w"] == 2
    assert reg["w"] == 1
    with reg.replaced("x", 5):
        assert reg.lookup("x") == 5
    assert "x" not in reg
    del reg["w"]
    assert "w" not in reg and reg.pop("w", None) is None


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers(), max_size=8))
def test_every_added_item_is_found_under_its_name(items: dict[str, int]) -> None:
    reg: Registry[int] = Registry("widget", OwnError)
    for name, item in items.items():
        reg.add(name, item)
    assert reg.names() == tuple(items)
    assert all(reg.lookup(name) == item for name, item in items.items())


def test_import_submodules_imports_the_public_modules_in_name_order() -> None:
    import auditkit.commands as pkg

    modules = import_submodules(pkg)
    names = [m.__name__.rsplit(".", 1)[1] for m in modules]
    assert names == sorted(names) and names and not any(n.startswith("_") for n in names)
    assert all(isinstance(m, types.ModuleType) and hasattr(m, "register") for m in modules)


def test_lookup_may_raise_its_own_class() -> None:
    class Unknown(OwnError, KeyError):
        pass

    reg: Registry[int] = Registry("widget", OwnError, unknown_error=Unknown)
    reg.add("w", 1)
    with pytest.raises(Unknown):
        reg.lookup("x")
    with pytest.raises(OwnError) as refused:
        reg.add("w", 2)
    assert not isinstance(refused.value, KeyError)
