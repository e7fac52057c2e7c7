"""Privacy engineering: differentially private training (``privacy.dp``), encryption, keys and
pseudonyms (``privacy.crypto``), and PII discovery, masking and re-identification risk
(``privacy.masking``).

Subpackages are imported on demand; ``import privacy`` stays cheap.
"""

from privacy.errors import BudgetExceededError, DecryptionError, PrivacyError, PrivacyInputError

__all__ = ["BudgetExceededError", "DecryptionError", "PrivacyError", "PrivacyInputError"]
