"""``audit.toml``: the configuration of an audit, as pydantic models.

The top-level tables are fixed (``[audit]``, ``[data]``, ``[model]``, ``[keys]``, ``[report]``);
``[checks.<id>]`` tables are validated by the options model each registered check declares, so
the check registry is the single source of truth for what a check accepts.

Every validation problem becomes one :class:`~auditkit.errors.ConfigError` naming the file, the
table and key, what was expected, and the closest valid key when a name is misspelt.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from auditkit._formats import DATA_FORMATS, MODEL_FORMATS, FileFormat, choice_problem
from auditkit.errors import ConfigError
from auditkit.hints import did_you_mean
from auditkit.reports.catalogue import DOMAINS, JURISDICTIONS
from auditkit.toml_files import read_toml

__all__ = [
    "AuditConfig",
    "AuditMeta",
    "DOMAINS",
    "DataConfig",
    "DpiaConfig",
    "JURISDICTIONS",
    "KeysConfig",
    "ModelCardConfig",
    "ModelConfig",
    "ReportConfig",
    "TrailConfig",
    "load_config",
    "parse_config",
]

DEFAULT_FORMATS = ("html", "md", "json")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ``[audit] domain`` (what the model decides about) and ``[audit] jurisdictions`` (where it is
# used; a sub-jurisdiction implies its country): one list each, kept with the catalogue whose
# provisions they select.


#: ``[data] engine`` values (docs/scale.md).
ENGINES = ("auto", "pandas", "dask")


def _known_choice(value: str, formats: tuple[FileFormat, ...]) -> str:
    """``value`` when it is ``auto`` or the name of one of ``formats``; else a ConfigError."""
    problem = choice_problem(value, formats)
    if problem:
        raise ConfigError(problem)
    return value


class AuditMeta(_Model):
    """``[audit]``: what is being audited, for the report's cover, and the audit's legal scope.

    ``domain`` and ``jurisdictions`` decide which provisions findings cite. ``controller``,
    ``dpo``, ``action_owner`` and ``action_due`` fill the executive summary's actions and the
    DPIA; left empty, the report marks them "to assign".
    """

    title: str = "Responsible-AI audit"
    system: str = ""
    version: str = ""
    owner: str = ""
    description: str = ""
    random_state: int = 0
    domain: str = "general"
    jurisdictions: list[str] = Field(default_factory=lambda: ["EU", "US"])
    controller: str = ""
    dpo: str = ""
    action_owner: str = ""
    action_due: str = ""

    @field_validator("domain")
    @classmethod
    def _known_domain(cls, v: str) -> str:
        if v not in DOMAINS:
            raise ConfigError(
                f"names unknown domain {v!r}.{did_you_mean(v, DOMAINS)} Expected one of: "
                f"{', '.join(DOMAINS)}"
            )
        return v

    @field_validator("jurisdictions")
    @classmethod
    def _known_jurisdictions(cls, v: list[str]) -> list[str]:
        for j in v:
            if j not in JURISDICTIONS:
                raise ConfigError(
                    f"names unknown jurisdiction {j!r}.{did_you_mean(j, JURISDICTIONS)} Expected some "
                    f"of: {', '.join(JURISDICTIONS)}"
                )
        if not v:
            raise ConfigError(f"is empty; name at least one of: {', '.join(JURISDICTIONS)}")
        return list(dict.fromkeys(v))

    @field_validator("action_due")
    @classmethod
    def _iso_date(cls, v: str) -> str:
        if v and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
            raise ConfigError(f"must be a date as YYYY-MM-DD (e.g. 2027-03-31); got {v!r}")
        return v


class ModelCardConfig(_Model):
    """``[model_card]``: what only the model's owner can say; the report's model-card section
    takes the rest (metrics, evaluation data, factors) from the audit and marks what is
    missing here as open."""

    intended_use: str = ""
    intended_users: str = ""
    out_of_scope_use: str = ""
    training_data: str = ""
    ethical_considerations: str = ""
    caveats: str = ""


class DpiaConfig(_Model):
    """``[dpia]``: the parts of a data protection impact assessment (GDPR Art. 35(7)) that only
    the controller can supply. The report fills (a)-(d) from the audit and marks what is
    missing here as open."""

    processing_description: str = ""
    purposes: str = ""
    legitimate_interest: str = ""
    necessity_and_proportionality: str = ""
    measures: list[str] = Field(default_factory=list)
    consultation: str = ""


class DataConfig(_Model):
    """``[data]``: the dataset and the roles of its columns.

    ``positive_label`` is the class the model predicts as positive and the score measures (the
    probability or risk of that class; default 1 for 0/1 labels). ``favourable_label`` is the
    outcome that benefits the person (a loan granted: usually the positive class; "low risk"
    for a recidivism model: 0). Impact ratios and the four-fifths rule use the favourable
    outcome, and the report says which outcome it treated as favourable.
    """

    path: str
    #: ``auto`` (from the file's name) or a name of :data:`auditkit._formats.DATA_FORMATS`.
    format: str = "auto"
    #: CSV only: ``false`` when the first row is data (columns are then ``column_1``..), and
    #: the lines before the first row to skip (a note such as UCI's "|1x3 Cross validator").
    header: bool = True
    skip_lines: int = Field(default=0, ge=0, le=10_000)
    label: str | None = None
    prediction: str | None = None
    score: str | None = None
    protected: list[str] = Field(default_factory=list)
    personal: list[str] = Field(default_factory=list)
    id_column: str | None = None
    positive_label: str | int | float | bool | None = None
    favourable_label: str | int | float | bool | None = None
    #: How the data is read (docs/scale.md): ``pandas`` into memory, ``dask`` in one streaming
    #: pass over its partitions, ``auto`` Dask when the estimated in-memory size exceeds
    #: ``memory_budget_mib`` (default a quarter of the machine's memory).
    engine: str = "auto"
    memory_budget_mib: int | None = Field(default=None, ge=64)
    #: Address of a running Dask distributed scheduler (``tcp://host:8786``); default a local
    #: cluster of one worker thread in the audit's own process.
    cluster: str | None = None
    #: Rows of the uniform sample the sampled checks read on the Dask engine.
    sample_rows: int = Field(default=100_000, ge=1_000, le=10_000_000)

    @field_validator("format")
    @classmethod
    def _known_format(cls, v: str) -> str:
        return _known_choice(v, DATA_FORMATS)

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, v: str) -> str:
        if v not in ENGINES:
            raise ConfigError(f"must be one of {', '.join(ENGINES)}; got {v!r}.{did_you_mean(v, ENGINES)}")
        return v

    @field_validator("cluster")
    @classmethod
    def _cluster_address(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(tcp|tls|inproc|ucx)://\S+$", v):
            raise ConfigError(
                "must be the address of a Dask scheduler such as 'tcp://10.0.0.5:8786'; "
                "remove it to run on a local cluster"
            )
        return v

    @field_validator("protected", "personal")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        dupes = sorted({c for c in v if v.count(c) > 1})
        if dupes:
            raise ConfigError(f"lists {dupes} more than once; name each column once")
        return v


class ModelConfig(_Model):
    """``[model]``: an optional fitted model that produces the predictions.

    ``trusted_types`` lists exact type or function names (``"numpy.log1p"``) that a ``.skops``
    file may hold beyond auditkit's reviewed defaults; prefixes, wildcards and names on the deny
    list (``auditkit._trusted_types``) are refused. ``sha256`` pins the file: its SHA-256 as 64
    hexadecimal characters, checked before the file is parsed.
    """

    path: str | None = None
    #: ``auto`` (from the file's name) or a name of :data:`auditkit._formats.MODEL_FORMATS`.
    format: str = "auto"
    trust_model: bool = False
    trusted_types: list[str] = Field(default_factory=list)
    sha256: str | None = None
    features: list[str] = Field(default_factory=list)

    @field_validator("format")
    @classmethod
    def _known_format(cls, v: str) -> str:
        return _known_choice(v, MODEL_FORMATS)

    @field_validator("trusted_types")
    @classmethod
    def _exact_names(cls, v: list[str]) -> list[str]:
        from auditkit._trusted_types import trusted_types_problem

        problem = trusted_types_problem(list(v))
        if problem:
            raise ConfigError(problem)
        return v

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if len(v) != 64 or any(c not in "0123456789abcdefABCDEF" for c in v):
            raise ConfigError(
                "must be the model file's SHA-256 as 64 hexadecimal characters (the first "
                "field of 'sha256sum model.skops'); remove the key to load the file unpinned"
            )
        return v.lower()


class KeysConfig(_Model):
    """``[keys]``: the key ring used to read encrypted inputs and to sign reports.

    Reports are signed when ``signing_key`` names an Ed25519 key file, or when ``sign = true``
    and a ``keyring`` is given (the signing key is then derived from the ring's primary key).
    """

    keyring: str | None = None
    passphrase_env: str = "AUDITKIT_KEYRING_PASSPHRASE"
    signing_key: str | None = None
    sign: bool = False

    @model_validator(mode="after")
    def _sign_needs_a_key(self) -> KeysConfig:
        if self.sign and not (self.signing_key or self.keyring):
            raise ConfigError(
                "sign = true needs a key: set signing_key (an Ed25519 PEM file) or keyring"
            )
        return self


class TrailConfig(_Model):
    """``[trail]``: where the audit trail and the access policy are (paths relative to
    audit.toml). Unset, the trail is found as ``auditkit.privacy.trail.trail_location`` says
    (``$AUDITKIT_TRAIL``, else beside ``[keys] keyring``, else the per-user state directory) and
    the policy as ``auditkit.privacy.access.find_policy`` says (``$AUDITKIT_ACCESS_POLICY``, else
    ``access-policy.json`` beside the key ring)."""

    path: str | None = None
    policy: str | None = None


_BASENAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


class ReportConfig(_Model):
    """``[report]``: where and how the reports are written."""

    out: str = "audit-report"
    formats: list[str] = Field(default_factory=lambda: list(DEFAULT_FORMATS))
    basename: str = "report"

    @field_validator("basename")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        if not _BASENAME.fullmatch(v) or v in (".", ".."):
            raise ConfigError(
                f"must be a plain file name (letters, digits, '.', '_', '-'; at most 100 "
                f"characters; not starting with '.'); got {v!r}. Reports are written as "
                "<out>/<basename>.<format>: choose the directory with [report] out"
            )
        if v == "manifest":
            raise ConfigError(
                "'manifest' is reserved for the signed manifest (manifest.json, manifest.sig); "
                "choose another basename"
            )
        return v

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, v: list[str]) -> list[str]:
        problem = format_problem(v)
        if problem:
            raise ConfigError(problem)
        return list(dict.fromkeys(v))


def format_problem(formats: list[str]) -> str | None:
    """What is wrong with a list of report formats, or ``None``."""
    from auditkit.reports import available_formats

    known = available_formats()
    if not formats:
        return f"is empty; name at least one of: {', '.join(known)}"
    for fmt in formats:
        if fmt not in known:
            return f"names unknown format {fmt!r}.{did_you_mean(fmt, known)} Expected some of: {', '.join(known)}"
    return None


def validate_formats(formats: list[str], *, source: str = "--format") -> list[str]:
    """Check formats given on the command line; raise :class:`ConfigError` naming ``source``."""
    problem = format_problem(formats)
    if problem:
        raise ConfigError(f"{source} {problem}.")
    return list(dict.fromkeys(formats))


class AuditConfig(_Model):
    """The whole ``audit.toml``."""

    audit: AuditMeta = Field(default_factory=AuditMeta)
    data: DataConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    keys: KeysConfig = Field(default_factory=KeysConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    model_card: ModelCardConfig = Field(default_factory=ModelCardConfig)
    dpia: DpiaConfig = Field(default_factory=DpiaConfig)
    trail: TrailConfig = Field(default_factory=TrailConfig)
    checks: dict[str, Any] = Field(default_factory=dict)

    def check_options(self, check_id: str) -> Any:
        """Validated options of one check (defaults when its table is absent)."""
        from auditkit.checks._registry import get_check

        spec = get_check(check_id)
        raw = self.checks.get(check_id)
        if isinstance(raw, BaseModel):
            return raw
        return spec.options.model_validate(raw or {"enabled": spec.default_enabled})


_TOP_KEYS = list(AuditConfig.model_fields)


def _section_fields(loc: tuple[Any, ...]) -> list[str]:
    """Valid keys at the location of a pydantic error (for suggestions)."""
    model: Any = AuditConfig
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    return list(getattr(model, "model_fields", {}))


def _where(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if not parts:
        return "the file"
    if len(parts) == 1:
        return f"[{parts[0]}]" if parts[0] in _TOP_KEYS else f"key '{parts[0]}'"
    return f"[{'.'.join(parts[:-1])}] key '{parts[-1]}'"


def _format_error(source: str, err: dict[str, Any], valid: list[str] | None = None) -> str:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    where = _where(loc)
    if kind == "extra_forbidden":
        options = valid if valid is not None else _section_fields(loc)
        hint = did_you_mean(loc[-1], options) if loc else ""
        listing = f" Valid keys: {', '.join(options)}." if options else ""
        return f"{source}: unknown {where}.{hint}{listing} Remove or rename it."
    if kind == "missing":
        return f"{source}: {where} is required but missing. Add it."
    got = err.get("input")
    got_text = f"{type(got).__name__} {got!r}" if not isinstance(got, dict) else "a table"
    if len(got_text) > 80:
        got_text = got_text[:77] + "..."
    msg = err.get("msg", "is invalid")
    msg = msg[len("Value error, "):] if msg.startswith("Value error, ") else msg
    msg = msg[0].lower() + msg[1:]
    if not isinstance(got, dict) and repr(got) in msg:  # the validator quoted the value itself
        return f"{source}: {where} {msg}" + ("" if msg.endswith((".", "?")) else ".")
    return f"{source}: {where} {msg}; got {got_text}."


def parse_config(raw: dict[str, Any], *, source: str = "audit.toml") -> AuditConfig:
    """Validate a parsed TOML document (checks' tables included)."""
    from auditkit.checks._registry import iter_checks

    try:
        cfg = AuditConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_error(source, exc.errors()[0])) from None

    specs = {c.id: c for c in iter_checks()}
    validated: dict[str, Any] = {}
    for check_id, table in cfg.checks.items():
        if check_id not in specs:
            raise ConfigError(
                f"{source}: unknown check [checks.{check_id}].{did_you_mean(check_id, specs)} "
                f"Known checks: {', '.join(specs)}."
            )
        if not isinstance(table, dict):
            raise ConfigError(
                f"{source}: [checks.{check_id}] must be a table of options; got "
                f"{type(table).__name__}. Write it as [checks.{check_id}] with keys below it."
            )
        try:
            validated[check_id] = specs[check_id].options.model_validate(table)
        except ValidationError as exc:
            err = exc.errors()[0]
            err = dict(err, loc=("checks", check_id, *err.get("loc", ())))
            valid = list(specs[check_id].options.model_fields)
            raise ConfigError(_format_error(source, err, valid)) from None
    return cfg.model_copy(update={"checks": validated})


def load_config(path: str | Path) -> AuditConfig:
    """Read and validate ``audit.toml``.

    Raises
    ------
    ConfigError
        The file is missing, unreadable, not valid TOML (the message gives the line), or fails
        validation.
    """
    p = Path(path)
    raw = read_toml(p, error=ConfigError, what="config file",
                    fix="Pass the path of an audit.toml, or create one with 'auditkit init DATA_FILE'.")
    return parse_config(raw, source=str(p))
