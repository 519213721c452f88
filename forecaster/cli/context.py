"""The command line's context object (``ctx.obj``: --quiet/--verbose/--debug and the
progress line being rewritten), and what every command does with it: log a line, end a
progress line, prepare the runtime."""

from __future__ import annotations

import click


def state(ctx: click.Context) -> dict:
    root = ctx.find_root()
    root.ensure_object(dict)
    root.obj.setdefault("quiet", False)
    root.obj.setdefault("verbose", False)
    root.obj.setdefault("debug", False)
    return root.obj


def log(ctx, message: str) -> None:
    if not state(ctx)["quiet"]:
        end_progress_line(ctx)
        click.echo(message, err=True)


def end_progress_line(ctx) -> None:
    """Finish a progress line rewritten in place (``\r``) before other output."""
    reporter = state(ctx).get("progress")
    if reporter is not None:
        reporter.end()
    if state(ctx).pop("progress_line", False):
        click.echo("", err=True)


def reporter(ctx):
    """The command's :class:`~forecaster.cli.progress.Progress` on stderr (live on a
    terminal, throttled plain lines elsewhere); None with --quiet."""
    if state(ctx)["quiet"]:
        return None
    if state(ctx).get("progress") is None:
        import sys

        from forecaster.cli.progress import Progress

        state(ctx)["progress"] = Progress(lambda text: click.echo(text, err=True, nl=False),
                                          live=sys.stderr.isatty())
    return state(ctx)["progress"]


def prepare_runtime(ctx, import_tf: bool = True) -> None:
    """Silence TensorFlow before anything imports it, and check ``KERAS_BACKEND``; import
    it now with ``import_tf`` (``tune``: every trial builds a network). Otherwise it is
    imported where a network is built or loaded (``train`` after reading the data, so
    the reader's peak memory and TensorFlow's resident half-gigabyte do not add up;
    ``predict`` and ``serve`` when a network is loaded), so baselines and refused files
    never wait for it."""
    from forecaster.training.runtime import check_backend, import_backend, quiet_tensorflow

    quiet_tensorflow(debug=state(ctx)["debug"])
    check_backend()  # KERAS_BACKEND: tensorflow (default) or jax
    if import_tf:
        import_backend()
    if not state(ctx)["debug"]:
        import warnings

        warnings.filterwarnings("ignore")
