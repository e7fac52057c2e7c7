"""``write_reports``: every format rendered and checked before any file is written."""

from __future__ import annotations

import itertools
import os

import pytest

from auditkit.reports import (
    Renderer,
    Report,
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
def test_check_sees_the_model_before_anything_is_rendered_or_written(
    plain_report, tmp_path, formats, monkeypatch
):
    rendered: list[str] = []
    original = Renderer.load

    def load(self):
        render = original(self)

        def recording(report):
            rendered.append(self.name)
            return render(report)

        return recording

    monkeypatch.setattr(Renderer, "load", load)
    seen: list[Report] = []

    def check(report: Report) -> None:
        assert os.listdir(tmp_path) == [] and rendered == []
        seen.append(report)

    paths = write_reports(plain_report, tmp_path, formats, basename="audit", check=check)
    assert seen == [plain_report]
    assert rendered == formats
    assert sorted(paths) == sorted(formats)
    for fmt, path in paths.items():
        assert path == tmp_path / f"audit.{get_renderer(fmt).extension}"
        assert path.stat().st_size > 0
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in paths.values())


@pytest.mark.parametrize("formats", [*SUBSETS, ["pdf"], ["pdf", "html"]], ids="+".join)
def test_a_refused_report_writes_nothing_in_any_format(plain_report, tmp_path, formats):
    (tmp_path / "report.json").write_bytes(b"previous")

    def check(report: Report) -> None:
        raise Refused("no")

    with pytest.raises(Refused):
        write_reports(plain_report, tmp_path, formats, check=check)
    assert os.listdir(tmp_path) == ["report.json"]
    assert (tmp_path / "report.json").read_bytes() == b"previous"


@pytest.mark.parametrize("formats", SUBSETS, ids="+".join)
def test_a_failing_renderer_writes_nothing(plain_report, tmp_path, formats, monkeypatch):
    failing = formats[-1]
    original = Renderer.load

    def load(self):
        if self.name == failing:
            def broken(report):
                raise Refused(self.name)
            return broken
        return original(self)

    monkeypatch.setattr(Renderer, "load", load)
    with pytest.raises(Refused):
        write_reports(plain_report, tmp_path, formats)
    assert os.listdir(tmp_path) == []


def test_unknown_format_is_an_input_error_with_a_suggestion(plain_report, tmp_path):
    with pytest.raises(ReportInputError, match="Did you mean 'html'"):
        write_reports(plain_report, tmp_path, ["htm"])
    assert os.listdir(tmp_path) == []


def test_the_registry_refuses_a_silent_overwrite():
    with pytest.raises(ReportInputError, match="already registered"):
        register_renderer(Renderer("md", "md", "text/markdown", "x:y"))
    assert "md" in available_formats()
