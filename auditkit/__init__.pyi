from . import explain as explain
from . import fairness as fairness
from . import privacy as privacy
from . import reports as reports
from .config import load_config as load_config
from .runner import AuditRun as AuditRun
from .runner import run_audit as run_audit

__version__: str
