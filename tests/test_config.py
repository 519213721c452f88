"""Config flows one way: defaults file ← --config FILE ← flags; values validated once."""

from pathlib import Path

import pytest

from forecaster.config import DEFAULT_PATH, dump_toml, load_config
from forecaster.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_file_is_the_one_in_configs():
    assert (ROOT / "configs" / "default.toml").resolve() == DEFAULT_PATH.resolve()
    cfg = load_config()
    assert cfg.model.kind == "tanh_cell"
    assert cfg.evaluation.levels == [80, 95]


def test_file_then_flags_override(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[model]\nunits = 8\nlayers = 2\n[training]\nseed = 7\n")
    cfg = load_config(path, {"model": {"units": 16, "layers": None}})
    assert cfg.model.units == 16      # flag wins over file
    assert cfg.model.layers == 2      # unset flag falls through to the file
    assert cfg.training.seed == 7


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(overrides={"data": {"target": 'we"ird\\name'}, "model": {"units": 5}})
    path = tmp_path / "resolved.toml"
    path.write_text(dump_toml(cfg))
    assert load_config(path) == cfg


@pytest.mark.parametrize("overrides, message", [
    ({"model": {"units": 0}}, "`model.units` must be between 1 and 4096. Got 0."),
    ({"model": {"kind": "transformer"}}, "`model.kind` must be one of simple_rnn, tanh_cell"),
    ({"training": {"learning_rate": -1.0}}, "`training.learning_rate` must be in (0, 10]"),
    ({"training": {"epochs": "ten"}}, "`training.epochs` must be an integer. Got 'ten'."),
    ({"evaluation": {"levels": [80, 120]}}, "`evaluation.levels` must be a list of percentages"),
    ({"training": {"device": "tpu"}}, "`training.device` must be one of cpu, gpu, auto"),
    ({"model": {"anchor": "trend"}}, "`model.anchor` must be one of level, season, mixed"),
    ({"model": {"max_lookback": -1}}, "`model.max_lookback` must be 0 (automatic) or between"),
    ({"training": {"batch_size": -1}}, "`training.batch_size` must be 0 (automatic) or >= 1"),
])
def test_bad_values_have_clear_messages(overrides, message):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=overrides)
    assert message in str(err.value)


def test_unknown_keys_and_bad_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nunitz = 3\n")
    with pytest.raises(ConfigError, match=r"unknown key `model.unitz`.*Known keys: .*units"):
        load_config(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("[model\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(broken)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_profiles_sit_between_the_defaults_and_the_user_file(tmp_path):
    quick = load_config(profile="quick")
    assert (quick.model.ensemble, quick.training.epochs, quick.training.patience,
            quick.training.max_windows, quick.evaluation.origins) == (3, 60, 5, 4096, 6)
    assert quick.model.units == load_config().model.units  # the rest: the defaults
    path = tmp_path / "c.toml"
    path.write_text("[model]\nensemble = 5\n")
    assert load_config(path, profile="quick").model.ensemble == 5  # the file wins
    assert load_config(path, {"model": {"ensemble": 2}}, profile="quick").model.ensemble == 2
    with pytest.raises(ConfigError, match=r"`profile` must be one of default, quick. Got 'fast'."):
        load_config(profile="fast")
