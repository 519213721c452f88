"""``forecast runs``: the command line of :mod:`forecaster.runs.listing` (registered on
the ``forecast`` group by :mod:`forecaster.cli`).  Reads JSON and TOML only: no
TensorFlow, so it answers at once."""

from __future__ import annotations

import json

import click

from forecaster.cli.options import common_options

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--runs-dir", type=click.Path(file_okay=False), default="runs",
              show_default=True, help="Where runs are kept.")
@click.option("--compare", nargs=2, metavar="A B",
              help="Show two runs (ids, `latest` or paths) side by side: their run "
                   "details, configs and backtest leaderboards; * marks a difference.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output on stdout.")
@common_options
def runs(runs_dir, compare, fmt):
    """List the saved runs, newest first: id, created, data, model, backtest MASE, size.

    \b
      forecast runs                               every run in runs/
      forecast runs --compare latest 20260101-120000-sales-tanh_cell
    """
    from forecaster.runs.listing import compare_runs, format_runs, list_runs

    if compare:
        if "" in compare:
            raise click.UsageError("--compare needs two run ids, `latest` or paths; "
                                   "got an empty one.")
        found = compare_runs(runs_dir, *compare)
        click.echo(json.dumps(found.to_json(), indent=2) if fmt == "json" else found.format())
        return
    rows = list_runs(runs_dir)
    if fmt == "json":
        click.echo(json.dumps([r.to_json() for r in rows], indent=2))
    else:
        click.echo(format_runs(rows))
