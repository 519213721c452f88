"""`forecast train` on every file of the hostile-input catalogue (tests/data/bad/).

Error cases must exit non-zero with exactly one line ``Error: …`` (no traceback), create no
run directory and leave ``runs/latest`` untouched; ok cases must exit 0 and save a run.
Training is kept tiny (1 epoch, 4 units, no backtest) — this checks plumbing, not accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from forecaster.cli import forecast

BAD = Path(__file__).resolve().parent / "data" / "bad"
CATALOGUE = json.loads((BAD / "catalogue.json").read_text(encoding="utf-8"))
FLAGS = {"target": "--target", "time_col": "--time-col", "id_col": "--id-col",
         "freq": "--freq", "fill": "--fill", "max_gap": "--max-gap", "aggregate": "--aggregate"}
TINY = ["--epochs", "1", "--units", "4", "--no-backtest", "--max-windows", "64", "--seed", "0"]


def cli_args(entry) -> list[str]:
    args = []
    for key, value in entry["options"].items():
        if key == "dayfirst":
            args += ["--dayfirst"] if value else []
        elif key in FLAGS:
            args += [FLAGS[key], str(value)]
        # options without a CLI flag (min_length) are left out; entry["cli"] says what then
    return args


def expectation(entry):
    cli = entry.get("cli")
    if cli:
        return cli["expect"], cli.get("message") or ""
    return entry["expect"], entry.get("message") or ""


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """One runs directory for the module, seeded with a previous run id in ``latest``."""
    d = tmp_path_factory.mktemp("runs")
    (d / "latest").write_text("previous-run\n")
    return d


def invoke(args):
    return CliRunner().invoke(forecast, args, catch_exceptions=True)


ERRORS = [e for e in CATALOGUE if expectation(e)[0] == "error"]
# Each ok case trains a (tiny) model, ~3 s apiece: a representative few run by default, the
# rest with `pytest -m slow`.
QUICK = {"compressed.csv.gz", "utf16.csv", "html_names.csv", "mixed_timezones.csv",
         "données série été.csv", "series.parquet"}
OKS = [e if e["file"] in QUICK else pytest.param(e, marks=pytest.mark.slow)
       for e in CATALOGUE if expectation(e)[0] == "ok"]


def _id(e):
    return f"{e['file']}-{json.dumps(e['options'], ensure_ascii=False)}"


@pytest.mark.parametrize("entry", ERRORS, ids=[_id(e) for e in ERRORS])
def test_error_case_is_one_line_and_leaves_no_run(entry, runs_dir):
    before = sorted(p.name for p in runs_dir.iterdir())
    latest = (runs_dir / "latest").read_text()
    result = invoke(["train", str(BAD / entry["file"]), "--runs-dir", str(runs_dir), *TINY,
                     *cli_args(entry)])
    assert result.exit_code != 0, result.output
    assert not isinstance(result.exception, AssertionError)
    error_lines = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(error_lines) == 1, result.output
    assert "Traceback" not in result.output
    assert expectation(entry)[1] in error_lines[0]
    assert sorted(p.name for p in runs_dir.iterdir()) == before
    assert (runs_dir / "latest").read_text() == latest


@pytest.mark.parametrize("entry", OKS,
                         ids=[_id(e if isinstance(e, dict) else e.values[0]) for e in OKS])
def test_ok_case_trains(entry, tmp_path):
    runs = tmp_path / "runs"
    result = invoke(["train", str(BAD / entry["file"]), "--runs-dir", str(runs), *TINY,
                     *cli_args(entry)])
    assert result.exit_code == 0, result.output
    run_id = (runs / "latest").read_text().strip()
    assert (runs / run_id / "data.json").is_file()


@pytest.mark.parametrize("command", ["train", "evaluate", "tune"])
def test_a_directory_as_the_data_is_one_line(command, tmp_path):
    """The reader's one-line message, not click's usage error (three lines, exit 2); and
    no file is written (evaluate and tune create their empty output folders up front, to
    check that they are writable)."""
    folder = tmp_path / "sales.csv"
    folder.mkdir()
    runs = tmp_path / "runs"
    result = invoke([command, str(folder), "--runs-dir", str(runs)])
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines() == [
        f"Error: '{folder}' is a directory, not a data file."], result.output
    assert not [p for p in runs.rglob("*") if not p.is_dir()]
