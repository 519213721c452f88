"""Shared fixtures: paths to bundled data and the tiny-training flags that keep tests fast."""

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Property tests: the same examples on every run (`make test`, CI) so that chance cannot
# turn a run red; `make test-fuzz` (HYPOTHESIS_PROFILE=fuzz) draws fresh, more examples. A
# failure either finds is a bug to fix, not an example to exclude.
settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          max_examples=80, print_blob=True)
settings.register_profile("fuzz", derandomize=False, deadline=None, max_examples=1000,
                          print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
# Tiny training for tests: a handful of epochs, a small network, few backtest origins.
FAST = ["--epochs", "3", "--units", "4", "--ensemble", "1", "--origins", "20", "--patience", "2",
        "--seed", "1"]


def forecast_exe() -> str:
    """The installed console script next to this interpreter."""
    exe = Path(sys.executable).with_name("forecast")
    assert exe.exists(), f"console script missing: {exe} (pip install -e .)"
    return str(exe)


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def runner():
    from click.testing import CliRunner

    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 always separates stderr
        return CliRunner()


def random_walk_windows(n_series: int, length: int, window: int, horizon: int):
    """``(train, validation)`` window sets of ``n_series`` random walks (seed 0), the last
    20 points of each series the validation tail: the fit-loop tests' common data."""
    import numpy as np

    from forecaster.data import windowing as W

    rng = np.random.default_rng(0)
    scaled = [np.cumsum(rng.normal(size=length)) for _ in range(n_series)]
    cut = [length - 20] * n_series
    tr = W.window_starts([length] * n_series, window, horizon, last_target=cut)
    va = W.window_starts([length] * n_series, window, horizon, first_target=cut)
    return (W.WindowSet.build(scaled, *tr, window, horizon, True),
            W.WindowSet.build(scaled, *va, window, horizon, True))
