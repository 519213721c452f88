"""``forecast serve``: the HTTP API of :mod:`forecaster.serve.app` on uvicorn (registered on
the ``forecast`` group by :mod:`forecaster.cli`).

FastAPI and uvicorn are the optional ``serve`` extra, imported inside the command, so the
rest of the command line works without them. The server listens on loopback unless
``--host`` says otherwise; it has no authentication of its own, which a warning repeats
whenever it binds elsewhere. The socket is bound here (not by uvicorn) so that a port in
use is a one-line error and ``--port 0`` picks a free port, printed on start. The
deadline and connection-limit flags configure :mod:`forecaster.serve.connections`.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
from pathlib import Path

import click

from forecaster import choices
from forecaster.cli.context import log, prepare_runtime, state
from forecaster.cli.options import common_options
from forecaster.serve.run_cache import CACHE_SIZE

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
MISSING_EXTRA = "forecast serve needs the serve extra: pip install 'forecaster[serve]'"
SECONDS = click.FloatRange(min=0, min_open=True, max=3600)
#: The defaults of the deadline and limit flags (the fields of
#: forecaster.serve.connections.Limits).
DEFAULTS = {"header_timeout": 10.0, "body_timeout": 30.0, "keep_alive_timeout": 5.0,
            "max_connections": 256, "max_client_connections": 32}


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine's loopback interface only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: any free port); a one-line
    ClickException when the address cannot be used."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: "
                                   f"{getattr(exc, 'strerror', None) or exc}.") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: "
                                   f"{exc.strerror or exc}.") from None
    return sock


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--runs-dir", type=click.Path(file_okay=False), default="runs",
              show_default=True, help="The runs to serve (new ones appear without a restart).")
@click.option("--host", default=None,
              help="Interface to listen on [default: 127.0.0.1]. Anything but loopback "
                   "exposes the API, which has no authentication, to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="TCP port (0: a free one, printed on start).")
@click.option("--cache-size", type=click.IntRange(min=1), default=CACHE_SIZE,
              show_default=True, help="Loaded runs kept in memory.")
@click.option("--device", type=click.Choice(choices.DEVICES), default="cpu",
              show_default=True, help="Where the models run.")
@click.option("--header-timeout", type=SECONDS, default=DEFAULTS["header_timeout"],
              show_default=True, help="Seconds a client has to send a request's line and "
                                      "headers; then 408 and the connection is closed.")
@click.option("--body-timeout", type=SECONDS, default=DEFAULTS["body_timeout"],
              show_default=True, help="Seconds a client has to send a request's body after "
                                      "its headers; then 408 and the connection is closed.")
@click.option("--keep-alive-timeout", type=SECONDS, default=DEFAULTS["keep_alive_timeout"],
              show_default=True, help="Seconds an idle connection is kept between requests.")
@click.option("--max-connections", type=click.IntRange(min=1),
              default=DEFAULTS["max_connections"], show_default=True,
              help="Connections served at once; a request beyond is answered 503.")
@click.option("--max-client-connections", type=click.IntRange(min=1),
              default=DEFAULTS["max_client_connections"], show_default=True,
              help="Connections one client address may hold at once; beyond: 503.")
@common_options
@click.pass_context
def serve(ctx, runs_dir, host, port, cache_size, device, **limits):
    """Serve forecasts from saved runs over HTTP (FastAPI; OpenAPI docs at /docs).

    \b
      forecast serve --runs-dir runs             http://127.0.0.1:8000
      curl -X POST localhost:8000/runs/latest/forecast \\
           -H 'content-type: application/json' -d '{"horizon": 30, "levels": [80, 95]}'

    No authentication: keep the default loopback host, or put it behind a proxy that
    authenticates.
    """
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise click.ClickException(MISSING_EXTRA) from None
    host = "127.0.0.1" if host is None else host.strip()
    if not host:
        raise click.UsageError("--host needs an address, e.g. 127.0.0.1 or 0.0.0.0.")
    if not is_loopback(host):
        click.echo(f"warning: listening on {host}, beyond this machine: the API has no "
                   "authentication; put it behind a proxy that authenticates.", err=True)
    _start_runtime(ctx, device)
    from forecaster.serve.app import create_app
    from forecaster.serve.connections import Limits

    sock = bind(host, port)
    app = create_app(Path(runs_dir), cache_size=cache_size)
    quiet = state(ctx)["quiet"]
    config = uvicorn_config(app, Limits(**limits), quiet=quiet)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    url = f"http://{shown}:{bound_port}"
    if quiet:
        click.echo(url)  # for scripts: the address, also with --port 0
    else:
        log(ctx, f"serving the runs in {runs_dir} at {url} (API docs: {url}/docs); "
                  "Ctrl-C stops")
        if not Path(runs_dir).is_dir():
            log(ctx, f"note: {runs_dir} does not exist yet; the runs trained into it will "
                      "be served as they appear.")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shut down gracefully and re-raised the signal
        pass
    finally:
        sock.close()


def uvicorn_config(app, limits, quiet: bool = False):
    """uvicorn's configuration for ``app``: its HTTP/1.1 protocol guarded by ``limits``
    (:mod:`forecaster.serve.connections`: deadlines, connection limits, JSON errors)."""
    import uvicorn

    from forecaster.serve.connections import MAX_HEADER_BYTES, guarded_protocol

    _uvicorn_logging()
    return uvicorn.Config(app, http=guarded_protocol(limits), log_config=None,
                          log_level="warning" if quiet else "info", access_log=not quiet,
                          server_header=False, timeout_keep_alive=limits.keep_alive_timeout,
                          h11_max_incomplete_event_size=MAX_HEADER_BYTES,
                          timeout_graceful_shutdown=10)


class _CurrentStream(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` (or ``sys.stdout``) is when a record
    comes, not to the stream of the moment it was made (which a test runner or a notebook
    may have replaced, and closed, since)."""

    def __init__(self, name: str):
        self.name_of_stream = name
        super().__init__()

    @property
    def stream(self):
        return getattr(sys, self.name_of_stream)

    @stream.setter
    def stream(self, value):  # logging.StreamHandler sets it once; the property decides
        pass


def _uvicorn_logging() -> None:
    """uvicorn's loggers as its default configuration sets them (its formats; messages to
    stderr, the access log to stdout), without ``logging.config.dictConfig``: that resets
    the whole process's logging, and a server started from Python (a notebook, a test)
    must leave the caller's handlers alone.  Idempotent."""
    from uvicorn.logging import AccessFormatter, DefaultFormatter

    for name, stream, formatter in (
            ("uvicorn", "stderr", DefaultFormatter("%(levelprefix)s %(message)s")),
            ("uvicorn.access", "stdout", AccessFormatter(
                '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'))):
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if not isinstance(h, _CurrentStream)]
        handler = _CurrentStream(stream)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _start_runtime(ctx, device: str) -> None:
    """Quiet TensorFlow and hide the GPUs for ``--device cpu`` (before TensorFlow starts);
    TensorFlow itself is imported when the first network is loaded, so the server answers
    at once (``/health``, baseline runs) and only a network's first request waits for it.
    ``--device gpu`` without a GPU is refused now."""
    import os

    if device == "cpu" and os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    prepare_runtime(ctx, import_tf=False)
    from forecaster.training.runtime import choose_device

    choose_device(device)
