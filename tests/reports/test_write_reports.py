"""``write_reports``: every format rendered and checked before any file is written."""

from __future__ import annotations

import itertools
import os

import pytest

from auditkit.reports import (
    Renderer,
    ReportInputError,
    available_formats,
    get_renderer,
    register_renderer,
    write_reports,
)

TEXT_FORMATS = ("json", "md", "html")
SUBSETS = [list(c) for r in (1, 2, 3) for c in itertools.combinations(TEXT_FORMATS, r)]


class Refused(Exception):
    pass


@pytest.mark.parametrize("formats", SUBSETS, ids="+".join)
def test_check_sees_every_rendering_before_anything_is_written(plain_report, tmp_path, formats):
    seen: list[tuple[str, int]] = []

    def check(renderer: Renderer, data: bytes) -> None:
        assert os.listdir(tmp_path) == []  # nothing written while checks run
        seen.append((renderer.name, len(data)))

    paths = write_reports(plain_report, tmp_path, formats, basename="audit", check=check)
    assert [name for name, _ in seen] == formats
    assert all(size > 0 for _, size in seen)
    assert sorted(paths) == sorted(formats)
    for fmt, path in paths.items():
        assert path == tmp_path / f"audit.{get_renderer(fmt).extension}"
        assert path.stat().st_size == dict(seen)[fmt]
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in paths.values())


@pytest.mark.parametrize("formats", SUBSETS, ids="+".join)
@pytest.mark.parametrize("refuse", TEXT_FORMATS)
def test_a_refused_rendering_writes_nothing(plain_report, tmp_path, formats, refuse):
    (tmp_path / "report.json").write_bytes(b"previous")

    def check(renderer: Renderer, data: bytes) -> None:
        if renderer.name == refuse:
            raise Refused(renderer.name)

    if refuse in formats:
        with pytest.raises(Refused):
            write_reports(plain_report, tmp_path, formats, check=check)
        assert os.listdir(tmp_path) == ["report.json"]
        assert (tmp_path / "report.json").read_bytes() == b"previous"
    else:
        assert sorted(write_reports(plain_report, tmp_path, formats, check=check)) == sorted(formats)


def test_unknown_format_is_an_input_error_with_a_suggestion(plain_report, tmp_path):
    with pytest.raises(ReportInputError, match="Did you mean 'html'"):
        write_reports(plain_report, tmp_path, ["htm"])
    assert os.listdir(tmp_path) == []


def test_the_registry_refuses_a_silent_overwrite():
    with pytest.raises(ReportInputError, match="already registered"):
        register_renderer(Renderer("md", "md", "text/markdown", "x:y"))
    assert "md" in available_formats()
