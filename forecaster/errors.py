"""One exception family for everything a user can cause.

The CLI turns any :class:`ForecastError` into a single line ``Error: <message>`` and exit
code 1.  Messages follow one shape: "`name` must be …. Got …." and, where it helps, say
how to fix the problem.
"""


class ForecastError(Exception):
    """Base class: a problem the user can fix (bad data, bad config, missing run)."""

    exit_code = 1


class DataError(ForecastError):
    """The input data cannot be read or does not make a usable time series."""


class ConfigError(ForecastError):
    """A configuration value or command-line flag is out of range or inconsistent."""


class RunNotFoundError(ForecastError):
    """The requested run directory does not exist or is incomplete."""


class ArtifactError(ForecastError):
    """A saved run exists but fails validation or safe loading."""


class TrainingError(ForecastError):
    """Training diverged (NaN loss) or could not proceed."""
