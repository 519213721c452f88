"""run.json and data.json through their one schema (:class:`RunInfo`, :class:`DataInfo`):
every key is checked on reading (a file from elsewhere is untrusted) with an
:class:`ArtifactError` naming the file and the key; an older run's missing keys read as
None; and what a record writes reads back to the same record."""

from __future__ import annotations

import json

import pytest

from forecaster.errors import ArtifactError
from forecaster.runs.record import DataInfo, RunInfo


@pytest.mark.parametrize("key, value", [
    ("window", 0), ("window", "12"), ("seed", True), ("lookbacks", [12, 0]),
    ("selection", "ridge"), ("replicas", 0), ("workers", 1.5), ("val_loss", "low"),
    ("keras_backend", 3), ("sha256", []), ("deployed", "prophet"), ("python", 3.12),
])
def test_run_json_refuses_a_malformed_key(key, value):
    with pytest.raises(ArtifactError, match=f"run.json in run 'r': `{key}` must be"):
        RunInfo.from_json({key: value}, "run.json in run 'r'")


@pytest.mark.parametrize("key, value", [
    ("rows", -1), ("series", "2"), ("notes", ["ok", 1]), ("covariates", ["past"]),
    ("path", 7),
])
def test_data_json_refuses_a_malformed_key(key, value):
    with pytest.raises(ArtifactError, match=f"`{key}` must be"):
        DataInfo.from_json({key: value})


def test_a_record_must_be_an_object():
    with pytest.raises(ArtifactError, match="must hold a JSON object"):
        RunInfo.from_json([1, 2])


def test_an_older_run_reads_with_none_for_what_it_lacks():
    old = RunInfo.from_json({"model": "lstm", "window": 24, "tensorflow_version": "2.15.0",
                             "forecaster_version": "0.0.9", "val_loss": float("nan")})
    assert old.deployed is None and old.network_deployed and old.forecasts_with == "lstm"
    assert old.val_loss is None  # a non-finite number reads as unknown
    assert old.versions == (("forecaster", "0.0.9"), ("TensorFlow", "2.15.0"))
    assert old.lookbacks == () and old.selection_reason is None


def test_the_backend_version_is_written_under_the_backends_name():
    info = RunInfo(keras_backend="jax", backend_version="0.4.30", keras_version="3.5.0")
    written = info.to_json()
    assert written["jax_version"] == "0.4.30" and "backend_version" not in written
    assert RunInfo.from_json(json.loads(json.dumps(written))) == info
    assert info.versions == (("JAX", "0.4.30"), ("Keras", "3.5.0"), ("Keras backend", "jax"))


def test_a_deployed_baseline_is_what_forecasts():
    info = RunInfo(model="tanh_cell", deployed="ridge",
                   selection={"model": "ridge", "reason": "lowest backtest MASE"})
    assert info.forecasts_with == "ridge" and not info.network_deployed
    assert info.selection_reason == "lowest backtest MASE"
    assert RunInfo(model="gru", deployed="rnn").forecasts_with == "gru"


def test_data_json_round_trip_and_covariates_only_when_there_are_some():
    plain = DataInfo(path=None, name="frame", rows=3, notes=("a note",))
    assert "covariates" not in plain.to_json() and plain.to_json()["notes"] == ["a note"]
    assert DataInfo.from_json(plain.to_json()) == plain
    assert DataInfo(path="/data/x.csv").file_name == "x.csv"
    spec = {"past": ["p"], "future": [], "static": [], "calendar": "none", "holidays": None}
    assert list(DataInfo(covariates=spec).to_json())[-2:] == ["covariates", "notes"]


def test_forecast_runs_lists_a_run_with_a_malformed_run_json_as_broken(tmp_path):
    from forecaster.runs.listing import list_runs

    run = tmp_path / "20260101-000000-x"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"created": "2026-01-01T00:00:00+00:00",
                                              "window": "24"}))
    [row] = list_runs(tmp_path)
    assert row.error and "`window` must be an integer" in row.error
