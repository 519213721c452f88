"""One name per setting (issue 36): the flags are named like the config keys and the Python
keywords (``--kind`` = ``model.kind`` = ``kind=``, ``--levels`` = ``evaluation.levels`` =
``levels=``); the old spellings ``--model`` and ``--level`` still work for one release with
a note, and train's summary says which baselines its backtest leaves to ``evaluate``."""

from __future__ import annotations

import click
from click.testing import CliRunner

from forecaster.cli.commands import forecast
from forecaster.cli.options import renamed
from forecaster.cli.summary import baselines_text
from forecaster.config import SETTINGS
from forecaster.models.registry import MODELS, NAMES, TRAIN_BACKTEST

NOTE = "is deprecated; use"


def _help(command: str) -> str:
    result = CliRunner().invoke(forecast, [command, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_help_names_each_setting_like_its_config_key():
    for command in ("train", "evaluate", "tune"):
        text = _help(command)
        assert "--kind [" in text and "--levels L[,L…]" in text, command
        assert "--model " not in text and "--level " not in text, command
    assert "--levels L[,L…]" in _help("predict") and "--level " not in _help("predict")
    assert {"kind", "levels", "origins", "folds"} <= set(SETTINGS)


def test_the_help_texts_tell_origins_and_folds_apart():
    assert "--folds" in " ".join(_help("train").split())
    assert "--origins" in " ".join(_help("evaluate").split())


def test_the_scaling_help_says_what_auto_is():
    text = " ".join(_help("train").split())
    assert "Box-Cox power" in text and "auto = log when all values are > 0" not in text


def _resolved(*args: str):
    """``forecast evaluate`` on a missing file with --verbose: the resolved config is
    printed (and the notes) before the data are read."""
    return CliRunner().invoke(forecast, ["evaluate", "no-such-file.csv", "--verbose", *args])


def test_model_is_the_old_spelling_of_kind():
    old = _resolved("--model", "gru")
    assert 'kind = "gru"' in old.output
    assert "note: --model is deprecated; use --kind" in old.output
    new = _resolved("--kind", "gru")
    assert 'kind = "gru"' in new.output and NOTE not in new.output


def test_level_is_the_old_spelling_of_levels():
    old = _resolved("--level", "90,99")
    assert "levels = [90, 99]" in old.output
    assert "note: --level is deprecated; use --levels" in old.output
    new = _resolved("--levels", "90,99")
    assert "levels = [90, 99]" in new.output and NOTE not in new.output


def test_both_spellings_at_once_are_a_usage_error(tmp_path):
    result = _resolved("--model", "gru", "--kind", "lstm")
    assert result.exit_code == 2 and "give --kind alone" in result.output
    result = CliRunner().invoke(forecast, ["predict", "--runs-dir", str(tmp_path),
                                           "--level", "90", "--levels", "95"])
    assert result.exit_code == 2 and "give --levels alone" in result.output


def test_predict_takes_the_old_level_with_a_note(tmp_path):
    result = CliRunner().invoke(forecast, ["predict", "--runs-dir", str(tmp_path),
                                           "--level", "90"])
    assert "note: --level is deprecated; use --levels" in result.output
    assert result.exit_code != 0 and "Traceback" not in result.output  # no run there


def test_quiet_drops_the_note():
    result = _resolved("--model", "gru", "--quiet")
    assert NOTE not in result.output


def test_renamed_passes_the_value_on_once():
    seen = []

    @click.command()
    @click.option("--new-name", "value")
    @renamed("--old-name", "--new-name", "value")
    def command(value):
        seen.append(value)

    runner = CliRunner()
    assert runner.invoke(command, ["--old-name", "x"]).exit_code == 0
    assert runner.invoke(command, ["--new-name", "y"]).exit_code == 0
    assert runner.invoke(command, []).exit_code == 0
    assert seen == ["x", "y", None]
    assert "--old-name" not in runner.invoke(command, ["--help"]).output


def test_train_says_which_baselines_it_leaves_to_evaluate():
    left = [name for name, entry in MODELS.items() if not entry.in_train]
    assert left == ["random_forest", "knn"]  # the slow ones (models/registry.py)
    text = baselines_text()
    assert text.startswith(f"{len(TRAIN_BACKTEST)} (")
    assert "random_forest and knn are left to forecast evaluate" in text
    assert len(TRAIN_BACKTEST) + len(left) == len(NAMES)
