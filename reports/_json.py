"""JSON renderer: the report under the versioned schema shipped in ``reports/schema``."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from auditkit.reports._model import SCHEMA_VERSION, Report

__all__ = ["load_schema", "render_json", "validate_report_json"]

SCHEMA_FILE = f"report-{SCHEMA_VERSION}.schema.json"


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the current report format."""
    text = resources.files("auditkit.reports").joinpath("schema", SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def validate_report_json(document: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``document`` follows the schema."""
    import jsonschema

    jsonschema.Draft202012Validator(load_schema()).validate(document)


def render_json(report: Report) -> bytes:
    """The report as UTF-8 JSON, validated against the schema before it is returned."""
    document = report.to_dict()
    document["$schema"] = load_schema()["$id"]
    validate_report_json(document)
    return (json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()
