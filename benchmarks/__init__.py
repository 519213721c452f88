"""Benchmarks for forecaster: ``python -m benchmarks.run --quick|--full [--only SECTION]``.

One module per section (``cells``, ``windowing``, ``memory``, ``cli``, ``panel``); each has
``run(quick: bool, **options) -> Section``. A section whose code is missing is reported as
"not available: …" instead of failing the whole run. Timings are medians of alternated
repeats measured side by side in one process; ratios are the numbers to read.
"""
