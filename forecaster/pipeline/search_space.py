"""What ``forecast tune`` searches: one :class:`Param` per setting, from the defaults
sized to the data or from a ``--space`` TOML file.

A space file names settings as the config does, flat (``units``, ``learning_rate`` …)::

    units = [16, 32, 64]                                 # choices
    learning_rate = {low = 1e-4, high = 1e-2, log = true}  # a range (log-uniform)
    window = {low = 12, high = 48, step = 12}            # an integer range on a grid
    kind = "tanh_cell"                                   # fixed: not searched

Keys it names replace the default's; the others keep their default ranges, unless the
file says ``only = true``, which searches the file's settings alone.  Every value is
checked once, here: an unknown setting, a choice the config would refuse, a range with
``low > high`` or a non-positive bound on a log scale is a one-line
:class:`~forecaster.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from forecaster import choices
from forecaster.errors import ConfigError

#: the settings a search may vary, with their kind (a space file may name only these)
TUNABLE = {
    "kind": str, "units": int, "layers": int, "window": int, "max_lookback": int,
    "ensemble": int, "anchor": str, "scaling": str,
    "learning_rate": float, "batch_size": int, "loss": str,
}
ALLOWED = {"kind": choices.MODEL_KINDS, "anchor": choices.ANCHORS,
           "scaling": choices.SCALINGS, "loss": choices.LOSSES}
#: smallest value of each integer setting (0 means "automatic" where the config allows it)
MINIMUM = {"units": 1, "layers": 1, "window": 0, "max_lookback": 0, "ensemble": 1,
           "batch_size": 0}


@dataclass(frozen=True)
class Param:
    """One searched setting: ``choices`` (categorical), or ``low``/``high`` (``log``:
    log-uniform; ``step``: an integer or float grid)."""

    name: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None

    def suggest(self, trial):
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if TUNABLE[self.name] is int:
            return trial.suggest_int(self.name, int(self.low), int(self.high),
                                     step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high),
                                   step=self.step, log=self.log)

    def contains(self, value) -> bool:
        if self.choices is not None:
            return value in self.choices
        if not self.low <= value <= self.high:
            return False
        return not self.step or abs((value - self.low) / self.step
                                    - round((value - self.low) / self.step)) < 1e-9

    def describe(self) -> str:
        if self.choices is not None:
            return f"{self.name} ∈ {{{', '.join(map(str, self.choices))}}}"
        return (f"{self.name} ∈ [{self.low:g}, {self.high:g}]"
                + (" log" if self.log else "") + (f" step {self.step:g}" if self.step else ""))


@dataclass(frozen=True)
class SearchSpace:
    params: tuple  # of Param
    fixed: tuple = ()  # (key, value): set in every trial, not searched

    def suggest(self, trial) -> dict:
        return {**dict(self.fixed), **{p.name: p.suggest(trial) for p in self.params}}

    def describe(self) -> list[str]:
        return [p.describe() for p in self.params] + [f"{k} = {v}" for k, v in self.fixed]

    def start(self, cfg, window: int = 0) -> dict | None:
        """``cfg``'s own values of the searched settings, when every one lies in the space
        (the search's first trial, so that its table shows where it started); else None.
        An automatic window (0) counts as ``window``, the one it resolves to."""
        from forecaster.config import SETTINGS

        values = {p.name: getattr(getattr(cfg, SETTINGS[p.name]), p.name) for p in self.params}
        if values.get("window") == 0 and window:
            values["window"] = int(window)
        return values if all(p.contains(values[p.name]) for p in self.params) else None


def default_space(window: int, season: int | None) -> SearchSpace:
    """The default search around the shipped recipe: ``window`` is the input window the
    data give by default, ``season`` the seasonal period (1 or None: none)."""
    m = season if season and season > 1 else 0
    windows = sorted({w for w in (window // 2, window, window + (m or window // 2),
                                  2 * window) if w >= 2})
    lookbacks = sorted({0, window, *([2 * window, 4 * m] if m else [2 * window])})
    return SearchSpace(params=(
        Param("kind", choices=("tanh_cell", "gru", "lstm")),
        Param("units", choices=(16, 32, 64, 128)),
        Param("layers", choices=(1, 2)),
        Param("window", choices=tuple(windows)),
        Param("max_lookback", choices=tuple(lookbacks)),
        Param("learning_rate", low=3e-4, high=3e-3, log=True),
        Param("batch_size", choices=(0, 32, 64, 128)),
        Param("ensemble", choices=(1, 3, 5, 10)),
        Param("loss", choices=("huber", "mse", "mae")),
        Param("anchor", choices=("level", "season", "mixed")),
        Param("scaling", choices=("auto", "log", "standard")),
    ))


def quick_space(window: int, season: int | None) -> SearchSpace:
    """The search of ``--quick`` (``--profile quick``: 60 epochs, patience 5): the default
    space narrowed to cheap settings — at most 3 members, one layer of at most 64 units, a
    window of at most ``w`` — which still holds the quick profile's own configuration
    (trial 0)."""
    narrow = {"units": (16, 32, 64), "layers": (1,), "ensemble": (1, 3)}
    params = []
    for p in default_space(window, season).params:
        if p.name in narrow:
            p = Param(p.name, choices=narrow[p.name])
        elif p.name == "window":
            p = Param(p.name, choices=tuple(w for w in p.choices if w <= window))
        params.append(p)
    return SearchSpace(params=tuple(params))


def read_space(path, base: SearchSpace) -> SearchSpace:
    """``base`` narrowed or widened by the TOML file at ``path`` (see the module doc)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"--space file {str(path)!r} does not exist.") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"--space file {str(path)!r} is not valid TOML: {exc}.") from None
    return parse_space(raw, base, where=f"--space {path.name}")


