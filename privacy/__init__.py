"""Privacy engineering: differentially private training (``auditkit.privacy.dp``), encryption, keys and
pseudonyms (``auditkit.privacy.crypto``), and PII discovery, masking and re-identification risk
(``auditkit.privacy.masking``).

Subpackages are imported on demand; ``from auditkit import privacy`` stays cheap.
"""

from auditkit.privacy.errors import (
    BudgetExceededError,
    DecryptionError,
    PrivacyError,
    PrivacyInputError,
)

__all__ = ["BudgetExceededError", "DecryptionError", "PrivacyError", "PrivacyInputError"]
