"""Fuzzing a saved run's files: seeded mutations of the JSON fields of run.json,
preprocessing.json and baseline.json, of the members of baseline.skops (its schema.json
entries and its .npy arrays) — mostly re-hashed into run.json, as a forger would — and
each face (``forecast predict``, ``forecaster.load(...).predict``, ``forecast serve``)
forecasts every mutated run in a child process.  Each answer must be a one-line refusal
(never a crash, a traceback or an "unexpected" error) or a sane forecast (finite numbers,
lower bounds below upper ones), and the three faces must agree: all refuse, or all give
the same numbers."""

from __future__ import annotations

import io
import json
import math
import random
import zipfile

import numpy as np
import pytest

from tests.run_faces import copy_run, forecast_all, make_run, one_line_refusal, rehash

CASES = 40
SEED = 20240531
ODD_VALUES = [-1, 0, 2.0, -5.0, 1e308, -1e308, None, "x", [], {}, True, [1.0], 10 ** 12,
              float("nan")]


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    return [make_run(name, root / f"runs_{name}") for name in ("ridge", "theta")]


def _leaves(value, path=()):
    """Every ``(path, value)`` of a JSON document whose value is not a container (and
    every empty container)."""
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value[:20]):
            yield from _leaves(v, path + (i,))
    else:
        yield path, value


def _set(doc, path, value):
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _mutate_json(run, rng):
    name = rng.choice([n for n in ("run.json", "preprocessing.json", "baseline.json")
                       if (run / n).exists()])
    doc = json.loads((run / name).read_text())
    leaves = [(p, v) for p, v in _leaves(doc) if p and p[0] != "sha256"]
    path, old = rng.choice(leaves)
    if isinstance(old, (int, float)) and not isinstance(old, bool) and rng.random() < 0.4:
        new = -old if old else -1.0  # a plausible number of the wrong sign
    else:
        new = rng.choice(ODD_VALUES)
    _set(doc, path, new)
    (run / name).write_text(json.dumps(doc))
    return f"{name}:{'/'.join(map(str, path))}={new!r:.30}"


def _mutate_skops(run, rng):
    path = run / "baseline.skops"
    archive = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    members = {n: archive.read(n) for n in archive.namelist()}
    arrays = sorted(n for n in members if n.endswith(".npy"))
    if arrays and rng.random() < 0.6:
        member = rng.choice(arrays)
        data = np.load(io.BytesIO(members[member]), allow_pickle=False)
        flat = data.reshape(-1).copy()
        if flat.size:
            i = rng.randrange(flat.size)
            kind = rng.choice(["huge", "negative", "nan", "shrink"])
            if kind == "shrink":
                flat = flat[:-1]
            elif flat.dtype.kind == "f":
                flat[i] = {"huge": 1e300, "negative": -flat[i] - 1, "nan": math.nan}[kind]
            elif flat.dtype.kind in "iu":
                flat[i] = {"huge": 10 ** 6, "negative": 0, "nan": 7}[kind] if \
                    flat.dtype.kind == "u" else {"huge": 10 ** 6, "negative": -7,
                                                 "nan": 123456}[kind]
        buffer = io.BytesIO()
        np.save(buffer, flat if kind == "shrink" else flat.reshape(data.shape),
                allow_pickle=False)
        members[member] = buffer.getvalue()
        what = f"{member}:{kind}"
    else:
        schema = json.loads(members["schema.json"])
        leaves = [(p, v) for p, v in _leaves(schema) if p]
        where, old = rng.choice(leaves)
        new = rng.choice(["sklearn.tree._tree.Tree", "builtins.int", "numpy.ndarray", 0,
                          -1, None, "x"] + ([old + 1] if isinstance(old, int) else []))
        _set(schema, where, new)
        members["schema.json"] = json.dumps(schema).encode()
        what = f"schema.json:{'/'.join(map(str, where))}={new!r:.30}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name, blob in members.items():
            out.writestr(name, blob)
    path.write_bytes(buffer.getvalue())
    return what


def _cases(originals, root):
    """``CASES`` mutated copies (seeded): ``[(runs_dir, description)]``."""
    rng = random.Random(SEED)
    cases = []
    for k in range(CASES):
        original = originals[k % len(originals)]
        runs = root / f"case{k:02d}"
        run = copy_run(original, runs)
        skops = (run / "baseline.skops").exists() and rng.random() < 0.5
        what = _mutate_skops(run, rng) if skops else _mutate_json(run, rng)
        if rng.random() < 0.85:
            rehash(run)
            what += " (re-hashed)"
        cases.append((runs, what))
    return cases


def _sane(values) -> bool:
    for row in values:
        numbers = {k: v for k, v in row.items() if k.startswith(("forecast", "lower_",
                                                                 "upper_"))}
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in
                   numbers.values()):
            return False
        for key in [k for k in numbers if k.startswith("lower_")]:
            if not numbers[key] <= numbers["forecast"] <= numbers["upper_" + key[6:]]:
                return False
    return True


def _numbers(values):
    return [[v for k, v in sorted(row.items()) if k not in ("timestamp", "series_id")]
            for row in values]


def test_mutated_runs_are_forecast_sanely_or_refused_in_one_line(originals, tmp_path):
    pytest.importorskip("fastapi")
    cases = _cases(originals, tmp_path)
    runs = [runs for runs, _ in cases]
    faces = {face: forecast_all(face, runs) for face in ("cli", "api", "serve")}
    refused = 0
    for runs_dir, what in cases:
        answers = {face: got[str(runs_dir)] for face, got in faces.items()}
        for face, answer in answers.items():
            if answer["code"] == 0:
                assert _sane(answer["values"]), (what, face, answer["values"][:2])
            else:
                assert one_line_refusal(answer), (what, face, answer)
                assert "unexpected" not in answer["stderr"], (what, face, answer["stderr"])
        codes = {face: a["code"] for face, a in answers.items()}
        assert len(set(codes.values())) == 1, (what, codes,
                                                {f: a["stderr"] for f, a in answers.items()})
        if answers["cli"]["code"] == 0:
            first = _numbers(answers["cli"]["values"])
            for face in ("api", "serve"):
                np.testing.assert_allclose(_numbers(answers[face]["values"]), first,
                                           rtol=1e-9, err_msg=f"{what} ({face})")
        refused += answers["cli"]["code"] != 0
    assert refused >= CASES // 2  # the mutations mostly break a run: the checks catch them
