"""The search space of `forecast tune`: defaults sized to the data, and the `--space` file
checked once, key by key."""

from __future__ import annotations

import pytest

import optuna  # noqa: E402  (a dependency of forecast tune)

from forecaster.errors import ConfigError  # noqa: E402
from forecaster.pipeline.search_space import (TUNABLE, Param, default_space,  # noqa: E402
                                              parse_space, read_space)


def test_the_default_space_covers_what_the_issue_lists_and_sizes_windows_to_the_data():
    space = default_space(24, 12)
    names = {p.name for p in space.params}
    assert names == set(TUNABLE)
    by = {p.name: p for p in space.params}
    assert by["window"].choices == (12, 24, 36, 48)
    assert by["max_lookback"].choices == (0, 24, 48)
    assert by["learning_rate"].log and by["learning_rate"].low < 1e-3 < by["learning_rate"].high
    assert default_space(14, None).params[3].choices == (7, 14, 21, 28)  # no season


def test_a_space_file_narrows_widens_and_fixes(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text('units = [8, 256]\nlearning_rate = {low = 1e-4, high = 1e-1, log = true}\n'
                    'window = {low = 12, high = 48, step = 12}\nkind = "gru"\n')
    space = read_space(path, default_space(24, 12))
    by = {p.name: p for p in space.params}
    assert by["units"].choices == (8, 256) and "kind" not in by
    assert dict(space.fixed) == {"kind": "gru"}
    trial = optuna.trial.FixedTrial({"units": 256, "learning_rate": 0.05, "window": 36,
                                     "layers": 2, "max_lookback": 0, "batch_size": 0,
                                     "ensemble": 3, "loss": "mae", "anchor": "level",
                                     "scaling": "log"})
    drawn = space.suggest(trial)
    assert drawn["kind"] == "gru" and drawn["window"] == 36 and drawn["units"] == 256
    only = parse_space({"only": True, "units": [4, 8]}, default_space(24, 12))
    assert [p.name for p in only.params] == ["units"] and only.fixed == ()


@pytest.mark.parametrize("raw, message", [
    ({"unit": [4]}, "`unit` is not a setting the search can vary"),
    ({"kind": ["tanh_cell", "transformer"]}, "`kind` must be one of"),
    ({"units": [0, 4]}, "`units` must be >= 1"),
    ({"units": [4, 4]}, "`units` repeats a choice"),
    ({"units": []}, "`units` lists no choices"),
    ({"units": [4.5]}, "`units` takes int values"),
    ({"learning_rate": {"low": 0.1, "high": 0.01}}, "has low 0.1 > high 0.01"),
    ({"learning_rate": {"low": 0.0, "high": 0.1, "log": True}}, "`learning_rate` must be > 0"),
    ({"units": {"low": 4, "high": 64, "log": True, "step": 4}}, "cannot have both"),
    ({"units": {"low": 4, "high": 64, "step": 0.5}}, "step must be a positive int"),
    ({"units": {"low": 4}}, "needs a range"),
    ({"loss": {"low": 1, "high": 2}}, "takes a list of choices, not a range"),
    ({"only": "yes"}, "`only` must be true or false"),
    ({"only": True, "kind": "gru"}, "nothing left to search"),
])
def test_space_file_errors_name_the_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_space(raw, default_space(24, 12))


def test_unreadable_space_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_space(tmp_path / "none.toml", default_space(24, 12))
    bad = tmp_path / "bad.toml"
    bad.write_text("units = [4,\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        read_space(bad, default_space(24, 12))


def test_param_describe():
    assert Param("units", choices=(4, 8)).describe() == "units ∈ {4, 8}"
    assert Param("learning_rate", low=1e-4, high=1e-2, log=True).describe() == (
        "learning_rate ∈ [0.0001, 0.01] log")


def test_the_search_starts_from_the_shipped_configuration():
    from forecaster.config import load_config

    space = default_space(14, 4)
    start = space.start(load_config(), window=14)
    assert start == {"kind": "tanh_cell", "units": 64, "layers": 1, "window": 14,
                     "max_lookback": 0, "learning_rate": 0.001, "batch_size": 0,
                     "ensemble": 10, "loss": "huber", "anchor": "mixed", "scaling": "auto"}
    # a configuration outside the space: no starting trial
    assert space.start(load_config(overrides={"model": {"units": 48}}), window=14) is None
    assert Param("window", low=12, high=48, step=12).contains(36)
    assert not Param("window", low=12, high=48, step=12).contains(30)
