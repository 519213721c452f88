"""The command line's shared option groups (data, model, run, and --quiet/--verbose/--debug)
and how their values become a validated :class:`~forecaster.config.Config`: flags named
like config keys set those keys, over ``--profile``/``--quick`` and ``--config``."""

from __future__ import annotations

import functools

import click

from forecaster import choices
from forecaster.cli.context import log, state
from forecaster.config import PROFILES


def _flag(name):
    def callback(ctx, param, value):
        if value:
            state(ctx)[name] = True
    return callback


def common_options(f):
    """--quiet/--verbose/--debug, accepted before or after the command name."""
    f = click.option("--debug", is_flag=True, expose_value=False, is_eager=True,
                     callback=_flag("debug"),
                     help="Show full tracebacks and TensorFlow's own logs.")(f)
    f = click.option("--verbose", "-v", is_flag=True, expose_value=False,
                     callback=_flag("verbose"),
                     help="More detail on stderr (e.g. the resolved config).")(f)
    f = click.option("--quiet", "-q", is_flag=True, expose_value=False,
                     callback=_flag("quiet"),
                     help="Only errors on stderr; only essential results on stdout.")(f)
    return f


def renamed(old: str, new: str, dest: str, **attrs):
    """A flag's old spelling ``old``, kept for one release beside ``new`` (which sets the
    command's ``dest`` argument): hidden from the help, it sets ``dest`` as ``new`` would,
    with one ``note: OLD is deprecated; use NEW`` on stderr; both at once is a usage
    error."""
    hidden_dest = f"{dest}__{old.lstrip('-').replace('-', '_')}"

    def decorate(f):
        @functools.wraps(f)
        def command(*args, **kw):
            value = kw.pop(hidden_dest)
            if value is not None:
                if kw.get(dest) is not None:
                    raise click.UsageError(f"{old} is the old spelling of {new}; give "
                                           f"{new} alone.")
                log(click.get_current_context(),
                    f"note: {old} is deprecated; use {new} (the old spelling goes in the "
                    "next release).")
                kw[dest] = value
            return f(*args, **kw)
        return click.option(old, hidden_dest, hidden=True, default=None, **attrs)(command)
    return decorate


