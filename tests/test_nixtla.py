"""Nixtla's names, read and written (issue 36): new data, future covariates and server rows
in ``unique_id, ds, y`` whatever a run was trained on; forecasts in ``unique_id, ds,
<model>, <model>-lo-80, <model>-hi-80`` (``--output-format nixtla``, ``output_format=``);
``forecast evaluate --format nixtla`` writes cross-validation rows ``unique_id, ds,
cutoff, y, <model>, …``.  Each is read back and checked against the normal output."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from forecaster.cli import forecast
from forecaster.data.columns import ColumnNotFound
from forecaster.errors import ConfigError, DataError, Hint
from forecaster.pipeline.nixtla import cross_validation, read_with_run_columns, to_nixtla
from tests.conftest import DATA, FAST

NIXTLA = {"sector": "unique_id", "month": "ds", "employees": "y"}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A run trained on two sectors of us_employment (``month, sector, employees``), the
    same data in Nixtla's names beside it."""
    work = tmp_path_factory.mktemp("nixtla")
    frame = pd.read_csv(DATA / "us_employment.csv")
    frame = frame[frame["sector"].isin(frame["sector"].unique()[:2])]
    frame.to_csv(work / "own.csv", index=False)
    frame.rename(columns=NIXTLA).to_csv(work / "nixtla.csv", index=False)
    result = CliRunner().invoke(forecast, ["train", str(work / "own.csv"), "--runs-dir",
                                           str(work / "runs"), "--id-col", "sector",
                                           "--time-col", "month", "--target", "employees",
                                           *FAST])
    assert result.exit_code == 0, result.output
    return work


def _predict(work, *args) -> pd.DataFrame:
    out = work / f"fc-{len(list(work.glob('fc-*')))}.csv"
    result = CliRunner().invoke(forecast, ["predict", "--runs-dir", str(work / "runs"),
                                           "--horizon", "6", "-o", str(out), "--quiet",
                                           *args])
    assert result.exit_code == 0, result.output
    return pd.read_csv(out)


def _same_numbers(nixtla: pd.DataFrame, own: pd.DataFrame, model: str) -> None:
    """The Nixtla frame holds the normal frame's values under Nixtla's names."""
    levels = [c[len("lower_"):] for c in own.columns if c.startswith("lower_")]
    assert levels, "the run has intervals"
    names = ["unique_id", "ds", model] + [f"{model}-{side}-{lv}" for lv in levels
                                          for side in ("lo", "hi")]
    assert list(nixtla.columns) == names
    assert nixtla["unique_id"].tolist() == own["series_id"].tolist()
    assert nixtla["ds"].astype(str).tolist() == own["timestamp"].astype(str).tolist()
    np.testing.assert_array_equal(nixtla[model], own["forecast"])
    for lv in levels:
        np.testing.assert_array_equal(nixtla[f"{model}-lo-{lv}"], own[f"lower_{lv}"])
        np.testing.assert_array_equal(nixtla[f"{model}-hi-{lv}"], own[f"upper_{lv}"])


def test_predict_reads_and_writes_nixtla_names(work):
    own = _predict(work, "--data", str(work / "own.csv"))
    assert list(own.columns[:3]) == ["series_id", "timestamp", "forecast"]
    # new data in Nixtla's names, on a run trained on month/sector/employees: the same
    pd.testing.assert_frame_equal(_predict(work, "--data", str(work / "nixtla.csv")), own)
    nixtla = _predict(work, "--data", str(work / "nixtla.csv"), "--output-format", "nixtla")
    _same_numbers(nixtla, own, "rnn")
    _validate_with_utilsforecast(nixtla.assign(ds=pd.to_datetime(nixtla["ds"])), "rnn")


def test_predict_without_data_writes_nixtla_json_and_parquet(work):
    own = _predict(work)
    for fmt in ("json", "parquet"):
        out = work / f"nixtla.{fmt}"
        result = CliRunner().invoke(forecast, ["predict", "--runs-dir", str(work / "runs"),
                                               "--horizon", "6", "-o", str(out), "--quiet",
                                               "--output-format", "nixtla"])
        assert result.exit_code == 0, result.output
        back = pd.read_json(out, dtype=False) if fmt == "json" else pd.read_parquet(out)
        _same_numbers(back, own, "rnn")


