"""audit.toml validation: every mistake gives one message naming the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditkit.config import load_config, parse_config
from auditkit.errors import ConfigError


def test_valid_config_loads(audit_dir: Path) -> None:
    cfg = load_config(audit_dir / "audit.toml")
    assert cfg.data.label == "approved"
    assert cfg.report.formats == ["json", "md", "html"]


def test_unknown_key_suggests_closest(base_config) -> None:
    raw = base_config()
    raw["data"]["protcted"] = ["sex"]
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, source="a.toml")
    msg = str(exc.value)
    assert "a.toml" in msg and "'protcted'" in msg and "Did you mean 'protected'?" in msg


def test_unknown_top_level_table_suggests(base_config) -> None:
    raw = base_config()
    raw["reprt"] = {"out": "x"}
    with pytest.raises(ConfigError, match="Did you mean 'report'"):
        parse_config(raw)


def test_wrong_type_names_key_and_value(base_config) -> None:
    raw = base_config()
    raw["data"]["protected"] = "sex"
    with pytest.raises(ConfigError) as exc:
        parse_config(raw)
    assert "[data] key 'protected'" in str(exc.value)
    assert "'sex'" in str(exc.value)


def test_missing_required_key(base_config) -> None:
    raw = base_config()
    del raw["data"]["path"]
    with pytest.raises(ConfigError, match=r"\[data\] key 'path' is required"):
        parse_config(raw)


def test_unknown_format_suggests(base_config) -> None:
    raw = base_config(report={"formats": ["htm"]})
    with pytest.raises(ConfigError, match="Did you mean 'html'"):
        parse_config(raw)


def test_unknown_check_suggests(base_config) -> None:
    raw = base_config()
    raw["checks"] = {"datset": {"enabled": True}}
    with pytest.raises(ConfigError, match="Did you mean 'dataset'"):
        parse_config(raw)


def test_unknown_check_option_suggests(base_config) -> None:
    raw = base_config()
    raw["checks"] = {"dataset": {"max_missing_shares": 0.1}}
    with pytest.raises(ConfigError) as exc:
        parse_config(raw)
    assert "[checks.dataset]" in str(exc.value)
    assert "Did you mean 'max_missing_share'" in str(exc.value)


def test_toml_syntax_error_gives_line(tmp_path: Path) -> None:
    p = tmp_path / "audit.toml"
    p.write_text('[data]\npath = "x.csv"\nlabel = = "y"\n')
    with pytest.raises(ConfigError, match="line 3"):
        load_config(p)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist.*auditkit init"):
        load_config(tmp_path / "nope.toml")


def test_config_is_not_mutated_by_validation(base_config) -> None:
    raw = base_config()
    raw["checks"] = {"dataset": {"max_missing_share": 0.2}}
    before = repr(raw)
    parse_config(raw)
    assert repr(raw) == before


@pytest.mark.parametrize(("table", "given", "close"), [
    ("data", "cvs", "csv"), ("data", "parquett", "parquet"),
    ("model", "pikle", "pickle"), ("model", "skop", "skops"),
])
def test_unknown_file_format_names_the_choices_from_the_registry(base_config, table, given,
                                                                 close) -> None:
    from auditkit._formats import DATA_FORMATS, MODEL_FORMATS, choices

    raw = base_config()
    raw.setdefault(table, {})["format"] = given
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, source="a.toml")
    msg = str(exc.value)
    assert f"[{table}] key 'format'" in msg and f"Did you mean {close!r}?" in msg
    for name in choices(DATA_FORMATS if table == "data" else MODEL_FORMATS):
        assert name in msg


def test_every_registered_format_is_accepted(base_config) -> None:
    from auditkit._formats import DATA_FORMATS, MODEL_FORMATS, choices

    for name in choices(DATA_FORMATS):
        assert parse_config(base_config(data={"format": name})).data.format == name
    for name in choices(MODEL_FORMATS):
        raw = base_config()
        raw["model"] = {"format": name}
        assert parse_config(raw).model.format == name


def test_validators_raise_the_package_error() -> None:
    """The models' own validators raise ConfigError (a ValueError, which pydantic wraps)."""
    from pydantic import ValidationError

    from auditkit.config import AuditMeta

    with pytest.raises(ValidationError) as exc:
        AuditMeta(domain="credt")
    assert "Did you mean 'credit'?" in str(exc.value)
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize(("table", "key", "value"), [
    ("audit", "action_due", "31/03/2027"),
    ("audit", "jurisdictions", ["EU", "Mars"]),
    ("audit", "domain", "credti"),
    ("data", "format", "cvs"),
    ("data", "protected", "sex"),
    ("data", "label", 7),
    ("checks.fairness", "mode", "pt"),
    ("checks.fairness", "n_boot", "many"),
    ("checks.transparency", "method", "shapp"),
    ("checks.performance", "score_kind", "probabilty"),
    ("model", "sha256", "abc"),
])
def test_a_bad_value_is_named_once_with_its_key(base_config, table: str, key: str, value) -> None:
    """Whether the validator or the loader quotes it, the value given appears exactly once,
    after the table and key, and the message is one sentence-ended line."""
    raw = base_config()
    head, _, sub = table.partition(".")
    target = raw.setdefault(head, {})
    if sub:
        target = target.setdefault(sub, {})
    if head == "model":
        target.setdefault("path", "model.skops")
    target[key] = value
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, source="a.toml")
    msg = str(exc.value)
    where = f"[{table}] key '{key}'"
    assert msg.startswith(f"a.toml: {where}"), msg
    assert msg.count(repr(value)) == 1, msg
    assert "\n" not in msg and msg.endswith((".", "?")), msg
