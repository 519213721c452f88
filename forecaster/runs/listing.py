"""``forecast runs``: the saved runs of a runs directory, listed and compared.

TensorFlow-free and cheap: a listing reads only each run's small JSON files (run.json,
data.json, metrics.json) and stats its files; it never loads a model or hashes one.  A
folder that looks like a run (a run id's ``YYYYmmdd-HHMMSS`` name, or one of a run's
files) but cannot be read is listed as a row with its error rather than stopping the
listing: the point of the command is to find such runs.  Staging directories
(``.tmp-*``), other hidden entries and forecaster's own subfolders (``evaluations/``,
``tune/``) are not runs and are skipped.

Each run's records are read through their one schema
(:class:`~forecaster.runs.record.RunInfo`, :class:`~forecaster.runs.record.DataInfo`), so
a run whose run.json or data.json ``forecast predict`` would refuse is listed as broken.
The backtest MASE of a row is the deployed model's (run.json's ``deployed``, written by
``forecast train --select best``), else the RNN's.  :func:`compare_runs` puts two runs'
resolved configs (config.toml) and backtest leaderboards side by side.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from forecaster.runs import artifacts
from forecaster.runs.ids import resolve_run
from forecaster.errors import ForecastError

RUN_NAME = re.compile(r"\d{8}-\d{6}(-|$)")
#: the few run.json fields a comparison shows above the config
RUN_FIELDS = ("created", "model", "deployed", "window", "horizon", "season", "epochs_run",
              "best_epoch", "val_loss", "forecaster_version")


@dataclass
class RunRow:
    """One line of ``forecast runs``; ``error`` says why a run could not be read."""

    id: str
    created: str | None = None
    data: str | None = None
    model: str | None = None
    mase: float | None = None
    bytes: int = 0
    error: str | None = None
    latest: bool = False  # the run runs/latest names (what predict uses by default)

    def to_json(self) -> dict:
        return asdict(self)


def _is_run_like(path: Path) -> bool:
    return bool(RUN_NAME.match(path.name)) or any(
        os.path.lexists(path / name) for name in artifacts.REQUIRED)


def list_runs(runs_dir) -> list[RunRow]:
    """Every run (and run-like broken folder) in ``runs_dir``, newest first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise ForecastError(f"no runs directory {str(runs_dir)!r}. Train a run first: "
                            "forecast train DATA.csv")
    try:
        latest = resolve_run(runs_dir, artifacts.LATEST).name
    except ForecastError:  # no pointer yet, or it names a missing or broken run
        latest = None
    rows = []
    for entry in runs_dir.iterdir():
        if entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
            continue  # staging (.tmp-*), hidden, latest, tune.db, links
        if _is_run_like(entry):
            rows.append(read_row(entry))
            rows[-1].latest = entry.name == latest
    return sorted(rows, key=lambda r: (r.created or "", r.id), reverse=True)


def read_row(run_dir: Path) -> RunRow:
    """The row of ``run_dir``; a :class:`RunRow` with ``error`` set when it is broken."""
    from forecaster.runs.record import DataInfo  # numpy and pandas: not for --help

    row = RunRow(id=run_dir.name, bytes=folder_bytes(run_dir))
    try:
        info = _run_info(run_dir)  # its date even when incomplete
        row.created = _text(info.created)
        row.model = _text(info.forecasts_with)
        missing = [f for f in artifacts.REQUIRED if not os.path.lexists(run_dir / f)]
        if missing:
            raise ForecastError(f"incomplete: missing {', '.join(missing)}")
        row.data = _data_name(DataInfo.read(run_dir))
        row.mase = deployed_mase(_optional_json(run_dir / "metrics.json"), info.deployed)
    except (ForecastError, OSError) as exc:
        row.error = " ".join(str(exc).split())[:300] or type(exc).__name__
    if row.created is None:  # sorted by when the folder was last written instead
        row.created = datetime.fromtimestamp(run_dir.stat().st_mtime, timezone.utc) \
            .isoformat(timespec="seconds")
    return row


def _run_info(run_dir: Path):
    """run.json as a :class:`~forecaster.runs.record.RunInfo` (all ``None`` when the
    file is missing: the run is then listed as incomplete)."""
    from forecaster.runs.record import RunInfo

    return RunInfo.from_json(_optional_json(run_dir / "run.json"),
                             f"run.json in run {run_dir.name!r}")


def _data_name(data) -> str | None:
    """The data file's name a row shows, from data.json (None without one)."""
    return None if data is None else _text(data.name) or _text(data.path)


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _optional_json(path: Path) -> dict:
    return artifacts.read_json(path) if os.path.lexists(path) else {}


def deployed_mase(metrics: dict, deployed: str | None) -> float | None:
    """The backtest MASE of the ``deployed`` model (run.json's; None: ``rnn``), or None."""
    wanted = _text(deployed) or "rnn"
    for row in metrics.get("leaderboard") or []:
        if isinstance(row, dict) and row.get("model") == wanted:
            value = row.get("mase")
            if isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and math.isfinite(value):
                return float(value)
    return None


