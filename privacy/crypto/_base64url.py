"""Unpadded base64url (RFC 4648 §5, ``=`` stripped): how keys, nonces and tokens are written as text.

Ring files, column tokens and pseudonyms all use it; docs/crypto.md specifies it once.

>>> b64e(b"\\xff\\xfe")
'__4'
>>> b64d("__4")
b'\\xff\\xfe'
"""

from __future__ import annotations

import base64

__all__ = ["b64d", "b64e"]


def b64e(data: bytes) -> str:
    """``data`` as base64url text without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    """The bytes of unpadded base64url ``text`` (``binascii.Error`` / ``ValueError`` if invalid)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
