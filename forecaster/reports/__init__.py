"""Reports: PNG figures (matplotlib, Agg) and one self-contained HTML page (jinja2).

Reports read a finished run directory (docs/run-format.md) and never train or import
TensorFlow; :func:`forecaster.pipeline.report.write_report` is the entry point.
"""
