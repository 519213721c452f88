"""The ``forecast`` command line: a Click group with train, predict, evaluate and report.

Only parsing, printing and error presentation live here.  TensorFlow, pandas and the
pipelines are imported inside the commands, so ``forecast --help`` is instant.  Every
:class:`~forecaster.errors.ForecastError` (and any other failure) becomes one line
``Error: …`` on stderr with a non-zero exit code; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import click

from forecaster import choices
from forecaster._version import __version__
from forecaster.cli.context import end_progress_line, log, prepare_runtime, reporter, state
from forecaster.cli.mlflow import log_tracking, open_tracking, tracking_options
from forecaster.cli.options import (common_options, data_options, model_options,
                                    renamed, resolve_config, run_options)
from forecaster.cli.signals import Terminated, interruptible
from forecaster.errors import ForecastError
from forecaster.notes import kind_of
from forecaster.models.registry import NAMES as MODEL_NAMES

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _one_line(exc: BaseException) -> str:
    """``exc`` on one line, its hint naming command-line flags."""
    text = " ".join((exc.render("cli") if isinstance(exc, ForecastError) else str(exc)).split())
    return text or type(exc).__name__


class ForecastGroup(click.Group):
    """Maps exceptions to one-line errors and exit codes."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise
        except ForecastError as exc:
            if state(ctx)["debug"]:
                raise
            raise click.ClickException(_one_line(exc)) from None
        except (KeyboardInterrupt, Terminated) as exc:
            if state(ctx)["debug"]:
                raise
            what = "terminated" if isinstance(exc, Terminated) else "interrupted"
            kept = ("the study keeps its finished trials; the same command resumes it"
                    if ctx.invoked_subcommand == "tune" else
                    "nothing was saved and runs/latest is unchanged")
            click.echo(f"Error: {what}; {kept}.", err=True)
            ctx.exit(143 if isinstance(exc, Terminated) else 130)
        except MemoryError:
            if state(ctx)["debug"]:
                raise
            raise click.ClickException("out of memory; try --max-windows, a smaller "
                                       "--batch-size or fewer --units.") from None
        except Exception as exc:  # an unexpected failure: still one line, no traceback
            if state(ctx)["debug"]:
                raise
            raise click.ClickException(
                f"unexpected {type(exc).__name__}: {_one_line(exc)[:400]} "
                "(run with --debug for the traceback)") from None


@click.group(cls=ForecastGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="forecast")
@common_options
@click.pass_context
def forecast(ctx):
    """Time-series forecasting with recurrent neural networks.

    \b
      forecast train data.csv            fit, backtest against baselines, save a run
      forecast predict --horizon 30      forecast from the latest run
      forecast evaluate data.csv         leaderboard: RNN vs baselines, rolling-origin
      forecast tune data.csv             search the RNN's configuration (Optuna)
      forecast report                    PNG figures + one self-contained HTML page
      forecast runs                      list saved runs; --compare A B side by side
      forecast serve                     HTTP API over saved runs (loopback by default)
    """
    state(ctx)


def _epoch_progress(ctx, label):
    """``progress(stage, epoch, epochs, loss, val_loss)`` of the pipeline's fits, on the
    command's progress reporter (one phase per stage: backtest, final fit); None when
    quiet."""
    shown = reporter(ctx)
    if shown is None:
        return None

    def progress(stage, epoch, epochs, loss, val_loss):
        val = "" if val_loss is None else f", val {val_loss:.4g}"
        shown.update(f"{label} ({stage})", epoch, epochs,
                     "" if loss is None else f"loss {loss:.4g}{val}")
    return progress


def _fold_progress(ctx, label: str, total: int):
    """``progress(model, fold, folds, seconds)`` of a backtest, origin by origin, as the
    phase ``label`` of ``total`` (model, fold) fits; None when quiet."""
    from forecaster.evaluation.backtest import counted

    shown = reporter(ctx)
    return counted(shown and partial(shown.update, label), total)


# -- train ---------------------------------------------------------------------------------
@forecast.command(context_settings=CONTEXT_SETTINGS)
@click.argument("data", type=click.Path())
@data_options
@model_options
@click.option("--horizon", type=int, help="Steps the model forecasts directly (default: one "
                                          "season).")
