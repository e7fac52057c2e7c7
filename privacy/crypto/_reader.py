"""A seekable, constant-memory plaintext view of an encrypted file (:func:`open_decrypted`)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from auditkit.privacy.crypto._recipients import check_opener
from auditkit.privacy.crypto._stream import _open_src
from auditkit.privacy.crypto._stream_v2 import _open_reader, _recorded
from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.trail import enforce, record

__all__ = ["open_decrypted"]


class _DecryptingRaw(io.RawIOBase):
    """Seekable plaintext view of an encrypted file; one segment in memory at a time."""

    def __init__(self, path: str | os.PathLike[str], opener: Any, params: dict[str, Any]) -> None:
        super().__init__()
        self._fh = _open_src(path, "encrypted")
        try:
            self._segments, parsed = _open_reader(self._fh, opener, str(path))
            params.update(parsed.params())
            self._buf = bytearray(self._segments.seg)
            self._cached = -1
            self._cached_len = 0
            self._pos = 0
            # Authenticate the final segment now, so truncation or appended bytes fail at open.
            self._load(self._segments.n_segments - 1)
        except BaseException:
            self._fh.close()
            raise

    def _load(self, index: int) -> None:
        if index != self._cached:
            self._cached = -1
            view = self._segments.read_segment(index, self._buf)
            if view.obj is not self._buf:
                self._buf[: len(view)] = view
            self._cached_len = len(view)
            self._cached = index

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._segments.size + offset
        else:
            raise PrivacyInputError(
                f"The 'whence' argument of seek on a decrypted stream must be 0 (SEEK_SET), "
                f"1 (SEEK_CUR) or 2 (SEEK_END); got {whence!r}."
            )
        if pos < 0:
            raise PrivacyInputError(
                f"seek on a decrypted stream would move before its start (position {pos}); "
                "give an offset that keeps the position at 0 or after."
            )
        self._pos = pos
        return pos

    def readinto(self, b: Any) -> int:
        if self.closed:
            raise PrivacyInputError(
                "I/O operation on closed file: this decrypted stream was closed; open it again "
                "with open_decrypted(path, ring)."
            )
        mv = memoryview(b).cast("B")
        done = 0
        while done < len(mv) and self._pos < self._segments.size:
            index, off = divmod(self._pos, self._segments.seg)
            self._load(index)
            k = min(len(mv) - done, self._cached_len - off)
            mv[done : done + k] = memoryview(self._buf)[off : off + k]
            done += k
            self._pos += k
        return done

    def close(self) -> None:
        if not self.closed:
            self._fh.close()
            self._buf[:] = bytes(len(self._buf))
        super().close()

    @property
    def size(self) -> int:
        return self._segments.size


def open_decrypted(path: str | os.PathLike[str], opener: Any) -> io.BufferedReader:
    """Open an encrypted file (either format version) for reading its plaintext, in constant memory.

    ``opener`` is what :func:`decrypt_file` accepts: a key ring, or an identity named by a
    stanza of a version-2 file. The stream is seekable (Parquet readers need that): each read
    decrypts and authenticates only the segments it touches, one at a time. The final segment
    is authenticated at open, so a truncated or extended file fails at once. The opening is
    recorded in the audit trail (action ``decrypt``, ``streaming`` true), failures included.

    Examples
    --------
    >>> import pandas as pd
    >>> with open_decrypted("data.csv.enc", ring) as fh:  # doctest: +SKIP
    ...     df = pd.read_csv(fh)
    """
    params: dict[str, Any] = {"streaming": True, "via": check_opener(opener, "open_decrypted")}
    enforce("decrypt", path)  # an access policy in force must grant it (no-op without one)
    with _recorded("decrypt", Path(path), params):
        raw = _DecryptingRaw(path, opener, params)
    try:
        record("decrypt", resource=Path(path), params=params)
    except BaseException:
        raw.close()
        raise
    return io.BufferedReader(raw, buffer_size=raw._segments.seg)
