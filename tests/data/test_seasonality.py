"""Season detection when the timestamps give none (integer steps): known periods are
found in single series and panels, with trends and noise; white noise and random walks
have none; `--season` overrides and `--season 0` turns it off."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from forecaster.cli import forecast
from forecaster.config import load_config
from forecaster.data.ingest import read_panel
from forecaster.data.seasonality import detect_season, pooled_autocorrelation, season_bound
from forecaster.pipeline.inputs import describe_season, season_and_origin
from tests.conftest import DATA


def _seasonal(period, n, k, noise, trend=0.0, seed=0, multiplicative=False):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(k):
        t = np.arange(n)
        shape = np.sin(2 * np.pi * t / period) + 0.5 * np.cos(4 * np.pi * t / period + 1)
        level = 50 + trend * t
        noise_ = rng.normal(0, noise, n)
        out.append(level * (1 + 0.1 * shape) + noise_ if multiplicative
                   else level + 5 * shape + noise_)
    return out


@pytest.mark.parametrize("period", [4, 7, 12, 24, 52])
@pytest.mark.parametrize("k, noise, trend, multiplicative", [
    (1, 1.0, 0.0, False), (8, 2.0, 0.3, False), (3, 0.5, 0.5, True)])
def test_known_periods_are_found(period, k, noise, trend, multiplicative):
    """Noise relative to the seasonal swing; a long smooth season changes little from one
    step to the next, so its differences drown sooner (period 52: a quarter the noise)."""
    n = max(120, 6 * period)
    noise *= min(1.0, 12 / period) if period > 24 else 1.0
    series = _seasonal(period, n, k, noise, trend, seed=period, multiplicative=multiplicative)
    assert detect_season(series) == period


@pytest.mark.parametrize("seed", range(10))
def test_white_noise_and_random_walks_have_no_season(seed):
    rng = np.random.default_rng(seed)
    assert detect_season([rng.normal(10, 1, 200)]) is None
    assert detect_season([rng.normal(0, 1, 60) for _ in range(40)]) is None
    assert detect_season([np.cumsum(rng.normal(0, 1, 200)) + 100]) is None
    walks = [np.exp(np.cumsum(rng.normal(0.01, 0.05, 80))) for _ in range(30)]
    assert detect_season(walks) is None


def test_a_daily_and_weekly_pattern_gives_the_day():
    t = np.arange(24 * 7 * 8)
    rng = np.random.default_rng(3)
    hourly = 100 + 10 * np.sin(2 * np.pi * t / 24) + 5 * (t % 168 < 120) + rng.normal(0, 1, len(t))
    assert detect_season([hourly]) == 24


def test_too_short_data_and_constant_series_have_none():
    assert season_bound([10, 11]) == 3
    assert detect_season([np.arange(8.0)]) is None
    assert detect_season([np.full(100, 3.0)]) is None
    assert detect_season([]) is None


def test_pooled_autocorrelation_is_scale_free():
    a, b = _seasonal(12, 120, 2, 1.0, seed=1)
    r1, n1 = pooled_autocorrelation([a, b], 13)
    r2, n2 = pooled_autocorrelation([a * 1e200, b], 13)
    np.testing.assert_allclose(r1, r2, atol=1e-12)
    assert n1 == n2 and r1[0] == pytest.approx(1.0)


def _integer_air() -> pd.DataFrame:
    air = pd.read_csv(DATA / "air_passengers.csv")
    return pd.DataFrame({"t": np.arange(1, len(air) + 1), "y": air.iloc[:, 1]})


def test_season_origin_given_frequency_detected():
    cfg = load_config()
    assert season_and_origin(read_panel(DATA / "air_passengers.csv"), cfg) == (12, "frequency")
    assert season_and_origin(read_panel(_integer_air()), cfg) == (12, "detected")
    assert season_and_origin(read_panel(_integer_air()),
                             cfg.replace("evaluation", season=1)) == (1, "given")
    assert describe_season(12, "detected") == "12 (detected)"
    assert describe_season(1, "given") == "none (given)"


def test_cli_says_detected_and_season_0_turns_it_off(tmp_path):
    _integer_air().to_csv(tmp_path / "air.csv", index=False)
    tiny = ["--epochs", "2", "--units", "4", "--ensemble", "1", "--origins", "2", "--seed",
            "1"]
    for flags, season, origin in (([], 12, "detected"), (["--season", "0"], 1, "given"),
                                  (["--season", "6"], 6, "given")):
        runs = tmp_path / f"runs{season}"
        result = CliRunner().invoke(forecast, ["train", str(tmp_path / "air.csv"),
                                               "--runs-dir", str(runs), *tiny, *flags])
        assert result.exit_code == 0, result.output
        assert f"season            {describe_season(season, origin)}" in result.output
        run = json.loads((runs / (runs / "latest").read_text().strip() / "run.json").read_text())
        assert (run["season"], run["season_origin"]) == (season, origin)
        # air's seasonal swing grows with its level: the log scale, said and recorded
        assert "scale             auto: log for " in result.output
        assert (run["scaling"], run["log_scale_series"]) == ("auto", 1)
