"""A run on zone-aware hourly data (Melbourne offsets across a DST change) end to end: the
local zone is recorded, ``predict --future`` reads zone-aware files into the run's zone,
and a naive or off-grid ``--future`` file is a one-line error (CLI and API)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from forecaster import DataError, load
from forecaster.cli import forecast
from tests.data.test_time_zones import MEL, _melbourne

HORIZON = 6
TINY = ["--epochs", "1", "--units", "4", "--ensemble", "1", "--origins", "2", "--patience",
        "1", "--seed", "1", "--horizon", str(HORIZON), "--window", "24", "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    work = tmp_path_factory.mktemp("zones")
    frame = _melbourne(end="2015-04-10")
    frame.to_csv(work / "data.csv", index=False)
    future = _melbourne(end="2015-04-11")
    future = future.iloc[len(frame):][["timestamp", "price"]]
    future.to_csv(work / "future.csv", index=False)
    runs = work / "runs"
    result = CliRunner().invoke(forecast, [
        "train", str(work / "data.csv"), "--target", "y", "--future-covariates", "price",
        "--calendar", "auto", "--holidays", "AU-VIC", "--runs-dir", str(runs), *TINY])
    assert result.exit_code == 0, result.output
    return runs / (runs / "latest").read_text().strip()


def _predict(run_dir, future, out):
    return CliRunner().invoke(forecast, ["predict", "--runs-dir", str(run_dir.parent),
                                         "--run", run_dir.name, "--quiet", "--future",
                                         str(future), "--output", str(out)])


def test_the_local_zone_is_recorded_and_forecasts_are_written_in_utc(run_dir, tmp_path):
    state = json.loads((run_dir / "preprocessing.json").read_text())
    assert state["axis"]["tz"] == "UTC"
    zone = state["axis"]["local_tz"]      # a zone with Melbourne's offsets (Hobart's, say)
    year = pd.date_range("2015-01-01", "2017-01-01", freq="h", tz="UTC")
    assert (year.tz_convert(zone).tz_localize(None) == year.tz_convert(MEL).tz_localize(None)).all()
    result = _predict(run_dir, run_dir.parent.parent / "future.csv", tmp_path / "f.csv")
    assert result.exit_code == 0, result.output
    stamps = pd.read_csv(tmp_path / "f.csv").timestamp
    assert len(stamps) == HORIZON and stamps.str.endswith("+00:00").all()
    assert stamps.iloc[0] == "2015-04-09T14:00:00+00:00"     # 2015-04-10 00:00 local


def _future(run_dir):
    return pd.read_csv(run_dir.parent.parent / "future.csv")


def test_a_naive_future_file_is_a_one_line_error(run_dir, tmp_path):
    naive = _future(run_dir).assign(timestamp=lambda f: f.timestamp.str[:19])
    naive.to_csv(tmp_path / "naive.csv", index=False)
    result = _predict(run_dir, tmp_path / "naive.csv", tmp_path / "out.csv")
    assert result.exit_code != 0
    assert "TypeError" not in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "series 'y'" in result.output and "time zone" in result.output, result.output
    with pytest.raises(DataError, match="time zone"):
        load(run_dir).predict(HORIZON, future=naive)


def test_an_off_grid_future_timestamp_is_named_without_an_aggregate_hint(run_dir, tmp_path):
    future = _future(run_dir)
    bad = future.timestamp.iloc[3].replace(":00:00+", ":30:00+")
    future.loc[3, "timestamp"] = bad
    future.to_csv(tmp_path / "off.csv", index=False)
    result = _predict(run_dir, tmp_path / "off.csv", tmp_path / "out.csv")
    assert result.exit_code != 0
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "--aggregate" not in result.output, result.output
    shown = pd.Timestamp(bad).tz_convert("UTC").isoformat()
    assert shown in result.output and "line 5" in result.output, result.output
