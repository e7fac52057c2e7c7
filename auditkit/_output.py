"""The report directory of a run: checked first, built aside, swapped into place whole.

A run never writes into its output directory ``out`` directly. Everything it produces
(artifacts of the checks, every report format, the signed manifest) goes into a staging
directory beside ``out``; only when all of it exists is the staging directory renamed to
``out`` (the previous ``out``, if any, is first renamed aside and removed afterwards). A reader
therefore sees the previous complete set or the new complete set, never a mixed or unsigned
one, and a run that fails leaves the previous report untouched and no partial files.

Because ``out`` is replaced as a whole, it must belong to auditkit: it is refused when it is or
holds one of the audit's inputs, or holds any file that an earlier run did not write there.
Each report directory carries :data:`MARKER`, a small JSON file listing what the run wrote.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from auditkit.atomic import _writer_gone
from auditkit.errors import OutputError

__all__ = ["MARKER", "ReportDir"]

#: The file that marks a directory as an auditkit report directory (and lists its files).
MARKER = ".auditkit-report"
_ASIDE = re.compile(r"^\.(?P<name>.+)\.auditkit-(?:staging|previous)\.(?P<pid>\d+)\.[^/]+$")


def _listing(root: Path) -> set[str]:
    """Every file and directory below ``root``, as POSIX paths relative to it."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        for name in (*dirnames, *filenames):
            out.add((rel / name).as_posix())
    return out


class ReportDir:
    """The output directory ``out`` of one run.

    >>> rd = ReportDir(out, inputs=[config, data])   # doctest: +SKIP
    >>> stage = rd.begin()        # refuses a bad ``out``; returns where to write everything
    >>> ...                       # checks' artifacts, reports, manifest under ``stage``
    >>> rd.commit()               # swap into place (or rd.abort() on any failure)
    """

    def __init__(self, out: Path, inputs: list[Path]) -> None:
        self.out = Path(out)
        self.inputs = [Path(p) for p in inputs]
        self.stage: Path | None = None
        self._staged_at: Path | None = None  # kept after commit, for final_path

    # -- before anything runs --------------------------------------------------------------
    def check(self) -> None:
        """Refuse an ``out`` that is, or holds, an input, or holds files auditkit did not write."""
        out = self.out
        real = Path(os.path.realpath(out))
        for p in self.inputs:
            rp = Path(os.path.realpath(p))
            if rp == real or real in rp.parents:
                raise OutputError(
                    f"The output directory '{out}' holds the audit's input '{p.name}'; the run "
                    "replaces its output directory as a whole. Choose a directory of its own "
                    "with --out or [report] out."
                )
        if not out.exists():
            return
        if not out.is_dir():
            raise OutputError(
                f"The output path '{out}' is a file, not a directory. Choose a directory with "
                "--out or [report] out."
            )
        present = _listing(out)
        if not present:
            return
        owned = self._owned(out)
        if owned is None:
            raise OutputError(
                f"The output directory '{out}' holds {len(present)} files or folders that "
                "auditkit did not write; the run replaces its output directory as a whole. "
                "Choose a new or empty directory with --out or [report] out."
            )
        foreign = present - owned - {MARKER}
        if foreign:
            raise OutputError(
                f"The output directory '{out}' holds {len(foreign)} files or folders that the "
                "earlier auditkit run did not write there; the run replaces its output "
                "directory as a whole. Move them elsewhere, or choose another directory."
            )

    @staticmethod
    def _owned(out: Path) -> set[str] | None:
        marker = out / MARKER
        if not marker.is_file() or marker.is_symlink():
            return None
        try:
            doc = json.loads(marker.read_text(encoding="utf-8"))
            files = doc["files"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            return None
        owned = set()
        for f in files:  # each file and the folders above it
            parts = Path(f).parts
            owned |= {Path(*parts[: i + 1]).as_posix() for i in range(len(parts))}
        return owned

    def _sweep(self, parent: Path) -> None:
        """Remove staging and set-aside copies of this ``out`` left by runs that were killed."""
        if os.name != "posix":  # the liveness probe (os.kill(pid, 0)) is POSIX-only
            return
        with contextlib.suppress(OSError):
            for entry in parent.iterdir():
                m = _ASIDE.match(entry.name)
                if not m or m["name"] != self.out.name or entry.is_symlink() or not entry.is_dir():
                    continue
                if _writer_gone(int(m["pid"])):
                    shutil.rmtree(entry, ignore_errors=True)

    def begin(self) -> Path:
        """Check ``out``, then create and return the staging directory beside it."""
        self.check()
        parent = self.out.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self._sweep(parent)
            self.stage = self._staged_at = Path(tempfile.mkdtemp(
                prefix=f".{self.out.name}.auditkit-staging.{os.getpid()}.", dir=parent
            )).resolve()
        except OSError as exc:
            raise OutputError(
                f"The output directory '{self.out}' is not writable: cannot create it or a "
                f"staging directory beside it ({exc.__class__.__name__}). Choose another with "
                "--out or [report] out."
            ) from None
        return self.stage

    # -- after everything is written ---------------------------------------------------------
    def final_path(self, path: Path) -> Path:
        """Where ``path`` (under the staging directory) will be once committed."""
        if self._staged_at is None:
            raise OutputError(
                f"ReportDir.final_path() was called for '{path}' before begin(): the staging "
                "directory does not exist yet. Call begin() first."
            )
        p = Path(path)
        try:
            return self.out / p.resolve().relative_to(self._staged_at)
        except ValueError:
            return p

    def mark(self, *, also: tuple[str, ...] = ()) -> Path:
        """Write :data:`MARKER` into the staging directory, listing every file in it now plus
        ``also`` (files still to come, such as the signed manifest); returns its path.

        The runner marks before signing, so that the marker is covered by the signature.
        """
        assert self.stage is not None
        stage = self.stage
        files = {f for f in _listing(stage) if (stage / f).is_file() and f != MARKER}
        (stage / MARKER).write_text(
            json.dumps({"tool": "auditkit", "files": sorted(files | set(also))}, indent=1)
            + "\n", encoding="utf-8",
        )
        return stage / MARKER

    def commit(self) -> None:
        """Swap the staging directory into place (marking it first if :meth:`mark` was not
        called)."""
        assert self.stage is not None
        stage, out = self.stage, self.out
        owned = self._owned(stage)
        present = {f for f in _listing(stage) if (stage / f).is_file()} - {MARKER}
        if owned is None or not present <= owned:
            self.mark()
        self.check()  # nothing foreign appeared in `out` while the run was going
        aside = None
        if out.exists():
            aside = Path(tempfile.mkdtemp(
                prefix=f".{out.name}.auditkit-previous.{os.getpid()}.", dir=out.parent
            ))
            os.rename(out, aside / "previous")
        try:
            os.rename(stage, out)
        except BaseException:
            if aside is not None:
                os.rename(aside / "previous", out)
                shutil.rmtree(aside, ignore_errors=True)
            raise
        self.stage = None
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
        with contextlib.suppress(OSError):
            fd = os.open(out.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def abort(self) -> None:
        """Remove the staging directory; ``out`` stays as it was."""
        if self.stage is not None:
            shutil.rmtree(self.stage, ignore_errors=True)
            self.stage = None