@click.option("--origins", type=int,
              help="Origins of train's own backtest, one step apart, which also calibrates "
                   "the intervals (default: 24; evaluate's comparison uses --folds).")
@click.option("--no-backtest", is_flag=True, help="Skip the backtest (no leaderboard, no "
                                                  "intervals).")
@click.option("--name", help="Name part of the run id (default: the data file's stem).")
@click.option("--select", type=click.Choice(choices.SELECTS),
              help="The model the run deploys: rnn (default), or best — the backtest's "
                   "winner among the RNN and the baselines (lowest mean MASE), which "
                   "predict, report and the Python API then use.")
@click.option("--distribute", type=click.Choice(choices.DISTRIBUTE),
              help="Data-parallel training: mirrored over this machine's GPUs, or "
                   "multi-worker across machines set up by TF_CONFIG (default: none; "
                   "see docs/scale-out.md).")
@click.option("--tune", "tune_trials", type=click.IntRange(min=1),
              help="First search the configuration with N trials of `forecast tune` (its "
                   "default space and study), then train the best one.")
@click.option("--report", "make_report", is_flag=True,
              help="Also write the HTML/PNG report of the new run.")
@click.option("--reports-dir", type=click.Path(file_okay=False), default="reports",
              show_default=True, help="Where --report writes.")
@tracking_options
@common_options
@click.pass_context
def train(ctx, data, horizon, origins, no_backtest, name, select, tune_trials, make_report,
          reports_dir, **kw):
    """Train an RNN on DATA (CSV, CSV.GZ or Parquet) and save a run.

    Detects the time and value columns, infers the frequency, picks a window from the
    seasonality, backtests the RNN against seasonal naive and other baselines, trains the
    final model on all the data and saves everything under runs/<id>/.
    """
    prepare_runtime(ctx, import_tf=False)
    extra = {"origins": origins, "select": select}
    if no_backtest:
        extra["backtest"] = False
    cfg = resolve_config(ctx, kw, horizon=horizon, extra_eval=extra)
    tracker = open_tracking(cfg)  # a bad --mlflow fails now, not after the training
    if make_report:  # fail before the training, not after it
        from forecaster.runs import artifacts
        artifacts.check_writable(Path(reports_dir), "the report")
    from forecaster.pipeline.train import train as run_train

    if tune_trials is not None:
        cfg = _tuned(ctx, data, cfg, tune_trials)
    progress = _epoch_progress(ctx, cfg.model.kind)
    shown = reporter(ctx)
    with interruptible():
        result = run_train(data, cfg, name=name, progress=progress,
                           fold_progress=shown and partial(shown.update, "backtest"),
                           log=lambda m: log(ctx, m),
                           warn=lambda note: log(ctx, f"warning: {note}"))
    end_progress_line(ctx)
    if result.run_dir is None:  # a non-chief multi-worker task: the chief saves the run
        click.echo(f"{result.worker}: trained in sync ({result.epochs_run} epochs, best "
                   f"{result.best_epoch}); the chief writes the run.")
        return
    for note in result.notes[len(result.panel.notes):]:
        if state(ctx)["verbose"] or kind_of(note) == "no_forecast":
            log(ctx, f"note: {note}")
    _print_train_summary(ctx, result)
    report_dir = Path(reports_dir) / result.run_dir.name if make_report else None
    if make_report:
        _write_report(ctx, result.run_dir, report_dir)
    from forecaster.runs.tracking import log_train

    log_tracking(ctx, tracker, lambda client: log_train(
        cfg.tracking.mlflow_uri, result.run_dir, cfg, data=data, report_dir=report_dir,
        client=client), f"run {result.run_dir.name}")


def _tuned(ctx, data, cfg, trials: int):
    """``cfg`` with the settings of the best trial of a search of ``trials`` trials."""
    from forecaster.cli.tune import run_search

    prepare_runtime(ctx)
    with interruptible():
        found, best = run_search(ctx, data, cfg, trials=trials)
    if best is None:
        raise click.ClickException("--tune: no trial completed; nothing was trained.")
    chosen = found.chosen or found.best
    which = (f"best trial {chosen['number']}" if chosen["number"] == found.best["number"]
             else "the defaults (trial 0: the best trial did not beat them by more than the "
                  "folds' noise)")
    log(ctx, f"tune: {which} ({found.metric} {chosen['value']:.4f}), saved as {best}; "
             "training it")
    return found.best_config


