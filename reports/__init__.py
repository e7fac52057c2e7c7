"""Compliance reports: the neutral findings model and its renderers.

``reports`` imports none of the other auditkit packages: it renders what it is handed.
"""

from reports._model import (
    SCHEMA_VERSION,
    Artifact,
    Figure,
    Finding,
    Report,
    Section,
    Severity,
    Status,
    Table,
    sha256_file,
    worst_status,
)
from reports._render import available_formats, render, write_reports
from reports.catalogue import Catalogue, Provision, get_catalogue, load_catalogue
from reports.errors import ReportError, ReportInputError
from reports.signing import (
    VerifyResult,
    generate_signing_key,
    verify,
    verify_manifest,
    write_manifest,
)

__all__ = [
    "SCHEMA_VERSION",
    "Artifact",
    "Figure",
    "Finding",
    "Report",
    "Section",
    "Severity",
    "Status",
    "Table",
    "sha256_file",
    "worst_status",
    "Catalogue",
    "Provision",
    "ReportError",
    "ReportInputError",
    "VerifyResult",
    "available_formats",
    "generate_signing_key",
    "get_catalogue",
    "load_catalogue",
    "render",
    "verify",
    "verify_manifest",
    "write_manifest",
    "write_reports",
]
