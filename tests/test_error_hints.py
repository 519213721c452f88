"""A fix that names an option is said in each face's words (issue 32): the command line
names flags (``--target``), the Python API keyword arguments (``target=``), from one
:class:`~forecaster.errors.Hint` per message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import forecaster
from forecaster.cli import forecast
from forecaster.errors import DataError, ForecastError, Hint


def _two_values() -> pd.DataFrame:
    dates = pd.date_range("2020-01-01", periods=30, freq="D")
    return pd.DataFrame({"date": dates, "sales": np.arange(30.0), "price": np.ones(30)})


def test_a_hint_is_said_by_each_face_and_can_be_left_out():
    exc = DataError("two columns; pass {hint}.", hint=Hint("target", "--target", "target="))
    assert str(exc) == exc.render("api") == "two columns; pass target=."
    assert exc.render("cli") == "two columns; pass --target."
    assert exc.said("a target") == "two columns; pass a target."
    plain = ForecastError("no hint {here}")  # a message without a hint is plain text
    assert str(plain) == plain.render("cli") == plain.said("") == "no hint {here}"


def test_the_python_api_names_keyword_arguments():
    with pytest.raises(DataError) as info:  # wide=False: a frame of two numeric columns
        forecaster.read_panel(_two_values(), wide=False)  # would otherwise be two series
    assert "pass target= with one of: 'sales', 'price'" in str(info.value)
    assert "--" not in str(info.value)
    with pytest.raises(DataError) as info:
        forecaster.read_panel(_two_values(), target="nope")
    assert str(info.value).endswith("(use target=).")


def test_the_command_line_names_flags(tmp_path):
    _two_values().to_csv(tmp_path / "two.csv", index=False)
    result = CliRunner().invoke(forecast, ["train", str(tmp_path / "two.csv"),
                                           "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 1
    assert "pass --target with one of: 'sales', 'price'." in result.output
    assert "target=" not in result.output
