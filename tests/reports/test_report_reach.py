"""Issue 36, item 8: the report names the loss the run trained with, shows the same time
figure as `forecast train`'s summary, and reaches every series of a panel."""

from __future__ import annotations

import json
import re

import pytest

from forecaster.pipeline import report as R
from forecaster.reports import diagnostics as D
from tests.reports.test_report import _imgs, assert_self_contained, make_run, parse, write_report


@pytest.mark.parametrize("loss, label", [("huber", "Huber loss, scaled units"),
                                         ("mse", "MSE loss, scaled units"),
                                         ("mae", "MAE loss, scaled units"),
                                         (None, "loss, scaled units")])
def test_the_loss_axis_is_named_after_the_trained_loss(loss, label):
    assert D.loss_label(loss) == label


def test_the_training_figure_reads_the_runs_config_loss(tmp_path):
    run_dir = make_run(tmp_path / "runs")
    config = run_dir / "config.toml"
    config.write_text(config.read_text() + 'loss = "huber"\n')
    inputs = R._Inputs.load(run_dir)
    assert inputs.trained_loss == "huber"
    figure = D.training_figure(inputs.history, best_epoch=40, loss=inputs.trained_loss)
    assert figure.axes[0].get_ylabel().startswith("Huber loss, scaled units")


def test_the_report_and_the_cli_summary_show_the_same_time(tmp_path):
    from types import SimpleNamespace

    from forecaster.cli.summary import train_summary
    from forecaster.reports.html import fmt_seconds

    run_dir = make_run(tmp_path / "runs")
    record = json.loads((run_dir / "run.json").read_text())
    record["total_seconds"] = 40.3  # what `forecast train` recorded: the whole run
    (run_dir / "run.json").write_text(json.dumps(record))
    html = write_report(run_dir, tmp_path / "report").read_text(encoding="utf-8")
    assert re.search(r"<th[^>]*>time</th>\s*<td>40\.3 s \(final fit 1 min 13 s\)</td>", html)
    assert "training time" not in html
    # the CLI's summary formats the same recorded figure the same way
    info = {"rows": 1, "series": 1, "frequency": "MS", "start": "a", "end": "b", "target": "y"}
    result = SimpleNamespace(
        panel=SimpleNamespace(describe=lambda: info, covariates=None), season=12,
        season_origin="given", scaling=None, window=24, lookbacks=(), horizon=12,
        model="lstm", device="CPU", backend="tensorflow", distribute="none",
        epochs_run=50, best_epoch=40, val_loss=0.1, seconds=record["total_seconds"],
        leaderboard=None, deployed_reason="", run_dir=run_dir)
    cli_time = dict(train_summary(result))["time"]
    assert cli_time == fmt_seconds(40.3) == "40.3 s"
    assert f"<td>{cli_time} (final fit" in html


def test_every_series_of_a_22_series_panel_is_reachable(tmp_path):
    run_dir = make_run(tmp_path / "runs", panel=True)
    html_path = write_report(run_dir, tmp_path / "report")
    html = html_path.read_text(encoding="utf-8")
    doc = parse(html)
    assert_self_contained(html, doc)
    ids = [s["id"] for s in json.loads((run_dir / "preprocessing.json").read_text())["series"]]
    assert len(ids) == 22
    summaries = re.findall(r"<summary>(.*?)</summary>", html[html.index('id="every-series"'):])
    assert len(summaries) == 22
    alts = [img["alt"] for img in _imgs(doc) if img["alt"].startswith("History and forecast of")]
    assert alts == [f"History and forecast of {sid}" for sid in ids]
    assert len(list((html_path.parent / "series").glob("*.png"))) == 22
    assert "every series has its own figure under “Every series” below" in html


def test_a_single_series_has_no_series_list(tmp_path):
    html = write_report(make_run(tmp_path / "runs"), tmp_path / "report").read_text()
    assert 'id="every-series"' not in html


def test_a_very_large_panel_is_capped_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(R, "MAX_SERIES_FIGURES", 12)
    html = write_report(make_run(tmp_path / "runs", panel=True),
                        tmp_path / "report").read_text(encoding="utf-8")
    assert html.count('<details class="series-figure">') == 12
    assert "The first 12 of 22 series; forecast.csv holds every series." in html
