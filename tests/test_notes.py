"""Notes carry a kind that code tests instead of their wording (forecaster.notes)."""

import copy
import json

import numpy as np
import pandas as pd
import pytest

from forecaster.data.ingest import read_panel
from forecaster.notes import KINDS, Note, kind_of


def test_a_note_is_its_text_everywhere_a_string_goes():
    note = Note("Trimmed 2 leading/trailing missing value(s).", kind="trim")
    assert note == "Trimmed 2 leading/trailing missing value(s)." and isinstance(note, str)
    assert json.dumps({"notes": [note]}) == json.dumps(
        {"notes": ["Trimmed 2 leading/trailing missing value(s)."]})  # run files unchanged
    assert f"warning: {note}" == "warning: Trimmed 2 leading/trailing missing value(s)."
    assert note in ["Trimmed 2 leading/trailing missing value(s)."]
    assert copy.deepcopy(note).kind == copy.copy(note).kind == "trim"
    assert kind_of(note) == "trim" and kind_of("a plain note") is None


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown note kind 'trimmed'"):
        Note("x", kind="trimmed")


def test_the_repairs_of_a_read_are_notes_of_their_kind():
    frame = pd.DataFrame({"time": pd.date_range("2020-01-01", periods=12, freq="D")[::-1],
                          "y": [np.nan, 1.0, 2.0, np.inf, 4.0, 5.0, np.nan, 7.0, 8.0, 9.0,
                                10.0, 11.0]})
    notes = read_panel(frame, target="y", time_col="time").notes
    kinds = {kind_of(n) for n in notes}
    assert {"sort", "trim", "fill", "infinite"} <= kinds, notes
    assert kinds <= set(KINDS) | {None}


def test_train_says_it_made_no_forecast_without_verbose(tmp_path):
    """The one note ``forecast train`` always prints (found by its kind, not its words)."""
    from click.testing import CliRunner

    from forecaster.cli import forecast
    from tests.test_covariates import _panel_frame

    _panel_frame().to_csv(tmp_path / "data.csv", index=False)
    result = CliRunner().invoke(forecast, [
        "train", str(tmp_path / "data.csv"), "--target", "sales", "--id-col", "store",
        "--future-covariates", "price", "--runs-dir", str(tmp_path / "runs"), "--no-backtest",
        "--epochs", "1", "--units", "4", "--horizon", "7", "--window", "14"])
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(said) == 1 and said[0].startswith("note: no forecast was made at training "
                                                 "time"), result.stderr
