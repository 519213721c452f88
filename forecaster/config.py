"""Typed configuration: ``default.toml`` ← ``--config FILE`` ← command-line flags.

Config flows one way.  :func:`load_config` reads the packaged defaults
(``forecaster/default.toml``, also visible as ``configs/default.toml``), overlays a named
profile if one is chosen (``forecaster/profiles/``: ``quick``), then a user file, then
flags, and validates every value once with a message of the shape
"`model.units` must be >= 1. Got 0.".  The resolved config is saved in every run as
``config.toml`` (:func:`dump_toml`) and can be read back with :func:`load_config`.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecaster.choices import (AGGREGATES as AGGREGATE_CHOICES, ANCHORS, DEVICES,
                                DISTRIBUTE, FILLS, LOSSES, MODEL_KINDS, SCALINGS,
                                SELECTS)
from forecaster.errors import ConfigError

DEFAULT_PATH = Path(__file__).with_name("default.toml")
PROFILES_DIR = Path(__file__).with_name("profiles")
#: Named overlays of the defaults (``--profile NAME``; ``default`` changes nothing).
PROFILES = ("default", "quick")
AGGREGATES = ("",) + AGGREGATE_CHOICES  # "" refuses duplicated timestamps
CALENDARS = ("none", "auto")  # generated calendar features: none, or by the frequency


@dataclass
class DataConfig:
    target: str
    time_col: str
    id_col: str
    freq: str
    dayfirst: bool
    monthfirst: bool
    fill: str
    max_gap: int
    aggregate: str
    past_covariates: list
    future_covariates: list
    static_covariates: list
    calendar: str
    holidays: str
    fill_covariates: list
    wide: bool


@dataclass
class ModelConfig:
    kind: str
    units: int
    layers: int
    window: int
    horizon: int
    relative: bool
    scaling: str
    ensemble: int
    max_lookback: int
    anchor: str


@dataclass
class TrainingConfig:
    epochs: int
    batch_size: int
    learning_rate: float
    loss: str
    clipnorm: float
    patience: int
    validation: float
    max_windows: int
    seed: int
    device: str
    distribute: str


@dataclass
class EvaluationConfig:
    backtest: bool
    origins: int
    folds: int
    levels: list
    season: int
    select: str


@dataclass
class OutputConfig:
    runs_dir: str


@dataclass
class TrackingConfig:
    mlflow_uri: str  # "" = no tracking (forecaster.runs.tracking)


@dataclass
class Config:
    data: DataConfig
    model: ModelConfig
    training: TrainingConfig
    evaluation: EvaluationConfig
    output: OutputConfig
    tracking: TrackingConfig

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, section: str, **values) -> "Config":
        """A copy with ``section.key = value`` for each keyword (validated)."""
        data = self.to_dict()
        data[section].update(values)
        return _from_dict(data)


_SECTIONS = {
    "data": DataConfig, "model": ModelConfig, "training": TrainingConfig,
    "evaluation": EvaluationConfig, "output": OutputConfig, "tracking": TrackingConfig,
}


#: every config key -> its section: keys are unique across sections, so a setting can be
#: named by its key alone, as the command line's flags and ``Forecaster(**settings)`` do
SETTINGS = {f.name: section for section, cls in _SECTIONS.items()
            for f in dataclasses.fields(cls)}
assert len(SETTINGS) == sum(len(dataclasses.fields(c)) for c in _SECTIONS.values())


def settings_overrides(settings: dict) -> dict:
    """``{key: value}`` (``units=32``, ``learning_rate=1e-3``, ``season=12``) as the
    ``{section: {key: value}}`` overrides of :func:`load_config`; ``None`` means not set.
    An unknown key is a :class:`ConfigError` listing the known ones."""
    out: dict = {}
    for key, value in settings.items():
        if key not in SETTINGS:
            raise ConfigError(f"unknown setting {key!r}. Known settings: "
                              f"{', '.join(sorted(SETTINGS))}.")
        out.setdefault(SETTINGS[key], {})[key] = value
    return out


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc}.") from None


def _merge(base: dict, override: dict, origin: str) -> dict:
    out = {k: dict(v) for k, v in base.items()}
    for section, values in override.items():
        if section not in out:
            raise ConfigError(
                f"unknown config section [{section}] in {origin}. "
                f"Known sections: {', '.join(sorted(out))}.")
        if not isinstance(values, dict):
            raise ConfigError(f"[{section}] in {origin} must be a table. Got {values!r}.")
        for key, value in values.items():
            if key not in out[section]:
                raise ConfigError(
                    f"unknown key `{section}.{key}` in {origin}. "
                    f"Known keys: {', '.join(sorted(out[section]))}.")
            if value is not None:
                out[section][key] = value
    return out


def _coerce(name: str, value: Any, like: Any):
    """Coerce ``value`` to the type of the default ``like`` with a clear message."""
    if isinstance(like, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"`{name}` must be true or false. Got {value!r}.")
    if isinstance(like, int):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"`{name}` must be an integer. Got {value!r}.")
        return value
    if isinstance(like, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"`{name}` must be a number. Got {value!r}.")
        return float(value)
    if isinstance(like, str):
        if not isinstance(value, str):
            raise ConfigError(f"`{name}` must be a string. Got {value!r}.")
        return value
    if isinstance(like, list):
        if isinstance(value, str) and name.endswith("_covariates"):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, dict) and name == "data.fill_covariates":
            return [f"{k}={v}" for k, v in value.items()]   # {column: policy}
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"`{name}` must be a list. Got {value!r}.")
        return list(value)
    return value


def _check(cond: bool, name: str, expectation: str, value) -> None:
    if not cond:
        raise ConfigError(f"`{name}` must be {expectation}. Got {value!r}.")


def _validate(cfg: Config) -> None:
    m, t, e, d = cfg.model, cfg.training, cfg.evaluation, cfg.data
    _check(m.kind in MODEL_KINDS, "model.kind", "one of " + ", ".join(MODEL_KINDS), m.kind)
    _check(1 <= m.units <= 4096, "model.units", "between 1 and 4096", m.units)
    _check(1 <= m.layers <= 8, "model.layers", "between 1 and 8", m.layers)
    _check(m.window == 0 or 1 <= m.window <= 10_000, "model.window",
           "0 (automatic) or between 1 and 10000", m.window)
    _check(m.horizon == 0 or 1 <= m.horizon <= 10_000, "model.horizon",
           "0 (automatic) or between 1 and 10000", m.horizon)
    _check(m.scaling in SCALINGS, "model.scaling", "one of " + ", ".join(SCALINGS), m.scaling)
    _check(1 <= m.ensemble <= 32, "model.ensemble", "between 1 and 32", m.ensemble)
    _check(m.max_lookback == 0 or 1 <= m.max_lookback <= 10_000, "model.max_lookback",
           "0 (automatic) or between 1 and 10000", m.max_lookback)
    _check(m.anchor in ANCHORS, "model.anchor", "one of " + ", ".join(ANCHORS), m.anchor)
    _check(t.loss in LOSSES, "training.loss", "one of " + ", ".join(LOSSES), t.loss)
    _check(t.epochs >= 1, "training.epochs", ">= 1", t.epochs)
    _check(t.batch_size >= 0, "training.batch_size", "0 (automatic) or >= 1", t.batch_size)
    _check(0 < t.learning_rate <= 10, "training.learning_rate", "in (0, 10]", t.learning_rate)
    _check(t.clipnorm > 0, "training.clipnorm", "> 0", t.clipnorm)
    _check(t.patience >= 1, "training.patience", ">= 1", t.patience)
    _check(0 < t.validation < 0.9, "training.validation", "in (0, 0.9)", t.validation)
    _check(t.max_windows >= 0, "training.max_windows", ">= 0", t.max_windows)
    _check(0 <= t.seed < 2**32, "training.seed", "between 0 and 2**32-1", t.seed)
    _check(t.device in DEVICES, "training.device", "one of " + ", ".join(DEVICES), t.device)
    _check(t.distribute in DISTRIBUTE, "training.distribute",
           "one of " + ", ".join(DISTRIBUTE), t.distribute)
    _check(e.origins >= 1, "evaluation.origins", ">= 1", e.origins)
    _check(e.folds >= 1, "evaluation.folds", ">= 1", e.folds)
    _check(e.season >= 0, "evaluation.season", ">= 0", e.season)
    _check(e.select in SELECTS, "evaluation.select", "one of " + ", ".join(SELECTS), e.select)
    _check(len(e.levels) >= 1 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                      and 0 < x < 100 for x in e.levels),
           "evaluation.levels", "a list of percentages between 0 and 100", e.levels)
    e.levels = sorted({int(x) if float(x).is_integer() else float(x) for x in e.levels})
    _check(d.fill in FILLS, "data.fill", "one of " + ", ".join(FILLS), d.fill)
    covariate_roles(d.past_covariates, d.future_covariates, d.static_covariates,
                    d.calendar, d.holidays)  # raises a ConfigError naming the problem
    fill_policies(d.fill_covariates)
    _check(d.aggregate in AGGREGATES, "data.aggregate",
           "one of " + ", ".join(a or '""' for a in AGGREGATES), d.aggregate)
    _check(d.max_gap >= 0, "data.max_gap", ">= 0", d.max_gap)
    uri = cfg.tracking.mlflow_uri
    _check(uri == uri.strip() and uri.isprintable(), "tracking.mlflow_uri",
           "an MLflow tracking URI such as sqlite:///mlflow.db (or \"\" for none)", uri)
    if d.dayfirst and d.monthfirst:
        raise ConfigError("`data.dayfirst` and `data.monthfirst` cannot both be true.")


def _from_dict(data: dict, defaults: dict | None = None) -> Config:
    defaults = defaults or _read_toml(DEFAULT_PATH)
    sections = {}
    for section, cls in _SECTIONS.items():
        values = {}
        for f in dataclasses.fields(cls):
            name = f"{section}.{f.name}"
            values[f.name] = _coerce(name, data[section][f.name], defaults[section][f.name])
        sections[section] = cls(**values)
    cfg = Config(**sections)
    _validate(cfg)
    return cfg


def load_config(path: str | Path | None = None, overrides: dict | None = None,
                profile: str = "default") -> Config:
    """Defaults ← ``profile`` (a packaged overlay, ``forecaster/profiles/NAME.toml``) ←
    ``path`` (a TOML file) ← ``overrides`` (``{section: {key: value}}``; ``None`` values
    are ignored so unset CLI flags fall through)."""
    if profile not in PROFILES:
        raise ConfigError(f"`profile` must be one of {', '.join(PROFILES)}. Got {profile!r}.")
    defaults = _read_toml(DEFAULT_PATH)
    merged = defaults
    if profile != "default":
        merged = _merge(merged, _read_toml(PROFILES_DIR / f"{profile}.toml"),
                        f"profile {profile!r}")
    if path is not None:
        merged = _merge(merged, _read_toml(Path(path)), f"config file {str(path)!r}")
    if overrides:
        merged = _merge(merged, overrides, "command-line flags")
    return _from_dict(merged, defaults)


_SHIPPED: Config | None = None


def shipped() -> Config:
    """The shipped defaults (``default.toml``, no profile): the one place every default
    comes from, the model classes' constructor defaults included.  Read once; callers
    must not modify it (:meth:`Config.replace` returns a copy)."""
    global _SHIPPED
    if _SHIPPED is None:
        _SHIPPED = load_config()
    return _SHIPPED


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        escaped = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped)
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump_toml(cfg: Config) -> str:
    """The resolved config as TOML text (round-trips through :func:`load_config`)."""
    lines = []
    for section, values in cfg.to_dict().items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


# -- covariate settings: checked here, before any data is read --------------------

def covariate_roles(past=None, future=None, static=None, calendar="none", holidays=None):
    """The covariate settings validated: ``(past, future, static, calendar, holidays)`` with
    names from lists or comma-separated strings, no column in two roles, a known calendar
    mode and a holiday country the ``holidays`` package knows (a :class:`ConfigError`
    otherwise).  :class:`~forecaster.data.covariates.CovariateSpec` is built from them."""
    past = _names(past, "past_covariates")
    future = _names(future, "future_covariates")
    static = _names(static, "static_covariates")
    seen: dict[str, str] = {}
    for role, names in (("past", past), ("future", future), ("static", static)):
        for name in names:
            if name in seen:
                raise ConfigError(f"column {name!r} is given two roles ({seen[name]} and "
                                  f"{role} covariate); give it one.")
            seen[name] = role
    cal = str(calendar or "none").strip().lower()
    if cal not in CALENDARS:
        raise ConfigError(f"`calendar` must be one of {', '.join(CALENDARS)}. "
                          f"Got {calendar!r}.")
    country = str(holidays).strip() if holidays else None
    if country:
        holiday_calendar(country, [2000])  # raises a ConfigError for an unknown country
    return past, future, static, cal, country or None


def fill_policies(value) -> dict[str, str]:
    """``{column: fill}`` of the ``fill_covariates`` setting: a ``{column: fill}`` table,
    ``"col=ffill,col2=interpolate"`` or a list of such entries, each fill one of
    :data:`~forecaster.choices.FILLS` (a :class:`ConfigError` otherwise).  Columns not
    named get the default policy (:func:`forecaster.data.options.covariate_fill`)."""
    if isinstance(value, dict):
        value = [f"{k}={v}" for k, v in value.items()]
    out: dict[str, str] = {}
    for entry in _names(value, "fill_covariates"):
        column, sep, fill = (part.strip() for part in entry.partition("="))
        if not sep or not column or fill.lower() not in FILLS:
            raise ConfigError(f"`fill_covariates` entries must be COLUMN=FILL with FILL one "
                              f"of {', '.join(FILLS)}. Got {entry!r}.")
        if out.get(column, fill.lower()) != fill.lower():
            raise ConfigError(f"`fill_covariates` gives column {column!r} two fills "
                              f"({out[column]} and {fill.lower()}); give it one.")
        out[column] = fill.lower()
    return out


def _names(value, what: str) -> tuple[str, ...]:
    """Column names from a list or a comma-separated string (empty entries dropped)."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ConfigError(f"`{what}` must be a list of column names or a comma-separated "
                          f"string. Got {value!r}.")
    out = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"`{what}` must hold column names. Got {item!r}.")
        name = item.strip()
        if name and name not in out:
            out.append(name)
    return tuple(out)


def holiday_calendar(country: str, years):
    """The ``holidays`` package's calendar of ``country`` (``"US"``, or ``"US-DC"`` for a
    subdivision) over ``years``; an unknown country is a :class:`ConfigError`."""
    try:
        import holidays
    except ImportError:  # pragma: no cover - a declared dependency
        raise ConfigError("--holidays needs the `holidays` package (pip install holidays).")
    code, _, subdiv = str(country).partition("-")
    try:
        return holidays.country_holidays(code.upper(), subdiv=subdiv.upper() or None,
                                          years=sorted({int(y) for y in years}))
    except (NotImplementedError, KeyError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ConfigError(f"--holidays: {country!r} is not a country (or subdivision) the "
                          f"`holidays` package knows ({detail}); use an ISO code such as US, "
                          "DE, FR or US-DC.") from None
