"""The report: figures and the self-contained HTML page, from hand-written run directories.

``make_run`` writes a realistic run directory per docs/run-format.md (no training): the
air-passengers series, or a panel of 22 monthly series. The browser test imports it too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecaster.data.panel import TimeAxis
from forecaster.errors import ArtifactError, RunNotFoundError
from forecaster.pipeline.report import FIGURE_FILES, rnn_model_name, write_report
from forecaster.runs.forecast_state import Preprocessing, SeriesState
from forecaster.reports import diagnostics as D, figures as F

REPO = Path(__file__).resolve().parents[2]
AIR = REPO / "data" / "air_passengers.csv"
HOSTILE_TARGET = '<script>alert(1)</script> "quotes" & ampersands $x$'
HOSTILE_ID = '<script>alert(1)</script> id "q" & co'

# --------------------------------------------------------------------------- run builder


def _air_passengers() -> pd.Series:
    frame = pd.read_csv(AIR, parse_dates=["month"])
    return pd.Series(frame["passengers"].to_numpy(float), index=frame["month"])


def _panel_series(n: int, length: int = 96, seed: int = 0) -> dict[str, pd.Series]:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2016-01-01", periods=length, freq="MS")
    out = {}
    for i in range(n):
        level = 20 * 1.35**i
        t = np.arange(length)
        values = level * (1 + 0.004 * t) * (1 + 0.15 * np.sin(2 * np.pi * t / 12 + i))
        values += rng.normal(scale=0.03 * level, size=length)
        out[f"store_{i + 1:02d}"] = pd.Series(values, index=index)
    return out


def make_run(root: Path, *, panel: bool = False, hostile: bool = False, model: str = "tanh_cell",
             leaderboard_rnn_name: str | None = None) -> Path:
    """Write a complete run directory under ``root`` and return its path."""
    if panel:
        series = _panel_series(22)
        target, time_col, id_col = "sales", "month", "store"
    else:
        series = {"passengers": _air_passengers()}
        target, time_col, id_col = "passengers", "month", None
    if hostile:
        target = HOSTILE_TARGET
        series = {(HOSTILE_ID if i == 0 else "NA" if i == 1 else f'{sid} <b>&"')
                  if panel or i == 0 else sid: s for i, (sid, s) in enumerate(series.items())}
        if panel:  # make the hostile series the largest so it is drawn
            first = next(iter(series))
            series[first] = series[first] * 100
    run_id = "20261125-120000-" + ("panel" if panel else "air")
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    window, horizon, season = 24, 12, 12
    rng = np.random.default_rng(1)
    rnn_name = leaderboard_rnn_name or model

    records, pre_series, bt_rows = [], [], []
    models = {rnn_name: 0.04, "seasonal_naive": 0.07, "naive": 0.12, "drift": 0.11,
              "mean": 0.25, "ridge": 0.06}
    for sid, s in series.items():
        values = s.to_numpy()
        ctx = max(window, 3 * season)
        pre_series.append(SeriesState(
            id=sid, mean=float(values.mean()), scale=float(values.std()), length=len(s),
            context_start=s.index[-ctx],
            context=np.array([round(float(v), 3) for v in values[-ctx:]]),
            lam=[0.0, 1.0, 0.25][len(pre_series) % 3]))
        future = pd.date_range(s.index[-1] + pd.offsets.MonthBegin(1), periods=horizon, freq="MS")
        point = values[-season:] * 1.06
        for step, (ts, f) in enumerate(zip(future, point), start=1):
            w80, w95 = 0.05 * f * np.sqrt(step), 0.08 * f * np.sqrt(step)
            records.append({"series_id": sid, "timestamp": ts.strftime("%Y-%m-%d"), "step": step,
                            "forecast": f, "lower_80": f - w80, "upper_80": f + w80,
                            "lower_95": f - w95, "upper_95": f + w95})
        for fold in range(3):
            cut = len(s) - horizon * (3 - fold)
            for name, noise in models.items():
                for step in range(1, horizon + 1):
                    actual = values[cut + step - 1]
                    bt_rows.append({
                        "model": name, "fold": fold, "series_id": sid,
                        "cutoff": s.index[cut - 1].strftime("%Y-%m-%d"),
                        "timestamp": s.index[cut + step - 1].strftime("%Y-%m-%d"), "step": step,
                        "actual": actual,
                        "forecast": actual * (1 + rng.normal(scale=noise * (1 + step / 12))),
                    })
    backtest = pd.DataFrame(bt_rows)
    backtest.to_csv(run_dir / "backtest.csv", index=False)
    pd.DataFrame(records).to_csv(run_dir / "forecast.csv", index=False)

    board = []
    for name in models:
        rows = backtest[backtest["model"] == name]
        err = rows["actual"] - rows["forecast"]
        board.append({
            "model": name, "mae": float(err.abs().mean()), "rmse": float(np.sqrt((err**2).mean())),
            "mape": float((err.abs() / rows["actual"].abs()).mean()),
            "smape": float((2 * err.abs() / (rows["actual"].abs() + rows["forecast"].abs())).mean()),
            "mase": float(models[name] * 9.0), "coverage_80": 0.79, "width_80": 41.5,
            "coverage_95": None, "width_95": None,
        })
    board.sort(key=lambda r: r["mase"])
    metrics = {"protocol": {"horizon": horizon, "folds": 3, "step": horizon, "window": "expanding",
                            "train_size": None, "refit": True, "min_train": 2},
               "season": season, "levels": [80, 95], "leaderboard": board,
               "best": board[0]["model"],
               "notes": ["95% intervals need at least 19 calibration residuals per step"]}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))

    epochs = 64
    loss = 1.2 * np.exp(-np.arange(epochs) / 9) + 0.008
    val = 1.4 * np.exp(-np.arange(epochs) / 10) + 0.02 + 0.0004 * np.maximum(np.arange(epochs) - 39, 0)
    pd.DataFrame({"epoch": np.arange(1, epochs + 1), "loss": loss, "val_loss": val}).to_csv(
        run_dir / "history.csv", index=False)
    norms = (0.8 ** np.arange(window)[::-1] * 0.05).tolist()
    (run_dir / "diagnostics.json").write_text(json.dumps(
        {"cell": model, "window": window, "gradient_norms": norms, "batch_size": 32}))

    first = next(iter(series.values()))
    n_rows = sum(len(s) for s in series.values())
    file_name = ("evil<script>alert(1)</script>&.csv" if hostile
                 else "store_sales.csv" if panel else "air_passengers.csv")
    (run_dir / "data.json").write_text(json.dumps({
        "path": f"data/{file_name}", "name": file_name, "sha256": "ab" * 32, "bytes": 2367,
        "rows": n_rows, "series": len(series), "frequency": "MS",
        "start": first.index[0].strftime("%Y-%m-%d"), "end": first.index[-1].strftime("%Y-%m-%d"),
        "target": target, "time_col": time_col, "id_col": id_col,
        "notes": ["1 short gap interpolated"] if panel else []}))
    # written by the class real runs use, so the fixture cannot drift from the format
    (run_dir / "preprocessing.json").write_text(json.dumps(Preprocessing(
        axis=TimeAxis("datetime", "MS"), target=target, time_col=time_col, id_col=id_col,
        window=window, horizon=horizon, season=season, level=season, levels=[80, 95],
        series=pre_series, scaling="auto",
        conformal={"80": [0.3] * horizon, "95": [0.5] * horizon}).to_json()))
    (run_dir / "config.toml").write_text(
        f'[data]\ntarget = {json.dumps(target)}\nfreq = ""\n\n[model]\nkind = "{model}"\n'
        "units = 32\nwindow = 24\nhorizon = 12\n\n[training]\nepochs = 300\nseed = 42\n")
    (run_dir / "run.json").write_text(json.dumps({
        "id": run_id, "created": "2026-11-25T12:00:00+00:00", "forecaster_version": "0.1.0",
        "model": model, "device": "CPU", "seed": 42, "window": window, "horizon": horizon,
        "epochs_run": epochs, "best_epoch": 40, "train_seconds": 73.4, "val_loss": float(val[39]),
        "keras_backend": "tensorflow", "tensorflow_version": "2.21.0"}))
    return run_dir


# ------------------------------------------------------------------------------- helpers


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> _Collector:
    parser = _Collector()
    parser.feed(html)
    parser.close()
    return parser


def assert_png(path: Path, size: tuple[int, int]) -> None:
    from matplotlib.image import imread

    assert path.is_file(), f"{path.name} was not written"
    image = imread(path)
    assert image.shape[1] == size[0] and image.shape[0] == size[1], (path.name, image.shape)
    rgb = image[..., :3]
    assert float(rgb.std()) > 0.01, f"{path.name} is blank"
    assert (rgb < 0.95).mean() > 0.005, f"{path.name} is (almost) all white"


def assert_self_contained(html: str, doc: _Collector) -> None:
    for tag, attrs in doc.tags:
        for attr in ("src", "href", "srcset", "action", "poster", "data"):
            value = attrs.get(attr)
            if value is None:
                continue
            assert not value.startswith("//"), (tag, attr, value[:60])
            assert "://" not in value, (tag, attr, value[:60])
            assert value.startswith("data:image/png;base64,") or value == "forecast.csv", (
                tag, attr, value[:60])
        assert tag not in ("script", "link", "iframe", "object", "embed", "base"), tag
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower()
    assert "url(" not in html.lower()
    assert "@import" not in html.lower()


def _imgs(doc: _Collector) -> list[dict]:
    return [attrs for tag, attrs in doc.tags if tag == "img"]


FIGURE_SIZE = (F.FIGSIZE[0] * F.DPI, F.FIGSIZE[1] * F.DPI)
PANEL_SIZE = (F.PANEL_FIGSIZE[0] * F.DPI, F.PANEL_FIGSIZE[1] * F.DPI)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    root = tmp_path_factory.mktemp("single")
    run_dir = make_run(root / "runs")
    return run_dir, write_report(run_dir, root / "report")


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    root = tmp_path_factory.mktemp("panel")
    run_dir = make_run(root / "runs", panel=True, model="lstm", leaderboard_rnn_name="rnn")
    return run_dir, write_report(run_dir, root / "report")


# --------------------------------------------------------------------------------- tests


def test_single_series_figures_exist_decode_and_are_not_blank(single):
    _, html_path = single
    assert html_path.name == "report.html"
    for filename, *_ in FIGURE_FILES.values():
        assert_png(html_path.parent / filename, FIGURE_SIZE)


def test_single_series_html_is_self_contained_with_one_img_per_figure(single):
    run_dir, html_path = single
    html = html_path.read_text(encoding="utf-8")
    doc = parse(html)
    assert_self_contained(html, doc)
    imgs = _imgs(doc)
    assert len(imgs) == len(FIGURE_FILES)
    assert all(img["src"].startswith("data:image/png;base64,") for img in imgs)
    assert all(img.get("alt") for img in imgs)
    assert len({img["src"] for img in imgs}) == len(imgs)
    assert html.count("<figcaption>") == len(FIGURE_FILES)
    text = " ".join(doc.text)
    for word in ("air_passengers.csv", "ab" * 32, "monthly (MS)", "1949-01-01 – 1960-12-01",
                 "TanhCell (Elman RNN)", "1 min 13 s", "CPU", "42", "kind = \"tanh_cell\""):
        assert word in text, word


def test_single_series_leaderboard_table_lists_every_model_and_marks_the_best(single):
    run_dir, html_path = single
    metrics = json.loads((run_dir / "metrics.json").read_text())
    doc = parse(html_path.read_text(encoding="utf-8"))
    rows = [attrs for tag, attrs in doc.tags if tag == "tr" and "class" in attrs]
    html = html_path.read_text(encoding="utf-8")
    table = html[html.index('<table class="grid leaderboard">'):]
    table = table[: table.index("</table>")]
    for row in metrics["leaderboard"]:
        assert F.model_label(row["model"]) in table
    assert table.count("★ best") == 1
    assert table.count('class="tag rnn"') == 1
    best_rows = [r for r in rows if "best" in r["class"].split()]
    assert len(best_rows) == 1
    # MASE, sMAPE as a percentage, coverage as a percentage
    assert f"{metrics['leaderboard'][0]['mase']:.4g}" in table
    assert "79.0\u00a0%" in table and "n/a" in table


def test_forecast_table_and_csv_copy(single):
    run_dir, html_path = single
    copy = html_path.parent / "forecast.csv"
    assert copy.read_bytes() == (run_dir / "forecast.csv").read_bytes()
    html = html_path.read_text(encoding="utf-8")
    assert '<a href="forecast.csv">' in html
    table = html[html.index('<table class="grid forecast">'):]
    table = table[: table.index("</table>")]
    assert table.count("<tr>") == 1 + 12  # header + the 12 forecast rows
    assert "1961-01-01" in table and "upper_95" in table


def test_the_scale_of_each_series_is_shown(single, panel):
    assert ("<td>auto: log for passengers (λ = 1 − how fast the spread grows with the "
            "level)</td>" in single[1].read_text(encoding="utf-8"))
    assert ("<td>auto: log for 8 series; Box-Cox (λ 0.25) for 7 series; standard for 7 "
            "series (λ = 1 − how fast the spread grows with the level)</td>"
            in panel[1].read_text(encoding="utf-8"))


def test_panel_figures_and_grid_note(panel):
    _, html_path = panel
    out = html_path.parent
    assert_png(out / "forecast.png", PANEL_SIZE)
    for key, (filename, *_rest) in FIGURE_FILES.items():
        if key != "forecast":
            assert_png(out / filename, FIGURE_SIZE)
    html = html_path.read_text(encoding="utf-8")
    doc = parse(html)
    assert_self_contained(html, doc)
    assert len(_imgs(doc)) == len(FIGURE_FILES) + 22  # the grid's figures + every series
    assert "Showing 9 of 22 series" in html
    assert "1 short gap interpolated" in html
    table = html[html.index('<table class="grid forecast">'):]
    table = table[: table.index("</table>")]
    assert table.count("<tr>") == 1 + 20
    assert "First 20 of 264 rows" in html


def test_panel_leaderboard_highlights_rnn_named_rnn(panel):
    _, html_path = panel
    html = html_path.read_text(encoding="utf-8")
    table = html[html.index('<table class="grid leaderboard">'):]
    assert table[: table.index("</table>")].count('class="tag rnn"') == 1


def test_select_series_takes_the_largest_by_mean_level():
    pre = {"series": [{"id": str(i), "context": [float(i)] * 3} for i in range(22)]}
    chosen = F.select_series(pre)
    assert [s["id"] for s in chosen] == [str(i) for i in range(21, 12, -1)]


def test_hostile_strings_are_escaped_and_no_script_tag_exists(tmp_path):
    for panel in (False, True):
        run_dir = make_run(tmp_path / f"runs{panel}", panel=panel, hostile=True)
        html_path = write_report(run_dir, tmp_path / f"report{panel}")
        html = html_path.read_text(encoding="utf-8")
        doc = parse(html)
        assert_self_contained(html, doc)
        assert not [tag for tag, _ in doc.tags if tag in ("script", "b")]
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&#34;quotes&#34; &amp; ampersands" in html
        assert "evil&lt;script&gt;alert(1)&lt;/script&gt;&amp;.csv" in html
        if panel:
            assert "&lt;script&gt;alert(1)&lt;/script&gt; id &#34;q&#34; &amp; co" in html
            assert "<td>NA</td>" in html  # a series called "NA" is not missing
        assert HOSTILE_TARGET in " ".join(doc.text)  # escaped, so it reads back verbatim
        assert len(_imgs(doc)) == len(FIGURE_FILES) + (22 if panel else 0)  # every series
        for filename, *_ in FIGURE_FILES.values():
            assert (html_path.parent / filename).is_file()


def test_missing_optional_files_skip_their_figures_with_a_note(tmp_path):
    run_dir = make_run(tmp_path / "runs")
    out = tmp_path / "report"
    write_report(run_dir, out)  # a first full report leaves every PNG behind
    for name in ("history.csv", "diagnostics.json", "backtest.csv", "config.toml"):
        (run_dir / name).unlink()
    html_path = write_report(run_dir, out)
    html = html_path.read_text(encoding="utf-8")
    doc = parse(html)
    assert len(_imgs(doc)) == 2  # forecast and leaderboard
    assert "Figure “Training curves” skipped: history.csv not found in the run directory." in html
    assert "diagnostics.json not found in the run directory." in html
    assert "Figure “Residual diagnostics” skipped: backtest.csv not found" in html
    assert "config.toml not found in the run directory." in html
    for name in ("training.png", "gradients.png", "residuals.png", "horizon_error.png"):
        assert not (out / name).exists(), f"stale {name} left behind"
    assert (out / "forecast.png").exists() and (out / "leaderboard.png").exists()


def test_every_optional_file_missing_still_renders(tmp_path):
    run_dir = make_run(tmp_path / "runs")
    for name in ("history.csv", "diagnostics.json", "backtest.csv", "config.toml",
                 "forecast.csv", "metrics.json", "data.json"):
        (run_dir / name).unlink()
    html = write_report(run_dir, tmp_path / "out").read_text(encoding="utf-8")
    assert len(_imgs(parse(html))) == 0
    assert html.count('class="skipped"') == len(FIGURE_FILES) + 3  # + leaderboard, table, config


def test_unreadable_optional_file_is_a_note_not_a_crash(tmp_path):
    run_dir = make_run(tmp_path / "runs")
    (run_dir / "metrics.json").write_text("{not json")
    (run_dir / "history.csv").write_text("when,what\n1,2\n")
    html = write_report(run_dir, tmp_path / "out").read_text(encoding="utf-8")
    assert "metrics.json could not be read" in html
    assert "history.csv could not be read (missing column(s) epoch, loss" in html


@pytest.mark.parametrize("name", ["run.json", "preprocessing.json"])
def test_required_files_raise_artifact_error(tmp_path, name):
    run_dir = make_run(tmp_path / "runs")
    (run_dir / name).unlink()
    with pytest.raises(ArtifactError, match=f"must contain {name}. Got no such file"):
        write_report(run_dir, tmp_path / "out")


def test_corrupt_preprocessing_raises_artifact_error(tmp_path):
    run_dir = make_run(tmp_path / "runs")
    (run_dir / "preprocessing.json").write_text('{"series": []}')
    with pytest.raises(ArtifactError, match=r"preprocessing.json failed validation: "
                                            r"unsupported format None"):
        write_report(run_dir, tmp_path / "out")
    data = json.loads((make_run(tmp_path / "again") / "preprocessing.json").read_text())
    (run_dir / "preprocessing.json").write_text(json.dumps({**data, "series": []}))
    with pytest.raises(ArtifactError, match="`series` must be a non-empty list"):
        write_report(run_dir, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # a bad run writes nothing
    (run_dir / "preprocessing.json").write_text("[1, 2")
    with pytest.raises(ArtifactError, match=r"preprocessing.json in run .* is not valid JSON"):
        write_report(run_dir, tmp_path / "out")


def test_missing_run_directory(tmp_path):
    with pytest.raises(RunNotFoundError, match="run directory must exist"):
        write_report(tmp_path / "nope", tmp_path / "out")


def test_report_into_the_run_directory_itself(tmp_path):
    run_dir = make_run(tmp_path / "runs")
    html_path = write_report(run_dir, run_dir)
    assert html_path == run_dir / "report.html"
    assert (run_dir / "forecast.csv").stat().st_size > 0


def test_integer_time_axis(tmp_path):
    run_dir = make_run(tmp_path / "runs")
    pre = json.loads((run_dir / "preprocessing.json").read_text())
    pre["axis"] = {"kind": "integer", "freq": None, "step": 1, "tz": None}
    s = pre["series"][0]
    s["context_start"] = s["length"] - len(s["context"]) + 1
    (run_dir / "preprocessing.json").write_text(json.dumps(pre))
    fc = pd.read_csv(run_dir / "forecast.csv")
    fc["timestamp"] = np.arange(len(fc)) + s["length"] + 1
    fc.to_csv(run_dir / "forecast.csv", index=False)
    out = tmp_path / "out"
    write_report(run_dir, out)
    assert_png(out / "forecast.png", FIGURE_SIZE)


def test_pooled_acf_pairs_only_within_a_path():
    values = np.array([1.0, -1.0, 1.0, -1.0, 5.0, 5.0])
    groups = np.array(["a", "a", "a", "a", "b", "b"])
    acf = D.pooled_acf(values, groups, 2)
    centred = values - values.mean()
    denom = np.sum(centred**2)
    lag1 = (centred[0] * centred[1] + centred[1] * centred[2] + centred[2] * centred[3]
            + centred[4] * centred[5]) / denom
    lag2 = (centred[0] * centred[2] + centred[1] * centred[3]) / denom
    np.testing.assert_allclose(acf, [lag1, lag2])


def test_rnn_model_name():
    assert rnn_model_name("lstm", ["naive", "lstm"]) == "lstm"
    assert rnn_model_name("lstm", ["naive", "rnn"]) == "rnn"
    assert rnn_model_name("gru", ["naive", "my_gru_2"]) == "my_gru_2"
    assert rnn_model_name("gru", ["naive", "mean"]) is None


def test_plain_escapes_mathtext():
    assert F.plain("cost in $ and $x$") == r"cost in \$ and \$x\$"
    assert len(F.plain("x" * 100, 20)) == 20


def test_report_is_fast_and_never_imports_tensorflow(tmp_path):
    run_dir = make_run(tmp_path / "runs", panel=True)
    code = (
        "import sys, time\n"
        "start = time.perf_counter()\n"
        "from forecaster.pipeline.report import write_report\n"
        f"write_report({str(run_dir)!r}, {str(tmp_path / 'out')!r})\n"
        "print(round(time.perf_counter() - start, 2))\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "assert not bad, bad\n"
        "import matplotlib\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "report.html").is_file()
    assert time.perf_counter() - started < 60  # "seconds", with headroom for a loaded CI box


def test_evaluation_directory_gets_an_evaluation_report(tmp_path):
    """`forecast evaluate --report`: metrics.json + backtest.csv only (no run.json)."""
    run_dir = make_run(tmp_path / "runs", leaderboard_rnn_name="rnn")
    for name in list(run_dir.iterdir()):
        if name.name not in ("metrics.json", "backtest.csv"):
            name.unlink()
    html_path = write_report(run_dir, tmp_path / "out")
    html = html_path.read_text(encoding="utf-8")
    doc = parse(html)
    assert_self_contained(html, doc)
    assert "Evaluation report" in html and "Evaluation (no trained run)" in html
    assert len(_imgs(doc)) == 3  # leaderboard, horizon error, residuals
    for name in ("leaderboard.png", "horizon_error.png", "residuals.png"):
        assert_png(html_path.parent / name, FIGURE_SIZE)
    assert not (html_path.parent / "forecast.png").exists()


def test_unbounded_intervals_are_drawn_and_tabled_honestly(tmp_path):
    run_dir = make_run(tmp_path / "runs")
    fc = pd.read_csv(run_dir / "forecast.csv")
    fc["lower_95"], fc["upper_95"] = -np.inf, np.inf
    fc.to_csv(run_dir / "forecast.csv", index=False)
    html_path = write_report(run_dir, tmp_path / "out")
    html = html_path.read_text(encoding="utf-8")
    assert "−∞" in html and "+∞" in html
    assert_png(html_path.parent / "forecast.png", FIGURE_SIZE)


@pytest.mark.parametrize("ratio, word", [(1e-3, "vanishing"), (0.05, "decaying"), (1.0, "stable"),
                                         (20, "growing"), (1e4, "exploding")])
def test_gradient_verdict(ratio, word):
    assert D.gradient_verdict(ratio) == word


def test_malformed_forecast_timestamps_skip_only_that_figure(tmp_path):
    run_dir = make_run(tmp_path / "runs")
    fc = pd.read_csv(run_dir / "forecast.csv")
    fc["timestamp"] = "not a date"
    fc.to_csv(run_dir / "forecast.csv", index=False)
    html = write_report(run_dir, tmp_path / "out").read_text(encoding="utf-8")
    assert "Figure “Forecast with prediction intervals” skipped: its input (forecast.csv) " \
           "could not be drawn: ValueError" in html
    assert len(_imgs(parse(html))) == len(FIGURE_FILES) - 1


def test_cell_formatters_share_one_number_rule():
    from forecaster.reports.html import fmt_number, fmt_percent, fmt_seconds

    assert fmt_seconds(float("inf")) == "n/a"  # used to raise OverflowError
    assert fmt_seconds(None) == fmt_percent(None) == fmt_number(None) == "n/a"
    assert fmt_number(1234567.0) == "1,234,567" and fmt_percent(0.134) == "13.4\u00a0%"
    assert fmt_seconds(73.4) == "1 min 13 s" and fmt_number("x") == "x"