def folder_bytes(path: Path) -> int:
    """Bytes of the regular files under ``path`` (links not followed)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                info = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total


# -- presentation -----------------------------------------------------------------------------
def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def _when(created: str | None) -> str:
    return (created or "-").replace("T", " ")[:16]


def format_runs(rows: list[RunRow]) -> str:
    """The listing as a plain-text table, ``*`` marking the latest run (a broken run's
    error in place of its data)."""
    if not rows:
        return "no runs."
    head = ("id", "created (UTC)", "data", "model", "MASE", "size")
    cells = []
    for r in rows:
        if r.error:
            cells.append((r.id, _when(r.created), f"BROKEN: {r.error}", "", "",
                          human_bytes(r.bytes)))
        else:
            cells.append((r.id, _when(r.created), r.data or "-", r.model or "-",
                          "-" if r.mase is None else f"{r.mase:.3f}", human_bytes(r.bytes)))
    # a broken row's message does not widen the data column
    widths = [max(len(head[i]), *(len(c[i]) for c, r in zip(cells, rows)
                                  if not (r.error and i == 2)))
              for i in range(len(head))]
    right = {4, 5}

    def line(values, mark=" ", broken=False):
        if broken:
            return mark + " " + "  ".join((values[0].ljust(widths[0]),
                                           values[1].ljust(widths[1]), values[2], values[5]))
        return mark + " " + "  ".join(v.rjust(w) if i in right else v.ljust(w)
                                      for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    return "\n".join([line(head)] + [line(c, "*" if r.latest else " ", bool(r.error))
                                     for c, r in zip(cells, rows)])


# -- comparison -------------------------------------------------------------------------------
@dataclass
class Comparison:
    """Two runs side by side: ``rows`` of ``(section, key, a, b)`` with values as text
    (``None`` where a run has no such key)."""

    a: str
    b: str
    rows: list
    notes: list

    def to_json(self) -> dict:
        return {"runs": [self.a, self.b], "notes": self.notes,
                "rows": [{"section": s, "key": k, "a": a, "b": b, "differs": a != b}
                         for s, k, a, b in self.rows]}

    def format(self) -> str:
        """Sections one after another; a ``*`` marks a value that differs."""
        wk = max([len(k) for _, k, _, _ in self.rows] + [3])
        wa = max([len(_show(a)) for _, _, a, _ in self.rows] + [len(self.a)])
        lines = [f"  {'':<{wk}}  {self.a:<{wa}}  {self.b}"]
        section = None
        for s, k, a, b in self.rows:
            if s != section:
                lines.append(f"[{s}]")
                section = s
            mark = "*" if a != b else " "
            lines.append(f"{mark} {k:<{wk}}  {_show(a):<{wa}}  {_show(b)}".rstrip())
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _show(value) -> str:
    return "-" if value is None else value


def _as_text(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_as_text(v) for v in value) + "]"
    return str(value) if value != "" else '""'


def _config(run_dir: Path) -> dict:
    """config.toml flattened to ``{"section.key": text}`` (as written, no defaults
    filled in: an older run shows what it was trained with)."""
    path = run_dir / "config.toml"
    artifacts.check_regular(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ForecastError(f"config.toml in run {run_dir.name!r} is not valid TOML: "
                            f"{exc}.") from None
    return {f"{section}.{key}": _as_text(value)
            for section, values in data.items() if isinstance(values, dict)
            for key, value in values.items()}


def _metrics(run_dir: Path) -> tuple[dict, dict | None]:
    """``({"<model>.<metric>": text}, protocol)`` of the run's backtest."""
    metrics = _optional_json(run_dir / "metrics.json")
    out = {}
    for row in metrics.get("leaderboard") or []:
        if isinstance(row, dict) and isinstance(row.get("model"), str):
            for name, value in row.items():
                if name != "model" and isinstance(value, (int, float, type(None))) \
                        and not isinstance(value, bool):
                    out[f"{row['model']}.{name}"] = "-" if value is None else f"{value:.4f}"
    return out, metrics.get("protocol")


def _side_by_side(section: str, a: dict, b: dict) -> list:
    keys = list(a) + [k for k in b if k not in a]
    return [(section, k, a.get(k), b.get(k)) for k in keys]


def compare_runs(runs_dir, a: str, b: str) -> Comparison:
    """Runs ``a`` and ``b`` (ids, ``latest`` or paths; resolved by
    :func:`forecaster.runs.ids.resolve_run`) side by side: a few run.json fields, the
    whole config, and every number of the backtest leaderboard."""
    dirs = [resolve_run(Path(runs_dir), run) for run in (a, b)]
    from forecaster.runs.record import DataInfo, RunInfo

    run_rows = []
    for d in dirs:
        info = RunInfo.from_json(artifacts.read_json(d / "run.json"),
                                 f"run.json in run {d.name!r}")
        values = {"data": _data_name(DataInfo.read(d))}
        values.update({k: _as_text(getattr(info, k)) for k in RUN_FIELDS
                       if getattr(info, k) is not None})
        run_rows.append(values)
    (ma, pa), (mb, pb) = (_metrics(d) for d in dirs)
    notes = []
    if dirs[0].resolve() == dirs[1].resolve():
        notes.append("both names resolve to the same run.")
    if pa and pb and pa != pb:
        changed = sorted(k for k in set(pa) | set(pb) if pa.get(k) != pb.get(k))
        notes.append(f"the backtests differ ({', '.join(changed)}): their metrics do not "
                     "compare like for like.")
    if not ma or not mb:
        notes.append("a run without a backtest has no leaderboard to compare.")
    rows = (_side_by_side("run", *run_rows)
            + _side_by_side("config", _config(dirs[0]), _config(dirs[1]))
            + _side_by_side("backtest", ma, mb))
    return Comparison(a=dirs[0].name, b=dirs[1].name, rows=rows, notes=notes)
