"""The HTML report in a real browser: headless Chromium loads it from ``file://`` with no
console messages (scripts, blocked resources, CSP violations all log there), the rendered
DOM has the report's content, and a screenshot shows the inlined figures.

Needs ``chromium`` (``make browser`` installs it; CI runs it). A missing browser is a
failure, not a skip, so CI cannot pass without having run this.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from forecaster.pipeline.report import FIGURE_FILES, write_report

from test_report import HOSTILE_TARGET, make_run, parse  # tests/reports/test_report.py

pytestmark = pytest.mark.browser

WINDOW = (1280, 2000)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]


def chromium() -> str:
    for candidate in ("chromium", "chromium-browser", "/usr/bin/chromium"):
        path = shutil.which(candidate)
        if path:
            return path
    pytest.fail("headless Chromium is required for the browser test of the HTML report but "
                "was not found (looked for `chromium`, `chromium-browser`, /usr/bin/chromium). "
                "Install it with `make browser` or `apt-get install -y chromium`.",
                pytrace=False)


def run_chromium(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    profile.mkdir()
    cmd = [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"chromium exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def _open(tmp_path: Path, html_path: Path):
    url = html_path.resolve().as_uri()
    dom = run_chromium(tmp_path, url, "--dump-dom")
    shot = tmp_path / "screenshot.png"
    screen = run_chromium(tmp_path, url, f"--screenshot={shot}",
                          f"--window-size={WINDOW[0]},{WINDOW[1]}")
    return dom, screen, shot


def _assert_screenshot(shot: Path) -> np.ndarray:
    from matplotlib.image import imread

    assert shot.is_file(), "chromium wrote no screenshot"
    image = imread(shot)[..., :3]
    assert image.shape[:2] == (WINDOW[1], WINDOW[0])
    assert float(image.std()) > 0.05, "screenshot is blank"
    assert (image < 0.9).mean() > 0.02, "screenshot is (almost) all white"
    # The forecast line/bands colour exists only inside the inlined PNGs: an image rendered.
    blue = np.array([0x1F, 0x77, 0xB4]) / 255.0
    assert (np.abs(image - blue).max(axis=-1) < 0.06).sum() > 200, "no figure visible"
    return image


def test_console_canary_is_detected(tmp_path):
    """The console scan works: a page that logs an error is caught."""
    page = tmp_path / "canary.html"
    page.write_text('<!DOCTYPE html><title>c</title><script>console.error("canary-42")</script>')
    proc = run_chromium(tmp_path, page.as_uri(), "--dump-dom")
    assert any("canary-42" in line for line in console_messages(proc.stderr)), proc.stderr[-2000:]


def test_report_renders_in_chromium(tmp_path):
    run_dir = make_run(tmp_path / "runs")
    html_path = write_report(run_dir, tmp_path / "report")
    dom, screen, shot = _open(tmp_path, html_path)
    assert console_messages(dom.stderr) == [], console_messages(dom.stderr)
    assert console_messages(screen.stderr) == [], console_messages(screen.stderr)

    doc = parse(dom.stdout)
    text = " ".join(doc.text)
    assert "<title>Forecast report — air_passengers.csv</title>" in dom.stdout
    assert "Leaderboard (backtest)" in text and "seasonal_naive" in text
    imgs = [attrs for tag, attrs in doc.tags if tag == "img"]
    assert len(imgs) == len(FIGURE_FILES)
    assert all(img["src"].startswith("data:image/png;base64,") for img in imgs)
    _assert_screenshot(shot)


def test_hostile_panel_report_renders_without_scripts(tmp_path):
    run_dir = make_run(tmp_path / "runs", panel=True, hostile=True)
    html_path = write_report(run_dir, tmp_path / "report")
    dom, screen, shot = _open(tmp_path, html_path)
    assert console_messages(dom.stderr) == [], console_messages(dom.stderr)
    assert console_messages(screen.stderr) == [], console_messages(screen.stderr)
    doc = parse(dom.stdout)
    assert not [tag for tag, _ in doc.tags if tag == "script"]
    assert HOSTILE_TARGET in " ".join(doc.text)  # shown as text, not interpreted
    assert "Showing 9 of 22 series" in dom.stdout
    _assert_screenshot(shot)
