"""Compliance reports: the neutral findings model and its renderers.

``reports`` imports none of the other auditkit packages: it renders what it is handed.
"""

from auditkit.reports._markdown import render_markdown_summary
from auditkit.reports._model import (
    SCHEMA_VERSION,
    SECTION_KINDS,
    TABLE_PLACEMENTS,
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
from auditkit.reports._render import (
    Renderer,
    available_formats,
    get_renderer,
    register_renderer,
    render,
    write_reports,
)
from auditkit.reports.catalogue import Catalogue, Provision, get_catalogue, load_catalogue
from auditkit.reports.errors import ReportError, ReportInputError
from auditkit.reports.signing import (
    VerifyResult,
    generate_signing_key,
    verify,
    verify_manifest,
    write_manifest,
)
from auditkit.reports.trust import REPORT_SIGNER, Principal, TrustStore

__all__ = [
    "SCHEMA_VERSION",
    "SECTION_KINDS",
    "TABLE_PLACEMENTS",
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
    "Renderer",
    "VerifyResult",
    "REPORT_SIGNER",
    "Principal",
    "TrustStore",
    "available_formats",
    "get_renderer",
    "generate_signing_key",
    "get_catalogue",
    "load_catalogue",
    "register_renderer",
    "render",
    "render_markdown_summary",
    "verify",
    "verify_manifest",
    "write_manifest",
    "write_reports",
]
