"""``forecast tune``: the command line of :mod:`forecaster.pipeline.tune` (registered on
the ``forecast`` group by :mod:`forecaster.cli`)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import click

from forecaster import choices
from forecaster.cli.context import log, prepare_runtime, state
from forecaster.cli.mlflow import log_tracking, open_tracking, tracking_options
from forecaster.cli.options import common_options, data_options, model_options, resolve_config
from forecaster.cli.signals import interruptible

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def tune_options(f):
    opts = [
        click.option("--trials", type=click.IntRange(min=1), default=20, show_default=True,
                     help="Finished trials the study should hold (a resumed study counts "
                          "the ones it has)."),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
                     help="Seconds the whole search may take; the trial running then is "
                          "pruned."),
        click.option("--metric", type=click.Choice(choices.TUNE_METRICS),
                     default="mase", show_default=True,
                     help="Backtest score to minimise (mean over series and folds)."),
        click.option("--storage", help="Optuna database URL (default: "
                                       "sqlite:///<runs-dir>/tune.db); postgresql://… "
                                       "lets several workers share the study."),
        click.option("--study", "study_name", help="Study name (default: the data file's "
                                                   "stem); the same name resumes it."),
        click.option("--space", "space_path", type=click.Path(dir_okay=False),
                     help="TOML file narrowing or widening the search space."),
        click.option("--holdout", type=click.IntRange(min=1),
                     help="Never show the search the last H points."),
        click.option("--folds", type=click.IntRange(min=1),
                     help="Backtest folds per trial (default: 3)."),
        click.option("--horizon", type=click.IntRange(min=1),
                     help="Steps scored per fold (default: --holdout, else one season)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("data", type=click.Path())
@data_options
@model_options
@tune_options
@click.option("--out", "out_path", type=click.Path(dir_okay=False),
              help="Where best.toml goes (default: <runs-dir>/tune/<study>/best.toml).")
@tracking_options
@common_options
@click.pass_context
def tune(ctx, data, trials, timeout, metric, storage, study_name, space_path, holdout, folds,
         horizon, out_path, **kw):
    """Search the RNN's configuration with Optuna on the backtest of DATA; write best.toml.

    \b
      forecast tune data.csv --trials 40              search, then
      forecast train data.csv --config runs/tune/data/best.toml
    """
    prepare_runtime(ctx)
    cfg = resolve_config(ctx, kw, horizon=horizon)
    tracker = open_tracking(cfg)  # a bad --mlflow fails before the first trial
    with interruptible():
        result, best = run_search(ctx, data, cfg, trials=trials, timeout=timeout,
                                  metric=metric, storage=storage, study_name=study_name,
                                  space_path=space_path, holdout=holdout, folds=folds,
                                  out_path=out_path)
    click.echo(result.table())
    if best is None and result.written_by is not None:
        return  # another worker wrote it, and logs the study
    if best is None:
        raise click.ClickException("no trial completed; nothing was written. See the trials' "
                                   "errors above, or widen --trials / --timeout.")
    click.echo(f"best.toml: {best}" if not state(ctx)["quiet"] else str(best))
    log_tracking(ctx, tracker, lambda client: _log_tune(client, cfg.tracking.mlflow_uri,
                                                        data, result, best), "best.toml")


def _log_tune(client, uri, data, result, best):
    """The study to MLflow with best.toml and a trials.csv of its own (the one beside
    best.toml may not be this study's when --out points elsewhere)."""
    from forecaster.pipeline.tune import log_study

    return log_study(uri, data, result, best=best, client=client)


def run_search(ctx, data, cfg, *, trials, timeout=None, metric="mase", storage=None,
               study_name=None, space_path=None, holdout=None, folds=None, out_path=None):
    """Plan, search and write best.toml (and trials.csv); ``(result, best.toml path or
    None)``: None when no trial completed, or when another worker of a shared study writes
    it (``result.written_by``).  Shared by ``forecast tune`` and ``forecast train --tune
    N``."""
    from forecaster.runs import artifacts
    from forecaster.storage.folders import writing_into
    from forecaster.pipeline.tune import (default_storage, plan_tune, tune as run_tune,
                                          write_best, write_trials)

    runs_dir = Path(cfg.output.runs_dir)
    study_name = study_name or Path(data).stem
    if not study_name.strip() or len(study_name) > 200:
        raise click.UsageError("--study needs a name of 1 to 200 characters.")
    folder = runs_dir / "tune" / (re.sub(r"[^A-Za-z0-9._-]+", "_", study_name).strip("._")
                                  or "study")
    out = Path(out_path) if out_path else folder / "best.toml"
    artifacts.check_writable(out.parent, "best.toml")
    params = ctx.params  # tune's or train's own: --quick narrows the space
    plan = plan_tune(data, cfg, space_path=space_path, holdout=holdout, folds=folds,
                     metric=metric, quick=bool(params.get("quick"))
                     or params.get("profile") == "quick")
    for note in plan.panel.notes:
        log(ctx, f"warning: {note}")
    log(ctx, f"tune: {plan.describe()}")
    started = time.perf_counter()

    def progress(row, done, total):
        took = time.perf_counter() - started
        if row["state"] == "COMPLETE":
            what = (f"{metric} {row['value']:.4f} (folds "
                    + ", ".join(f"{v:.3f}" for v in row["folds"]) + ")")
        elif row["state"] == "PRUNED":
            what = f"pruned after {len(row['folds'])} fold(s)" + (
                f" ({row['pruned']})" if row.get("pruned") else "")
        else:
            what = f"failed: {row.get('error') or 'see --debug'}"
        settings = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in sorted(row["params"].items()))
        log(ctx, f"trial {row['number']} ({done}/{total} finished, {took:.0f} s): {what}"
                  + _cost(row) + (f" — {settings}" if settings else ""))

    result = run_tune(plan, trials=trials, timeout=timeout,
                      storage=storage or default_storage(runs_dir), study_name=study_name,
                      progress=progress, out=out)
    if result.best is None:
        return result, None
    if result.written_by is not None:  # another worker of the shared study writes it
        log(ctx, f"tune: best.toml {result.written_by}")
        return result, None
    log(ctx, f"tune: {result.verdict.reason}")
    with writing_into(out.parent, "best.toml"):  # created only now that there is a result
        best = write_best(result, out)
    with writing_into(folder, "trials.csv"):
        write_trials(result, folder / "trials.csv")  # always in our own folder
    return result, best


def _cost(row) -> str:
    """``; took 41 s (estimated 38 s)``: a trial's seconds and the estimate it started
    with (none for the first trials, before any completed)."""
    took, estimate = row.get("seconds"), row.get("estimate")
    parts = ([f"took {took:.0f} s"] if took is not None else []) + (
        [f"estimated {estimate:.0f} s"] if estimate is not None else [])
    return f"; {parts[0]}" + (f" ({parts[1]})" if len(parts) > 1 else "") if parts else ""
