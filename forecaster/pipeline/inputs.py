"""What every pipeline reads first: the data, with the config's ``[data]`` options, and
the season the config or the data's frequency gives (``train``, ``evaluate`` and the
Python API share both)."""

from __future__ import annotations

from forecaster.config import Config, DataConfig
from forecaster.data.covariates import CovariateSpec
from forecaster.data.ingest import read_panel
from forecaster.data.panel import Panel


def load_panel(path, cfg: Config, *, covariates: bool = True) -> Panel:
    """Read ``path`` with the ``[data]`` options of ``cfg`` (its covariates too, unless
    ``covariates`` is False)."""
    d = cfg.data
    return read_panel(path, target=d.target or None, time_col=d.time_col or None,
                      id_col=d.id_col or None, freq=d.freq or None, **repair_options(d),
                      covariates=covariate_spec(d) if covariates else None,
                      wide=d.wide or None)    # not set: a DataFrame's shape tells


def covariate_spec(d: DataConfig) -> CovariateSpec:
    """The covariates ``[data]`` asks for."""
    return CovariateSpec.of(d.past_covariates, d.future_covariates, d.static_covariates,
                            d.calendar, d.holidays or None)


def repair_options(d: DataConfig) -> dict:
    """The ``read_panel`` options of ``[data]`` that say how to read and repair values
    and dates (not which columns or frequency): date order, fill (the covariates' own
    too), gap limit, aggregate."""
    return dict(dayfirst=d.dayfirst, monthfirst=d.monthfirst, fill=d.fill,
                max_gap=d.max_gap or None, aggregate=d.aggregate or None,
                fill_covariates=d.fill_covariates)


#: Where a season came from (``run.json``'s ``season_origin``)
SEASON_ORIGINS = ("given", "frequency", "detected", "none")


def season_of(panel: Panel, cfg: Config) -> int | None:
    """The seasonal period: :func:`season_and_origin`'s season."""
    return season_and_origin(panel, cfg)[0]


def season_and_origin(panel: Panel, cfg: Config) -> tuple[int | None, str]:
    """``(season, origin)``: ``[evaluation] season`` when set (``1``: no season; origin
    ``given``), else the frequency's natural period (``frequency``), else the period
    :func:`~forecaster.data.seasonality.detect_season` finds in the data (``detected``),
    else ``(None, "none")``."""
    if cfg.evaluation.season:
        return cfg.evaluation.season, "given"
    if panel.axis.season():
        return panel.axis.season(), "frequency"
    from forecaster.data.seasonality import detect_season

    found = detect_season(panel.values)
    return (found, "detected") if found else (None, "none")


def describe_season(season: int | None, origin: str) -> str:
    """``12 (detected)``, ``12 (frequency)``, ``none`` — for summaries and reports."""
    if not season or season == 1:
        return "none" + (" (given)" if origin == "given" else "")
    return f"{season} ({origin})"