def _print_train_summary(ctx, r) -> None:
    if state(ctx)["quiet"]:
        click.echo(str(r.run_dir))
        return
    from forecaster.cli.summary import train_summary

    lines = train_summary(r)
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        click.echo(f"{key:<{width}}  {value}")


# -- predict -------------------------------------------------------------------------------
@forecast.command(context_settings=CONTEXT_SETTINGS)
@click.option("--horizon", type=int, default=None,
              help="Steps to forecast (default: the trained horizon).")
@click.argument("data", required=False, type=click.Path())
@click.option("--data", "new_data", type=click.Path(),
              help="Newer data (CSV/Parquet, the run's columns or Nixtla's unique_id, ds, "
                   "y): forecast from its ends "
                   "without retraining — rows after the run's end, a whole newer history, "
                   "or series the run has not seen.")
@run_options
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Forecast file (default: runs/<id>/predictions/forecast-h<H>.<format>, "
                   "with --data forecast-h<H>-<data name>.<format>).")
@click.option("--format", "fmt", type=click.Choice(choices.FORECAST_FORMATS),
              help="Forecast file format (default: from the --output extension, else csv).")
@click.option("--output-format", "layout", type=click.Choice(choices.FORECAST_LAYOUTS),
              default="forecaster", show_default=True,
              help="Column names: forecaster's (series_id, timestamp, forecast, lower_80, "
                   "upper_80, …) or Nixtla's (unique_id, ds, <model>, <model>-lo-80, "
                   "<model>-hi-80, …; <model> is the run's deployed model).")
@click.option("--overwrite", is_flag=True,
              help="Replace the forecast file (--output or the default) if it exists.")
@click.option("--device", type=click.Choice(choices.DEVICES), default="cpu",
              show_default=True, help="Where to run the model.")
@click.option("--future", "future", type=click.Path(),
              help="Values of the run's future covariates over the horizon (CSV/Parquet: "
                   "the time and series columns, or Nixtla's ds and unique_id, and one "
                   "column per covariate).")
@click.option("--levels", default=None, metavar="L[,L…]",
              help="Interval levels in percent, e.g. 90,99 (default: the calibrated ones); "
                   "any level in (0, 100), from the run's calibration residuals.")
@renamed("--level", "--levels", "levels")
@click.option("--quantiles", default=None, metavar="P[,P…]",
              help="Predictive quantiles in (0, 1) as columns q_<p>, e.g. 0.1,0.5,0.9.")
@click.option("--allow-negative", is_flag=True,
              help="Keep negative forecasts and bounds on data that were never negative "
                   "(by default they are clipped at 0).")
@common_options
@click.pass_context
def predict(ctx, horizon, data, new_data, run_id, runs_dir, output, fmt, overwrite, device,
            future, levels, quantiles, allow_negative, layout):
    """Forecast from a saved run (the latest by default): from the end of its training data
    (no data file needed), or from the end of newer DATA (or --data) without retraining."""
    if data is not None and new_data is not None and data != new_data:
        raise click.UsageError("give the new data once: as DATA or as --data.")
    new_data = new_data or data
    if device == "cpu" and os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        # before TensorFlow starts: it then never initialises CUDA (JAX: see select_device)
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    prepare_runtime(ctx, import_tf=False)  # a network's loading imports it
    from forecaster.pipeline.nixtla import laid_out
    from forecaster.pipeline.predict import (format_frame, output_format,
                                             predict as run_predict, write_forecast)
    from forecaster.runs.ids import resolve_run
    from forecaster.runs.record import RunRecord
    from forecaster.training.runtime import choose_device

    choose_device(device)  # --device gpu without a GPU: a clear error
    run_dir = resolve_run(Path(runs_dir), run_id)
    record = RunRecord.load(run_dir)
    if horizon is None:
        horizon = record.state.horizon
    fmt = output_format(output, fmt)
    if output:
        path = Path(output)
    else:
        folder = run_dir / "predictions"
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise click.ClickException(f"{str(folder)!r} is not a folder of the run (a "
                                       "symbolic link or a file); refusing to write through "
                                       "it. Pass --output.")
        stem = f"-{Path(new_data).stem}" if new_data else ""
        path = folder / f"forecast-h{horizon}{stem}.{fmt}"
    if os.path.lexists(path) and not overwrite:
        raise click.ClickException(f"{str(path)!r} already exists; pass --overwrite to "
                                   "replace it or choose another --output.")
    pred = run_predict(record, int(horizon), new_data=new_data, future=future,
                       levels=_numbers(levels, "--levels"),
                       quantiles=_numbers(quantiles, "--quantiles"),
                       allow_negative=allow_negative)
    for note in pred.notes:
        log(ctx, f"note: {note}")
    model = record.info.deployed or "rnn"  # runs before `deployed` was recorded: the RNN
    written = write_forecast(pred, path, fmt, layout, model)
    if not state(ctx)["quiet"]:
        import pandas as pd

        from forecaster.evaluation.leaderboard import format_number

        table = laid_out(format_frame(pred.frame, pred.state), layout, model)
        with pd.option_context("display.max_rows", 200, "display.width", 120,
                               "display.float_format", format_number):
            click.echo(table.to_string(index=False))
        log(ctx, f"{len(table)} forecasts from run {run_dir.name} written to {written}")
    else:
        click.echo(str(written))