def parse_space(raw: dict, base: SearchSpace, where: str = "space") -> SearchSpace:
    only = raw.pop("only", False)
    if not isinstance(only, bool):
        raise ConfigError(f"{where}: `only` must be true or false. Got {only!r}.")
    params = {} if only else {p.name: p for p in base.params}
    fixed = {} if only else dict(base.fixed)
    for key, value in raw.items():
        if key not in TUNABLE:
            raise ConfigError(f"{where}: `{key}` is not a setting the search can vary; "
                              f"choose from {', '.join(TUNABLE)}.")
        params.pop(key, None)
        fixed.pop(key, None)
        if isinstance(value, list):
            params[key] = Param(key, choices=tuple(_check_value(key, v, where) for v in
                                                   _nonempty(key, value, where)))
        elif isinstance(value, dict):
            params[key] = _range(key, value, where)
        else:
            fixed[key] = _check_value(key, value, where)
    if not params:
        raise ConfigError(f"{where}: nothing left to search (every setting is fixed).")
    return SearchSpace(params=tuple(params.values()), fixed=tuple(fixed.items()))


def _nonempty(key, values, where):
    if not values:
        raise ConfigError(f"{where}: `{key}` lists no choices.")
    if len(set(map(repr, values))) != len(values):
        raise ConfigError(f"{where}: `{key}` repeats a choice: {values!r}.")
    return values


def _check_value(key, value, where):
    kind = TUNABLE[key]
    ok = (isinstance(value, str) if kind is str else
          isinstance(value, int) and not isinstance(value, bool) if kind is int else
          isinstance(value, (int, float)) and not isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{where}: `{key}` takes {kind.__name__} values. Got {value!r}.")
    if key in ALLOWED and value not in ALLOWED[key]:
        raise ConfigError(f"{where}: `{key}` must be one of {', '.join(ALLOWED[key])}. "
                          f"Got {value!r}.")
    if kind is int and value < MINIMUM[key]:
        raise ConfigError(f"{where}: `{key}` must be >= {MINIMUM[key]}. Got {value}.")
    if kind is float and not value > 0:
        raise ConfigError(f"{where}: `{key}` must be > 0. Got {value}.")
    return float(value) if kind is float else value


def _range(key, spec: dict, where) -> Param:
    if TUNABLE[key] is str:
        raise ConfigError(f"{where}: `{key}` takes a list of choices, not a range.")
    unknown = set(spec) - {"low", "high", "log", "step"}
    if unknown or not {"low", "high"} <= set(spec):
        raise ConfigError(f"{where}: `{key}` needs a range {{low = …, high = …}} with "
                          f"optional `log` and `step`. Got {spec!r}.")
    low, high = (_check_value(key, spec[k], where) for k in ("low", "high"))
    log, step = spec.get("log", False), spec.get("step")
    if low > high:
        raise ConfigError(f"{where}: `{key}` has low {low} > high {high}.")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: `{key}`.log must be true or false. Got {log!r}.")
    if log and low <= 0:
        raise ConfigError(f"{where}: `{key}` needs low > 0 on a log scale. Got {low}.")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0 or (
                TUNABLE[key] is int and not isinstance(step, int)):
            raise ConfigError(f"{where}: `{key}`.step must be a positive "
                              f"{TUNABLE[key].__name__}. Got {step!r}.")
        if log:
            raise ConfigError(f"{where}: `{key}` cannot have both `log` and `step`.")
    return Param(key, low=low, high=high, log=log, step=step)