def test_unknown_output_format_is_one_line(work):
    result = CliRunner().invoke(forecast, ["predict", "--runs-dir", str(work / "runs"),
                                           "--output-format", "darts"])
    assert result.exit_code == 2 and "Invalid value for '--output-format'" in result.output


def test_api_reads_and_writes_nixtla_names(work):
    from forecaster import load

    model = load(work / "runs")
    own = model.predict(6, new_data=pd.read_csv(work / "own.csv"))
    frame = pd.read_csv(work / "nixtla.csv")
    pd.testing.assert_frame_equal(model.predict(6, new_data=frame), own)
    pd.testing.assert_frame_equal(model.predict(6, new_data=work / "nixtla.csv"),
                                  model.predict(6, new_data=work / "own.csv"))
    nixtla = model.predict(6, new_data=frame, output_format="nixtla")
    _same_numbers(nixtla, own, "rnn")
    assert nixtla["ds"].dtype == own["timestamp"].dtype  # typed, as the normal frame
    with pytest.raises(ConfigError, match="`output_format` must be one of forecaster, "
                                          "nixtla. Got 'darts'."):
        model.predict(6, output_format="darts")
    # a column under neither name: the run's name is the one asked for
    with pytest.raises(DataError, match="the new data need the run's columns .*Got 'month'"):
        model.predict(6, new_data=frame.rename(columns={"ds": "when"}))