def _numbers(text: str | None, option: str) -> list | None:
    """``"90,99"`` as ``[90.0, 99.0]`` (None when the option is not given); a usage error
    naming ``option`` for anything that is not a number."""
    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"expected numbers separated by commas, got {text!r}.",
                                 param_hint=option) from None


def _evaluation_progress(ctx, total: int):
    """The ``progress(model, fold, folds, seconds)`` and ``epoch_progress(epoch, epochs,
    loss, val_loss)`` callbacks of :meth:`EvaluationPlan.run` on the progress reporter
    (None, None with --quiet): the folds advance the backtest, an RNN's epochs show
    beside the fold count."""
    folds = _fold_progress(ctx, "backtest", total)
    if folds is None:
        return None, None

    def epoch_progress(epoch, epochs, loss, val_loss):
        stage = "early stopping" if val_loss is not None else "every window"
        reporter(ctx).update("backtest", folds.done[0], total,
                             f"rnn: epoch {epoch}/{epochs} ({stage})")
    return folds, epoch_progress


# -- evaluate ------------------------------------------------------------------------------
@forecast.command(context_settings=CONTEXT_SETTINGS)
@click.argument("data", type=click.Path())
@data_options
@model_options
@click.option("--models", help="Comma-separated models (default: rnn and every baseline: "
                               + ", ".join(MODEL_NAMES) + ").")
@click.option("--horizon", type=int, help="Forecast steps per fold (default: one season).")
@click.option("--folds", type=int,
              help="Rolling-origin folds, --step apart, every model refitted at each "
                   "(default: 3; train's own backtest uses --origins).")
@click.option("--step", type=int, help="Points between fold origins (default: horizon).")
@click.option("--holdout", type=int,
              help="Competition protocol: train on all but the last H points, score on them.")
@click.option("--format", "fmt", type=click.Choice(choices.EVALUATE_FORMATS),
              default="table", show_default=True,
              help="Output on stdout: the leaderboard (table, json), or every backtest "
                   "forecast as Nixtla's cross-validation rows (nixtla: CSV unique_id, ds, "
                   "cutoff, y, <model>, …; also written to cross_validation.csv in --out).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Where metrics.json, folds.csv and backtest.csv go (default: "
                   "runs/evaluations/<id>).")
@click.option("--report", "make_report", is_flag=True, help="Also write the HTML/PNG report.")
@click.option("--reports-dir", type=click.Path(file_okay=False), default="reports",
              show_default=True, help="Where --report writes.")
