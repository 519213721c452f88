"""Data: reading files into a validated :class:`~forecaster.data.panel.Panel`, and windowing it."""