# -- shared option groups ------------------------------------------------------------------
def data_options(f):
    opts = [
        click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     help="TOML file overriding configs/default.toml."),
        click.option("--target", help="Value column to forecast (default: the only numeric "
                                      "column)."),
        click.option("--time-col", help="Time column (default: detected)."),
        click.option("--id-col", help="Series column of a long panel (default: detects "
                                      "unique_id / series_id / id)."),
        click.option("--freq", help="Force the frequency (pandas alias: MS, W-SAT, D, h …)."),
        click.option("--dayfirst", is_flag=True, default=None,
                     help="Read dates like 01/02/2020 as day first (1 February)."),
        click.option("--monthfirst", is_flag=True, default=None,
                     help="Read dates like 01/02/2020 as month first (2 January)."),
        click.option("--fill", type=click.Choice(choices.FILLS),
                     help="How to fill gaps (default: interpolate short gaps)."),
        click.option("--max-gap", type=int, help="Longest gap interpolate may fill (points)."),
        click.option("--fill-covariates", metavar="COL=FILL,…",
                     help="A covariate's own gap fill, e.g. holiday=ffill,temp=interpolate "
                          "(default: --fill, but 0/1 and categorical columns are carried "
                          "forward, never interpolated)."),
        click.option("--wide", is_flag=True, default=None,
                     help="One series per column: every column besides the time column "
                          "(and the covariates) is a series."),
        click.option("--aggregate",
                     type=click.Choice(choices.AGGREGATES),
                     help="Combine duplicated timestamps (default: they are an error)."),
        click.option("--season", type=int, help="Seasonal period (default: from the "
                                                "frequency, e.g. 12 for monthly, else "
                                                "detected in the data); 0 turns it off."),
        click.option("--past-covariates", metavar="COLS",
                     help="Comma-separated columns observed up to the forecast origin only."),
        click.option("--future-covariates", metavar="COLS",
                     help="Comma-separated columns known over the horizon too (predict "
                          "needs them: --future FILE)."),
        click.option("--static-covariates", metavar="COLS",
                     help="Comma-separated columns holding one value per series (numbers "
                          "or categories)."),
        click.option("--calendar", type=click.Choice(("auto", "none")),
                     help="Calendar features of the timestamps (hour, weekday, month … as "
                          "sin/cos) as known future covariates (default: none)."),
        click.option("--holidays", metavar="CC",
                     help="Public-holiday indicator of a country (US, DE, US-DC …) as a "
                          "known future covariate."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def model_options(f):
    opts = [
        click.option("--kind", type=click.Choice(choices.MODEL_KINDS),
                     help="Recurrent layer (default: tanh_cell, our Elman cell)."),
        renamed("--model", "--kind", "kind", type=click.Choice(choices.MODEL_KINDS)),
        click.option("--units", type=int, help="Hidden units per recurrent layer."),
        click.option("--layers", type=int, help="Stacked recurrent layers."),
        click.option("--window", type=int, help="Input steps (default: two seasons, at least "
                                                "1.25 horizons)."),
        click.option("--scaling", type=click.Choice(choices.SCALINGS),
                     help="Series scale: log (levels become ratios), standard, or auto (the "
                          "default): per series a Box-Cox power by how fast the spread grows "
                          "with the level — log where in proportion, standard where not at "
                          "all or where a value is <= 0, a power between."),
        click.option("--ensemble", type=int,
                     help="Networks with different seeds (and lookbacks) trained side by "
                          "side and averaged."),
        click.option("--anchor", type=click.Choice(choices.ANCHORS),
                     help="What members forecast a change from: the window's level, the "
                          "last season repeated, or mixed (every other member)."),
        click.option("--max-lookback", type=int,
                     help="Longest input span of an ensemble's members, which read from the "
                          "window up to it (default: four seasons on seasonal data)."),
        click.option("--loss", type=click.Choice(choices.LOSSES),
                     help="Training loss."),
        click.option("--epochs", type=int, help="Maximum epochs (early stopping may end "
                                                "sooner)."),
        click.option("--batch-size", type=int, help="Windows per batch (default 0: automatic, "
                                                    "about 500 batches an epoch, 32 to 256)."),
        click.option("--learning-rate", type=float, help="Adam learning rate."),
        click.option("--patience", type=int,
                     help="Most epochs early stopping waits for an improvement (it waits as "
                          "many as the best took, at least 10)."),
        click.option("--max-windows", type=int,
                     help="Sample at most this many training windows per epoch (long "
                          "series)."),
        click.option("--seed", type=int, help="Random seed (same data + seed ⇒ same "
                                              "forecast)."),
        click.option("--device", type=click.Choice(choices.DEVICES),
                     help="Where to train (default: auto)."),
        click.option("--levels", metavar="L[,L…]",
                     help="Prediction-interval levels in %, e.g. 80,95 (default: 80,95)."),
        renamed("--level", "--levels", "levels"),
        click.option("--runs-dir", type=click.Path(file_okay=False),
                     help="Where runs are kept (default: runs)."),
        click.option("--profile", type=click.Choice(list(PROFILES)),
                     help="Named settings under --config and the flags: quick = 3 networks, "
                          "a short training and backtest, for exploring (default: default)."),
        click.option("--quick", is_flag=True, help="Same as --profile quick."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def run_options(f):
    """--run and --runs-dir: which saved run a command reads."""
    f = click.option("--runs-dir", type=click.Path(file_okay=False), default="runs",
                     show_default=True, help="Where runs are kept.")(f)
    return click.option("--run", "run_id", default="latest", show_default=True,
                        help="Run id under the runs directory, or a path to a run.")(f)


def parse_levels(text):
    if text is None:
        return None
    try:
        return [float(x) if "." in x else int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"must be comma-separated percentages like 80,95. Got "
                                 f"{text!r}.", param_hint="--levels") from None


def resolve_config(ctx, kw: dict, horizon=None, extra_eval=None):
    from forecaster.config import SETTINGS, load_config, settings_overrides

    # flags named like config keys set those keys (None: not given)
    settings = {k: v for k, v in kw.items() if k in SETTINGS}
    if settings.get("season") == 0:  # `--season 0`: no season (the config's 1; 0 = auto)
        settings["season"] = 1
    settings.update(horizon=horizon, levels=parse_levels(kw.get("levels")), **(extra_eval or {}))
    overrides = settings_overrides(settings)
    profile = kw.get("profile")
    if kw.get("quick"):
        if profile not in (None, "quick"):
            raise click.UsageError(f"--quick and --profile {profile} contradict each other.")
        profile = "quick"
    cfg = load_config(kw.get("config_path"), overrides, profile=profile or "default")
    if state(ctx)["verbose"] and not state(ctx)["quiet"]:
        from forecaster.config import dump_toml

        click.echo("resolved config:\n" + dump_toml(cfg), err=True)
    return cfg