@tracking_options
@common_options
@click.pass_context
def evaluate(ctx, data, models, horizon, folds, step, holdout, fmt, out_dir, make_report,
             reports_dir, **kw):
    """Compare the RNN with baselines on the same rolling-origin folds of DATA."""
    prepare_runtime(ctx, import_tf=False)  # the RNN's set-up imports it, after the read
    cfg = resolve_config(ctx, kw, horizon=horizon, extra_eval={"folds": folds})
    if cfg.training.distribute != "none":
        log(ctx, f"note: `training.distribute = \"{cfg.training.distribute}\"` applies to "
                  "`forecast train` only; evaluate trains in one process.")
    import json

    from forecaster.runs import artifacts
    from forecaster.pipeline.evaluate import plan_evaluation

    tracker = open_tracking(cfg)  # a bad --mlflow fails before the backtest
    out = Path(out_dir) if out_dir else (Path(cfg.output.runs_dir) / "evaluations" /
                                         artifacts.run_name(Path(data).stem))
    _refuse_foreign_dir(out, "metrics.json", "--out")  # before any work, as train does
    artifacts.check_writable(out.parent, "the evaluation")
    if make_report:
        artifacts.check_writable(Path(reports_dir), "the report")
    if holdout is not None and horizon is not None and horizon != holdout:
        raise click.UsageError("--holdout H already sets the horizon to H; drop --horizon.")
    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    plan = plan_evaluation(data, cfg, models=names, holdout=holdout, step=step)
    panel, spec = plan.panel, plan.spec
    for note in panel.notes:
        log(ctx, f"warning: {note}")
    log(ctx, f"evaluate: {plan.describe()}")
    progress, epoch_progress = _evaluation_progress(ctx, len(plan.models) * spec.folds)
    result = plan.run(progress=progress, epoch_progress=epoch_progress)
    end_progress_line(ctx)
    for note in result.notes[len(panel.notes):]:  # they start with the panel's warnings
        log(ctx, f"note: {note}")
    result.write(out, nixtla=fmt == "nixtla")
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
    elif fmt == "nixtla":
        click.echo(result.cross_validation_csv(), nl=False)
        log(ctx, f"metrics.json, folds.csv, backtest.csv and cross_validation.csv in {out}")
    else:
        click.echo(result.format())
        log(ctx, f"{spec.folds} fold(s) × horizon {spec.horizon}, {len(panel)} series, "
                  f"{result.seconds:.1f} s; metrics.json, folds.csv and backtest.csv in {out}")
    report_dir = Path(reports_dir) / out.name if make_report else None
    if make_report:
        _write_report(ctx, out, report_dir)
    from forecaster.runs.tracking import log_evaluate

    log_tracking(ctx, tracker, lambda client: log_evaluate(
        cfg.tracking.mlflow_uri, data, cfg, out, report_dir=report_dir, client=client),
        f"the evaluation in {out}")


# -- report --------------------------------------------------------------------------------
@forecast.command(context_settings=CONTEXT_SETTINGS)
@run_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Output folder (default: reports/<run id>).")
@common_options
@click.pass_context
def report(ctx, run_id, runs_dir, out_dir):
    """Write PNG figures and one self-contained report.html for a run."""
    from forecaster.runs.ids import resolve_run

    run_dir = resolve_run(Path(runs_dir), run_id)
    _write_report(ctx, run_dir, Path(out_dir) if out_dir else Path("reports") / run_dir.name)


def _refuse_foreign_dir(path: Path, own: str, flag: str) -> None:
    """Never write into a non-empty folder that is not one of ours (``own`` marks ours)."""
    path = Path(path)
    if path.is_dir() and any(path.iterdir()) and not (path / own).exists():
        raise click.ClickException(
            f"{str(path)!r} is not empty and holds no {own}; refusing to write into it. "
            f"Choose an empty or new folder for {flag}.")
    if path.exists() and not path.is_dir():
        raise click.ClickException(f"{str(path)!r} exists and is not a folder ({flag}).")


def _write_report(ctx, run_dir: Path, out_dir: Path) -> None:
    from forecaster.pipeline.report import write_report

    _refuse_foreign_dir(out_dir, "report.html", "the report")
    path = write_report(Path(run_dir), Path(out_dir))
    if state(ctx)["quiet"]:
        click.echo(str(path))
    else:
        click.echo(f"report: {path}")


from forecaster.cli.tune import tune as _tune  # noqa: E402  (a command in its own module)

forecast.add_command(_tune)
from forecaster.cli.serve import serve as _serve  # noqa: E402  (FastAPI: the serve extra)
forecast.add_command(_serve)
from forecaster.cli.runs import runs as _runs  # noqa: E402  (TensorFlow-free)
forecast.add_command(_runs)


def main(argv=None) -> None:
    """Console-script entry point."""
    forecast.main(args=argv, prog_name="forecast")


if __name__ == "__main__":  # pragma: no cover
    main()
