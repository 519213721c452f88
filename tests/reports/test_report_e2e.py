"""The report from real runs: `train --report`, `report`, and `evaluate --report`."""

import re
from html.parser import HTMLParser

import pytest

from forecaster.cli import forecast
from tests.conftest import DATA, FAST

FIGURES = ["forecast.png", "leaderboard.png", "horizon_error.png", "training.png",
           "residuals.png", "gradients.png"]


class _Imgs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs).get("src", ""))


def _check_page(path, must_contain):
    html = path.read_text(encoding="utf-8")
    parser = _Imgs()
    parser.feed(html)
    series = 22 if "of 22 series" in must_contain else 0  # a panel: a figure for every series
    assert len(parser.srcs) == len(FIGURES) + series
    assert all(src.startswith("data:image/png;base64,") for src in parser.srcs)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    for text in must_contain:
        assert text in html
    return html


@pytest.mark.parametrize("data, extra, contains", [
    ("air_passengers.csv", [], ["passengers", "seasonal_naive", "air_passengers.csv"]),
    ("us_employment.csv", ["--id-col", "sector"], ["employees", "construction", "of 22 series"]),
])
def test_train_report_for_real_runs(runner, tmp_path, data, extra, contains):
    runs, reports = tmp_path / "runs", tmp_path / "reports"
    result = runner.invoke(forecast, ["train", str(DATA / data), "--runs-dir", str(runs),
                                      *FAST, *extra, "--report", "--reports-dir",
                                      str(reports)])
    assert result.exit_code == 0, result.stderr
    run_id = (runs / "latest").read_text().strip()
    out = reports / run_id
    assert f"report: {out / 'report.html'}" in result.output
    for name in FIGURES:
        assert (out / name).stat().st_size > 5_000, name
    assert (out / "forecast.csv").is_file()  # linked from the page
    html = _check_page(out / "report.html", contains)
    assert 'href="forecast.csv"' in html

    # re-rendering from the saved run alone gives the same page structure
    again = runner.invoke(forecast, ["report", "--runs-dir", str(runs), "--out",
                                      str(tmp_path / "again")])
    assert again.exit_code == 0, again.stderr
    _check_page(tmp_path / "again" / "report.html", contains)


def test_evaluate_report(runner, tmp_path):
    out, reports = tmp_path / "eval", tmp_path / "reports"
    result = runner.invoke(forecast, ["evaluate", str(DATA / "air_passengers.csv"),
                                      "--models", "naive,seasonal_naive,ridge", "--folds", "2",
                                      "--out", str(out), "--report", "--reports-dir",
                                      str(reports)])
    assert result.exit_code == 0, result.stderr
    page = reports / "eval" / "report.html"
    assert page.is_file()
    html = page.read_text(encoding="utf-8")
    assert "seasonal_naive" in html and "ridge" in html
    assert (reports / "eval" / "leaderboard.png").is_file()
