"""The package version, in one place (the package, run.json and the server read it)."""

__version__ = "0.1.0"
