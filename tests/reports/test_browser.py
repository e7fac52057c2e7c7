"""A real headless Chromium opens the reports: sections present, no console errors, no network
requests, a screenshot taken.

Needs Playwright's Python package and the system browser (Debian packages ``chromium`` and
``chromium-driver``, installed by ``.ci/run``); skipped with the reason when either is absent.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from auditkit.reports._html import render_html

from .conftest import build_report

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("AUDITKIT_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser_env():
    from playwright import sync_api  # a test dependency: missing, the run fails

    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)) and not shutil.which(
        "chromium"
    ):
        if os.environ.get("AUDITKIT_REQUIRE_BROWSER"):  # set by .ci/run, which installs Chromium
            pytest.fail(f"AUDITKIT_REQUIRE_BROWSER is set but there is no Chromium at {CHROMIUM}")
        pytest.skip(
            f"no Chromium at {CHROMIUM} (install the Debian packages chromium and chromium-driver)"
        )
    return sync_api


def _open(sync_api, html_path: Path, shot: Path, profile: Path) -> dict:
    """Open ``html_path`` in a fresh profile; return what the page did."""
    console_errors: list[str] = []
    page_errors: list[str] = []
    requests: list[str] = []
    page_url = html_path.resolve().as_uri()
    with sync_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            offline=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = ctx.new_page()
            page.on(
                "console", lambda m: console_errors.append(m.text) if m.type == "error" else None
            )
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            ctx.on("request", lambda r: requests.append(r.url))
            page.goto(page_url, wait_until="load")
            page.wait_for_timeout(300)
            info = page.evaluate(
                """() => ({
                    ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
                    h2: Array.from(document.querySelectorAll('h2')).map(e => e.textContent.trim()),
                    scripts: document.querySelectorAll('script').length,
                    svgs: document.querySelectorAll('svg').length,
                    findings: document.querySelectorAll('article.finding').length,
                    bodyText: document.body.innerText,
                    resources: performance.getEntriesByType('resource').map(e => e.name),
                })"""
            )
            page.screenshot(path=str(shot), full_page=True)
        finally:
            ctx.close()
    other = [u for u in requests if u != page_url]
    return {**info, "console_errors": console_errors, "page_errors": page_errors, "requests": other}


def _check(info: dict, shot: Path) -> None:
    assert info["console_errors"] == [], info["console_errors"]
    assert info["page_errors"] == [], info["page_errors"]
    assert info["requests"] == [] and info["resources"] == [], (info["requests"], info["resources"])
    assert info["scripts"] == 0
    for anchor in ("cover", "summary", "scope", "regulation-index", "limitations", "appendix"):
        assert anchor in info["ids"], anchor
    for heading in (
        "Executive summary",
        "Scope and method",
        "Regulation index",
        "Limitations",
        "Appendix",
    ):
        assert any(h.startswith(heading) for h in info["h2"]), heading
    assert "not legal advice" in info["bodyText"]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


@pytest.mark.slow
def test_hostile_report_in_chromium(browser_env, tmp_path: Path) -> None:
    report = build_report(hostile=True)
    html = tmp_path / "report.html"
    html.write_bytes(render_html(report))
    shot = tmp_path / "hostile.png"
    info = _open(browser_env, html, shot, tmp_path / "profile")
    _check(info, shot)
    assert info["findings"] == len(report.findings)
    # the hostile text is shown literally
    assert "<script>alert(1)</script>" in info["bodyText"] and "{{ x }}" in info["bodyText"]
    for s in report.sections:
        assert f"section-{s.id.replace('_', '-')}" in info["ids"]


@pytest.mark.slow
def test_demo_report_in_chromium(browser_env, demo_run: Path, tmp_path: Path) -> None:
    import json

    report_dir = demo_run / "report"
    doc = json.loads((report_dir / "report.json").read_text())
    shot = Path(os.environ.get("AUDITKIT_SCREENSHOT_DIR", tmp_path)) / "demo-report.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    info = _open(browser_env, report_dir / "report.html", shot, tmp_path / "profile")
    _check(info, shot)
    for s in doc["sections"]:
        assert any(h.startswith(s["title"]) for h in info["h2"]), s["title"]
    assert info["findings"] == sum(len(s["findings"]) for s in doc["sections"])