def test_server_takes_rows_in_nixtla_names(work):
    pytest.importorskip("fastapi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from forecaster.serve.app import create_app

    client = TestClient(create_app(work / "runs"), raise_server_exceptions=False)
    frame = pd.read_csv(work / "own.csv").groupby("sector").tail(30)
    answers = []
    for rows in (frame, frame.rename(columns=NIXTLA)):
        reply = client.post("/runs/latest/forecast",
                            json={"horizon": 6, "data": rows.to_dict("records")})
        assert reply.status_code == 200, reply.text
        answers.append(reply.json()["forecast"])
    assert answers[0] == answers[1]


def test_a_nixtla_name_that_is_another_run_column_is_refused():
    calls = []

    def read(**columns):
        calls.append(columns)
        raise ColumnNotFound("`target` must name a column.", hint=Hint("target", "", ""))

    with pytest.raises(DataError) as err:
        read_with_run_columns(read, {"target": "sales", "time_col": "ds", "id_col": None},
                              taken=("y",))
    assert str(err.value) == (
        "the new data: the run's target column 'sales' is missing, and Nixtla's name for "
        "it, 'y', is another of the run's columns, so it could mean either; name the "
        "column 'sales'.")
    assert len(calls) == 1


def test_a_column_missing_under_both_names_names_the_runs_column():
    def read(**columns):
        raise ColumnNotFound(f"missing {columns['time_col']!r}",
                             hint=Hint("time_col", "", ""))

    with pytest.raises(ColumnNotFound, match="missing 'month'"):
        read_with_run_columns(read, {"target": "y", "time_col": "month", "id_col": None})


def test_to_nixtla_renames_a_forecast_frame():
    frame = pd.DataFrame({"series_id": ["a"], "timestamp": [1], "forecast": [2.0],
                          "lower_97.5": [1.0], "upper_97.5": [3.0]})
    assert list(to_nixtla(frame, "theta").columns) == [
        "unique_id", "ds", "theta", "theta-lo-97.5", "theta-hi-97.5"]


def test_cross_validation_pivots_a_backtest():
    rows = [(m, fold, sid, cut, cut + step, step, 10.0 * fold + step, f + step)
            for m, f in (("naive", 0.5), ("theta", 0.25)) for fold, cut in ((1, 3), (2, 5))
            for sid in ("b", "a") for step in (1, 2)]
    frame = pd.DataFrame(rows, columns=["model", "fold", "series_id", "cutoff",
                                        "timestamp", "step", "actual", "forecast"])
    cv = cross_validation(frame, ["theta", "naive"])
    assert list(cv.columns) == ["unique_id", "ds", "cutoff", "y", "theta", "naive"]
    assert cv[["unique_id", "cutoff", "ds"]].values.tolist() == [
        ["a", 3, 4], ["a", 3, 5], ["a", 5, 6], ["a", 5, 7],
        ["b", 3, 4], ["b", 3, 5], ["b", 5, 6], ["b", 5, 7]]
    assert cv["y"].tolist() == [11.0, 12.0, 21.0, 22.0] * 2
    assert cv["naive"].tolist() == [1.5, 2.5] * 4
    assert cv["theta"].tolist() == [1.25, 2.25] * 4


def test_evaluate_writes_nixtla_cross_validation(tmp_path):
    out = tmp_path / "eval"
    result = CliRunner().invoke(forecast, [
        "evaluate", str(DATA / "air_passengers.csv"), "--models", "naive,theta",
        "--format", "nixtla", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    cv = pd.read_csv(io.StringIO(result.stdout))
    assert list(cv.columns) == ["unique_id", "ds", "cutoff", "y", "naive", "theta"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "cross_validation.csv"), cv)
    backtest = pd.read_csv(out / "backtest.csv")
    for model in ("naive", "theta"):
        mine = backtest[backtest["model"] == model]
        assert mine["series_id"].tolist() == cv["unique_id"].tolist()
        assert mine["timestamp"].tolist() == cv["ds"].tolist()
        assert mine["cutoff"].tolist() == cv["cutoff"].tolist()
        np.testing.assert_array_equal(mine["actual"], cv["y"])
        np.testing.assert_array_equal(mine["forecast"], cv[model])
    _validate_with_utilsforecast(cv.assign(ds=pd.to_datetime(cv["ds"])), "naive")
    # evaluating again without --format nixtla removes the stale cross_validation.csv
    again = CliRunner().invoke(forecast, [
        "evaluate", str(DATA / "air_passengers.csv"), "--models", "naive",
        "--out", str(out), "--quiet"])
    assert again.exit_code == 0, again.output
    assert not (out / "cross_validation.csv").exists()


def _validate_with_utilsforecast(frame: pd.DataFrame, model: str) -> None:
    """Nixtla's own helpers accept the frame (skipped when utilsforecast is absent)."""
    try:
        from utilsforecast.validation import validate_format
    except ImportError:
        return
    validate_format(frame.assign(y=frame.get("y", frame[model])))


def test_future_covariates_in_nixtla_names(tmp_path):
    from forecaster import load
    from tests.test_covariates import HORIZON, N_DAYS, TINY, _panel_frame

    frame = _panel_frame()[["store", "date", "sales", "price"]]
    frame.to_csv(tmp_path / "data.csv", index=False)
    later = _panel_frame(N_DAYS + HORIZON, seed=9)
    future = later[later.date > frame.date.max()][["store", "date", "price"]]
    result = CliRunner().invoke(forecast, [
        "train", str(tmp_path / "data.csv"), "--target", "sales", "--id-col", "store",
        "--future-covariates", "price", "--runs-dir", str(tmp_path / "runs"), *TINY])
    assert result.exit_code == 0, result.output
    model = load(tmp_path / "runs")
    own = model.predict(HORIZON, future=future)
    names = {"store": "unique_id", "date": "ds"}
    pd.testing.assert_frame_equal(model.predict(HORIZON, future=future.rename(columns=names)),
                                  own)
    both = model.predict(HORIZON, new_data=frame.rename(columns={**names, "sales": "y"}),
                         future=future.rename(columns=names))
    pd.testing.assert_frame_equal(both, model.predict(HORIZON, new_data=frame, future=future))
    # the future file's own columns under neither name: the run's names are asked for
    with pytest.raises(DataError, match="the future covariates need the columns 'date', "
                                        "'store', 'price'"):
        model.predict(HORIZON, future=future.rename(columns={"date": "when"}))
