"""docs/run-format.md, the run directory's contract, checked against a real run: every key
that training writes in run.json, data.json and preprocessing.json (top level and each
nested object the doc has a table for) is documented, and every key the doc marks
``always`` is written.  Also: each of run.json and data.json reads back through its one
schema (:class:`RunInfo`, :class:`DataInfo`) to exactly what was written."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from tests.conftest import DATA, ROOT

DOC = ROOT / "docs" / "run-format.md"
#: ### `run.json` keys, ### `preprocessing.json` → `series[]` keys
HEADING = re.compile(r"^### `([\w.]+)`((?: → `[\w\[\]]+`)*) keys$")
FILES = ("run.json", "data.json", "preprocessing.json")


def doc_tables() -> dict:
    """``{("run.json",): {key: when written}, ("preprocessing.json", "series[]"): …}``:
    each key table of the doc (first column the key in backticks, second when written)."""
    tables, current = {}, None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = HEADING.match(line)
        if match:
            current = (match.group(1), *re.findall(r"`([^`]+)`", match.group(2)))
            tables[current] = {}
        elif line.startswith("#"):
            current = None
        elif current and line.startswith("| `"):
            key, when = (cell.strip() for cell in line.strip().strip("|").split("|")[:2])
            tables[current][key.strip("`")] = when
    return tables


def objects(run, path: tuple) -> list[dict]:
    """The JSON objects at ``path`` (a file, then keys; ``name[]``: each element) in the
    run; none where the run has no such object (a null ``selection``)."""
    found = [json.loads((run / path[0]).read_text(encoding="utf-8"))]
    for step in path[1:]:
        name = step.removesuffix("[]")
        values = [o.get(name) for o in found]
        found = [v for value in values for v in (value if step.endswith("[]") else [value])]
        found = [o for o in found if isinstance(o, dict)]
    return found


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny run with everything optional that one run can have: a selection (``--select
    best``), a past covariate, a DataFrame (no data path)."""
    import forecaster as fc

    frame = pd.read_csv(DATA / "air_passengers.csv")
    frame["promo"] = [i % 3 for i in range(len(frame))]
    model = fc.Forecaster(select="best", epochs=1, units=2, ensemble=1, origins=6, seed=1)
    model.fit(frame, past_covariates="promo")
    return model.save(tmp_path_factory.mktemp("format") / "runs")


def test_the_doc_has_a_table_for_each_file():
    tables = doc_tables()
    assert {path[0] for path in tables} == set(FILES)
    assert ("preprocessing.json", "series[]") in tables and ("run.json", "selection") in tables
    assert all(tables.values()), [path for path, rows in tables.items() if not rows]


def test_every_written_key_is_documented_and_every_documented_key_written(run):
    tables = doc_tables()
    backend = json.loads((run / "run.json").read_text())["keras_backend"]
    for path, rows in tables.items():
        documented = {key.replace("<backend>", backend) for key in rows}
        always = {key.replace("<backend>", backend) for key, when in rows.items()
                  if when == "always"}
        found = objects(run, path)
        assert found or len(path) > 1, f"{path[0]} is not written"
        for obj in found:
            where = " → ".join(path)
            assert not set(obj) - documented, f"{where}: undocumented {set(obj) - documented}"
            assert not always - set(obj), f"{where}: documented but not written " \
                                          f"{always - set(obj)}"
    # the nested objects the tables describe are there in this run
    for path in (("run.json", "selection"), ("data.json", "covariates"),
                 ("preprocessing.json", "covariates"), ("preprocessing.json", "series[]")):
        assert objects(run, path), path


def test_records_read_back_to_what_was_written(run):
    from forecaster.runs.record import DataInfo, RunInfo

    for name, schema in (("run.json", RunInfo), ("data.json", DataInfo)):
        written = json.loads((run / name).read_text(encoding="utf-8"))
        assert schema.from_json(written).to_json() == written
        assert list(schema.from_json(written).to_json()) == list(written)  # same order
