"""The `forecast` command line: the Click group and its commands (:mod:`.commands`),
the shared option groups (:mod:`.options`), summaries and the run, serve and tune commands."""

from forecaster.cli.commands import forecast, main
from forecaster.cli.signals import Terminated

__all__ = ["Terminated", "forecast", "main"]
