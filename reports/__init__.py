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
]
