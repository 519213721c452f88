"""--mlflow on the command line: the option, opening the tracking store, and logging after
the work is saved (a failure is a warning; the work stays)."""

from __future__ import annotations

import click

from forecaster.cli.context import end_progress_line, log as log_line, state


def tracking_options(f):
    """--mlflow URI: log the command to an MLflow tracking store (forecaster.runs.tracking)."""
    return click.option(
        "--mlflow", "mlflow_uri", metavar="URI",
        help="Log the parameters, the backtest leaderboard and the files to this MLflow "
             "tracking store, e.g. sqlite:///mlflow.db (default: [tracking] mlflow_uri; "
             "needs pip install 'forecaster[mlflow]').")(f)


def open_tracking(cfg):
    """:func:`forecaster.runs.tracking.open_tracking` (shared with the Python API), imported
    only when a command runs, so that ``forecast --help`` stays instant."""
    from forecaster.runs.tracking import open_tracking as opened

    return opened(cfg)


def log_tracking(ctx, client, log, kept: str) -> None:
    """``log(client)`` (a :mod:`forecaster.runs.tracking` function) after the work is saved. A
    failure is a warning on stderr (even with --quiet) and the command still succeeds:
    ``kept`` (the run, the evaluation) is written, and failing would only invite a rerun."""
    if client is None:
        return
    try:
        run_id = log(client)
    except KeyboardInterrupt:  # not "nothing was saved": the work is
        end_progress_line(ctx)
        click.echo(f"Error: interrupted while logging to MLflow; {kept} is saved all the "
                   "same.", err=True)
        ctx.exit(130)
    except Exception as exc:
        if state(ctx)["debug"]:
            raise
        end_progress_line(ctx)
        from forecaster.runs.tracking import failure_message

        click.echo(f"warning: {failure_message(exc, kept)}", err=True)
        return
    from forecaster.runs.tracking import shown

    log_line(ctx, f"mlflow: logged run {run_id} to {shown(str(client.tracking_uri))}")
