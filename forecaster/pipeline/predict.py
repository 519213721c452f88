"""``forecast predict``: forecast from a saved run, without the original data.

Loads ``model.keras`` with ``safe_mode=True`` and the validated ``preprocessing.json``,
forecasts ``horizon`` steps from the stored context of every series (directly up to the
trained horizon, recursively beyond it), and adds the split-conformal intervals: the
calibrated levels by default, any level or predictive quantile asked for from the stored
calibration residuals; a run on non-negative data has its forecasts and bounds clipped at
0 unless negatives are allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.runs import artifacts
from forecaster.choices import FORECAST_FORMATS
from forecaster.config import DataConfig, load_config
from forecaster.data.columns import ColumnNotFound
from forecaster.data.ingest import read_panel
from forecaster.data.panel import Panel
from forecaster.data.windowing import scale_step
from forecaster.errors import ConfigError, DataError, ForecastError
from forecaster.models.base import forecast_to_frame
from forecaster.models.neural import forecast_values
from forecaster.pipeline.inputs import repair_options
from forecaster.pipeline.nixtla import laid_out, read_with_run_columns
from forecaster.runs.forecast_state import Preprocessing
from forecaster.runs.record import RunRecord

FORMATS = FORECAST_FORMATS
EXTENSIONS = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}
MAX_HORIZON = 10_000  # as `model.horizon` in the config


def output_format(output, fmt: str | None) -> str:
    """The format of the forecast file: ``fmt``, else the one its extension names, else
    csv; a ``fmt`` that contradicts a known extension is a :class:`ConfigError` (a file
    named ``.parquet`` holding CSV text helps nobody)."""
    implied = EXTENSIONS.get(Path(output).suffix.lower()) if output else None
    if fmt is None:
        return implied or "csv"
    if fmt not in FORMATS:
        raise ConfigError(f"`--format` must be one of {', '.join(FORMATS)}. Got {fmt!r}.")
    if implied is not None and implied != fmt:
        raise ConfigError(f"`--format {fmt}` contradicts the extension of {str(output)!r} "
                          f"({implied}); change one of them.")
    return fmt


@dataclass
class Prediction:
    frame: pd.DataFrame  # series_id, timestamp, forecast, lower_XX, upper_XX…
    run_dir: Path
    state: Preprocessing
    notes: list = field(default_factory=list)


def predict(run, horizon: int, new_data=None, future=None, *, levels=None, quantiles=None,
            allow_negative: bool = False) -> Prediction:
    """Forecast ``horizon`` steps from ``run`` (a run directory, or its
    :class:`~forecaster.runs.record.RunRecord`; checked before the model is loaded): from
    the end of its training data, or from the end of ``new_data`` (a path or a DataFrame,
    see :func:`read_new_data`) without retraining; the run is only read.  ``future`` (a
    path or a DataFrame) holds the future covariates over the horizon
    (:func:`~forecaster.pipeline.future.read_future`).  ``levels``, ``quantiles`` and
    ``allow_negative`` as :func:`forecast_from` takes them."""
    from forecaster.pipeline.future import read_future

    check_horizon(horizon)
    levels, quantiles = wanted_levels(levels), wanted_quantiles(quantiles)
    record = run if isinstance(run, RunRecord) else RunRecord.load(run)
    state, notes = record.state, []
    config = record.path / "config.toml"
    data = load_config(config).data if config.is_file() else None
    if new_data is not None:
        state, notes = moved_state(state, new_data, data,
                                   network=record.info.network_deployed)
    _check_dates(state, horizon)  # before the model is loaded
    ahead, more = read_future(future, state, horizon, data)  # (None, []) without any
    notes += more
    model = load_run_model(record)
    _check_has_intervals(levels, quantiles, _conformal(model, state))
    frame, more = _forecast(model, state, horizon, levels, ahead, quantiles=quantiles,
                            allow_negative=allow_negative)
    return Prediction(frame=frame, run_dir=record.path, state=state, notes=notes + more)


def read_new_data(source, state: Preprocessing, data: DataConfig | None = None) -> Panel:
    """Newer data for a run: ``source`` (a path or a DataFrame) read with the run's
    columns, frequency and ``[data]`` options (fill, aggregate, date order), one row per
    series being enough; columns in Nixtla's names (``unique_id, ds, y``) stand for the
    run's columns they lack (:func:`~forecaster.pipeline.nixtla.read_with_run_columns`).
    Data on another frequency or time zone than the run's are a :class:`DataError` saying
    so."""
    axis = state.axis
    columns = {"target": state.target, "time_col": state.time_col, "id_col": state.id_col}
    options = {"min_length": 1, "run_axis": axis}  # timestamps in the run's zone
    if data is not None:
        options.update(repair_options(data))
    taken = ()
    if state.encoder is not None:  # the run's covariate columns come with the new data
        spec = state.encoder.spec
        options["covariates"] = replace(spec, calendar="none", holidays=None)
        taken = spec.columns

    def read(**more):  # in the run's columns, else in Nixtla's (unique_id, ds, y)
        return read_with_run_columns(lambda **cols: read_panel(source, **cols, **options,
                                                               **more), columns, taken)

    try:
        panel = read(freq=axis.freq)
    except ColumnNotFound as exc:  # predict has no column options to suggest
        need = f"time {state.time_col!r}, target {state.target!r}" + (
            f", series {state.id_col!r}" if state.id_col else "")
        raise DataError(f"the new data need the run's columns ({need}): "
                        + exc.said("")) from None
    except DataError as exc:
        if not axis.is_datetime:
            raise
        try:  # explain a frequency change instead of its symptom (off-grid timestamps)
            found = read().axis
        except DataError:
            raise exc from None
        if found.freq != axis.freq:
            raise DataError(f"the new data have frequency {found.describe()}; the run was "
                            f"trained on {axis.describe()}.") from None
        raise
    if (panel.axis.kind, panel.axis.step, panel.axis.tz) != (axis.kind, axis.step, axis.tz):
        raise DataError(f"the new data are on {panel.axis.describe()}; the run was trained "
                        f"on {axis.describe()}.")
    return panel


def moved_state(state: Preprocessing, new_data, data: DataConfig | None = None,
                network: bool = True) -> tuple[Preprocessing, list]:
    """``(state, notes)``: the run's state at the ends of ``new_data`` (see
    :meth:`Preprocessing.with_history`; ``network=False`` when a baseline forecasts), with
    what reading the data repaired."""
    panel = read_new_data(new_data, state, data)
    moved, notes = state.with_history(panel, network=network)
    return moved, list(panel.notes) + notes


def load_run_model(record: RunRecord):
    """The model the run deploys, loaded safely: its network (``model.keras``, checked
    against preprocessing.json), or the baseline that ``forecast train --select best``
    deployed (:func:`load_baseline`)."""
    if not record.info.network_deployed:
        return load_baseline(record)
    model = artifacts.load_model(record.path / "model.keras")
    _check_model(model, record.state, record.path)
    return model


def load_baseline(record: RunRecord):
    """The run's deployed baseline from ``baseline.json`` (and ``baseline.skops``, the
    scikit-learn pipeline, read by skops with its trusted-types check); run.json's hashes
    of both were checked when the record was loaded.  Anything that does not fit the run
    is an :class:`~forecaster.errors.ArtifactError`."""
    import os

    from forecaster.evaluation.intervals import check_conformal, check_residuals
    from forecaster.models.baseline_state import DeployedBaseline, from_state

    data = artifacts.read_json(record.path / "baseline.json")
    where = f"baseline.json in run {record.path.name!r}"
    named = (data.get("model") or {}).get("name") if isinstance(data.get("model"), dict) \
        else None
    if named != record.info.deployed:  # before its content: the model run.json names
        raise artifacts.ArtifactError(f"{where} holds {named!r:.40}; run.json deploys "
                                      f"{record.info.deployed!r}.")
    conformal, residuals = data.get("conformal"), data.get("residuals")
    try:
        if conformal is not None:
            check_conformal(conformal, record.state.levels, record.state.horizon)
        if residuals is not None:
            check_residuals(residuals, record.state.horizon)
    except DataError as exc:
        raise artifacts.ArtifactError(f"{where}: {exc}.") from None
    blob_path = record.path / "baseline.skops"
    blob = None
    if os.path.lexists(blob_path):
        artifacts.check_regular(blob_path)  # a regular file within its size limit
        blob = blob_path.read_bytes()
    model = from_state(data.get("model"), blob, record.state.axis)
    if list(model.fitted_ids_) != [s.id for s in record.state.series]:
        raise artifacts.ArtifactError(f"{where} was fitted on other series than the run's.")
    return DeployedBaseline(model, conformal, residuals)


def check_horizon(horizon) -> None:
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or \
            not 1 <= horizon <= MAX_HORIZON:
        raise ConfigError(f"`--horizon` must be between 1 and {MAX_HORIZON:,}. "
                          f"Got {horizon}.")


def forecast_from(model, state: Preprocessing, horizon: int, levels=None, ahead=None, *,
                  quantiles=None, allow_negative: bool = False) -> tuple[pd.DataFrame, list]:
    """``(frame, notes)``: the forecast of every series from its stored context, with the
    intervals of ``levels`` (default: every level the run calibrated; any other level in
    (0, 100) from the stored calibration residuals) —
    ``series_id, timestamp, forecast, lower_80, upper_80, …``, timestamps typed — and a
    ``q_<p>`` column per predictive quantile of ``quantiles`` (each in (0, 1)).  A run on
    non-negative data has every value column clipped at 0 unless ``allow_negative``."""
    check_horizon(horizon)
    _check_dates(state, horizon)
    levels, quantiles = wanted_levels(levels), wanted_quantiles(quantiles)
    _check_has_intervals(levels, quantiles, _conformal(model, state))
    return _forecast(model, state, horizon, levels, ahead, quantiles=quantiles,
                     allow_negative=allow_negative)


def wanted_quantiles(quantiles) -> list:
    """``quantiles`` as a list of numbers in (0, 1) (one number is taken as a list of it;
    None: none); a :class:`ConfigError` for anything else."""
    from forecaster.evaluation.intervals import quantile_level

    if quantiles is None:
        return []
    quantiles = _number_list(quantiles, "quantiles", "[0.1, 0.5, 0.9]")
    for p in quantiles:
        quantile_level(p)  # a ConfigError unless 0 < p < 1
    return quantiles


def _number_list(value, name: str, example: str) -> list:
    """``value`` as a list: one number is taken as a list of it, a string or anything not
    iterable is a :class:`ConfigError` (what each element must be is the caller's check)."""
    if isinstance(value, (int, float, np.integer, np.floating)) and \
            not isinstance(value, bool):
        return [value]
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ConfigError(f"`{name}` must be a number or a list of numbers (e.g. {example}). "
                          f"Got {value!r:.60}.")
    return list(value)


def _check_has_intervals(levels, quantiles, conformal) -> None:
    """A :class:`ConfigError` when intervals or quantiles are asked of a run without any."""
    asked = (levels or []) + [p for p in quantiles if p != 0.5]
    if asked and not conformal:
        what = f"levels {levels}" if levels else f"quantiles {quantiles}"
        raise ConfigError("this run has no intervals: it was trained without a backtest "
                          "(origins 0), so no levels were calibrated; train with a backtest "
                          f"(--origins) to get them. Got {what}.")


def wanted_levels(levels) -> list | None:
    """``levels`` as a sorted list of percentages in (0, 100) (one number is taken as a
    list of it; None: every level the run calibrated); a :class:`ConfigError` for
    anything else."""
    if levels is None:
        return None
    levels = _number_list(levels, "levels", "[80, 95]")
    wrong = [lv for lv in levels if isinstance(lv, bool)
             or not isinstance(lv, (int, float, np.integer, np.floating))]
    if wrong:
        raise ConfigError(f"`levels` must be numbers (percentages). Got {wrong[0]!r:.60}.")
    bad = [lv for lv in levels if not 0 < float(lv) < 100]
    if bad:
        raise ConfigError(f"`levels` must be percentages between 0 and 100 (e.g. 90). "
                          f"Got {bad[0]!r:.60}.")
    return sorted({float(lv): lv for lv in levels}.values(), key=float)


def _conformal(model, state: Preprocessing):
    """The interval widths that forecast with ``model``: a deployed baseline's own, else
    the run's (the network's)."""
    from forecaster.models.baseline_state import DeployedBaseline

    return model.conformal if isinstance(model, DeployedBaseline) else state.conformal


def _residuals(model, state: Preprocessing):
    """The calibration residuals of :func:`_conformal`'s widths (None: not stored)."""
    from forecaster.models.baseline_state import DeployedBaseline

    return model.residuals if isinstance(model, DeployedBaseline) else state.residuals


def _forecast(model, state: Preprocessing, horizon: int, levels, ahead=None, *,
              quantiles=(), allow_negative: bool = False) -> tuple[pd.DataFrame, list]:
    """:func:`forecast_from` once its arguments are checked; ``ahead`` (per series, the
    future covariates after its end) for a run with covariates."""
    from forecaster.models.baseline_state import DeployedBaseline

    if isinstance(model, DeployedBaseline):
        values, notes = model.forecast(state.context_panel(ahead), horizon)
    else:
        values, notes = _network_forecast(model, state, horizon, ahead)
    conformal = _conformal(model, state)
    frame = forecast_to_frame(state.context_panel(), values)
    if conformal:
        frame, more = _bands(frame, conformal, _residuals(model, state), state, levels,
                             quantiles)
        notes += more
        if horizon > state.horizon:
            notes.append("intervals beyond the trained horizon are widened by sqrt(h/H) and "
                         "were not calibrated on data.")
    else:
        from forecaster.evaluation.intervals import add_quantiles

        frame = add_quantiles(frame, quantiles)  # the median only (checked before)
        notes.append("this run has no backtest, so the forecast has no intervals.")
    if state.nonnegative and not allow_negative:
        frame = clip_nonnegative(frame)
    return frame.drop(columns=["step"]), notes


def _bands(frame: pd.DataFrame, conformal: dict, residuals, state: Preprocessing, levels,
           quantiles) -> tuple[pd.DataFrame, list]:
    """``(frame, notes)``: the forecast ``frame`` with the bounds of ``levels`` (None: the
    calibrated ones, those too short of residuals left out with a note) and the
    ``q_<p>`` columns of ``quantiles``; a level or quantile asked for that the stored
    residuals cannot give is a :class:`ConfigError` saying how many origins it needs."""
    from forecaster.evaluation.intervals import (ConformalIntervals, add_quantiles,
                                                 quantile_level)

    scales = {s.id: s.band_scale for s in state.series}
    bands, notes = ConformalIntervals.from_json(conformal, residuals), []
    if levels is None:
        out, notes = drop_unbounded(bands.predict(frame, scales), bands)
    else:  # an empty list: no bands
        out = bands.at_levels(levels).predict(frame, scales) if levels else frame
    asked = sorted({float(lv): lv for lv in (quantile_level(p)[0] for p in quantiles)
                    if lv != 0}.values(), key=float)
    if quantiles:
        bounded = bands.at_levels(asked).predict(frame, scales) if asked else frame
        bounded = add_quantiles(bounded, quantiles)
        names = [c for c in bounded.columns if c.startswith("q_")]
        out = pd.concat([out, bounded[names]], axis=1)
    return out, notes


def clip_nonnegative(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its forecast, bounds and quantiles clipped at 0: data whose every
    training value is ``>= 0`` (counts, demand) get no negative forecast or bound."""
    out = frame.copy()
    for col in out.columns:
        if col == "forecast" or col.startswith(("lower_", "upper_", "q_")):
            out[col] = np.maximum(out[col].to_numpy(float), 0.0)
    return out


def _network_forecast(model, state: Preprocessing, horizon: int,
                      ahead) -> tuple[np.ndarray, list]:
    """The RNN's ``(values, notes)`` from the stored contexts: directly up to the trained
    horizon, recursively beyond it; a context that left its series' scale (new data with
    a zero on the log scale) on the standard scale fitted on it, with a note."""
    notes, covariates = [], None
    if state.encoder is not None:
        from forecaster.data.features import CovariateContext

        covariates = CovariateContext.of(state.encoder, state.context_panel(ahead),
                                         window=state.window, horizon=state.horizon,
                                         steps=horizon)
    values = forecast_values(model, state.scaler(), range(len(state.series)),
                             [s.context for s in state.series], window=state.window,
                             model_horizon=state.horizon, steps=horizon,
                             level=state.level, ids=[s.id for s in state.series],
                             covariates=covariates,
                             season=scale_step(state.season),
                             notes=notes)
    if horizon > state.horizon:
        notes.append(f"horizon {horizon} exceeds the trained horizon {state.horizon}: steps "
                     f"{state.horizon + 1}–{horizon} are forecast recursively from the "
                     "model's own forecasts.")
    return values, notes


def drop_unbounded(frame: pd.DataFrame, bands=None) -> tuple[pd.DataFrame, list]:
    """Remove interval columns of levels the backtest could not calibrate (infinite
    bounds: too few residuals per step), returning a note for each (with ``bands``, the
    :class:`~forecaster.evaluation.intervals.ConformalIntervals` that gave them, saying
    how many origins the level needs)."""
    notes = []
    for col in [c for c in frame.columns if c.startswith("lower_")]:
        level = col[len("lower_"):]
        if not np.all(np.isfinite(frame[col])) or not np.all(np.isfinite(frame[f"upper_{level}"])):
            frame = frame.drop(columns=[col, f"upper_{level}"])
            if bands is None or getattr(bands, "scores_", None) is None:
                notes.append(f"{level}% intervals are left out: the backtest has too few "
                             "residuals per step to calibrate them (use more --origins or "
                             "data).")
            else:
                notes.append(f"{level}% intervals are left out: {bands.too_few(level)}.")
    return frame, notes


def _check_dates(state: Preprocessing, horizon: int) -> None:
    """Every forecast date must exist before any work: files carry four-digit years (up to
    9999-12-31), and pandas cannot hold some dates (2262-04-11 at nanosecond resolution)."""
    panel = state.context_panel()
    for i, sid in enumerate(panel.ids):
        try:
            last = panel.axis.shift(panel.end(i), horizon)
            limit = "9999-12-31" if panel.axis.is_datetime and last.year > 9999 else None
        except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
            limit = "the last date pandas can represent"
        if limit:
            raise ConfigError(f"`--horizon` {horizon} runs past {limit} for series {sid!r}; "
                              "forecast fewer steps.")


def _check_model(model, state: Preprocessing, run_dir: Path) -> None:
    shape_in = tuple(model.input_shape[1:]) if hasattr(model, "input_shape") else None
    shape_out = tuple(model.output_shape[1:]) if hasattr(model, "output_shape") else None
    want = (state.window, 1)
    if state.encoder is not None:
        layout = state.encoder.layout()
        want = (state.window + (state.horizon if layout.horizon_rows else 0), layout.channels)
    if shape_in != want or shape_out != (state.horizon,):
        raise artifacts.ArtifactError(
            f"model.keras in run {run_dir.name!r} does not match preprocessing.json: input "
            f"{shape_in}, output {shape_out}; expected {want} → ({state.horizon},).")


def format_frame(frame: pd.DataFrame, state: Preprocessing) -> pd.DataFrame:
    """Timestamps as ISO strings, for CSV/JSON output and printing."""
    out = frame.copy()
    out["timestamp"] = state.axis.format_all(out["timestamp"])
    return out


def write_forecast(pred: Prediction, path: Path, fmt: str, layout: str = "forecaster",
                   model: str = "rnn") -> Path:
    """Write the forecast atomically (temp file + rename) as csv, json or parquet, its
    columns named as ``layout`` names them (``"nixtla"``: Nixtla's, the forecast columns
    after ``model``, see :func:`~forecaster.pipeline.nixtla.laid_out`)."""
    if fmt not in FORMATS:
        raise ConfigError(f"`--format` must be one of {', '.join(FORMATS)}. Got {fmt!r}.")
    laid_out(pred.frame.iloc[:0], layout, model)  # a wrong layout: an error before writing
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with artifacts.atomic_path(path) as tmp:
            if fmt == "csv":
                text = artifacts.spreadsheet_safe(format_frame(pred.frame, pred.state))
                laid_out(text, layout, model).to_csv(tmp, index=False)
            elif fmt == "json":
                laid_out(format_frame(pred.frame, pred.state), layout, model).to_json(
                    tmp, orient="records", indent=1, double_precision=15)
            else:  # typed columns: timestamps stay timestamps (or integer steps)
                laid_out(pred.frame, layout, model).to_parquet(tmp, index=False)
    except OSError as exc:
        raise ForecastError(f"cannot write {str(path)!r}: {exc.strerror or exc}.") from None
    return path
