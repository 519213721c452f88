"""A run's files are checked for their content, not only their types and hashes: a
``baseline.skops`` of trusted types holding out-of-range tree indices, a baseline.json with
negative interval widths or an out-of-range Theta alpha, a run deploying a baseline that
is not there — each is refused with one line by ``forecast predict``, the Python API and
``forecast serve`` (faces run in child processes where a crash is possible), and the
server's cache notices a run's files changing."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from forecaster.errors import ArtifactError, ConfigError
from tests.run_faces import copy_run, forecast_all, make_run, one_line_refusal, rehash


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A ridge-deployed and a Theta-deployed run (tiny settings)."""
    root = tmp_path_factory.mktemp("content")
    return {name: make_run(name, root / f"runs_{name}") for name in ("ridge", "theta")}


def _pipeline(run):
    import skops.io

    blob = (run / "baseline.skops").read_bytes()
    return skops.io.loads(blob, trusted=skops.io.get_untrusted_types(data=blob))


def _tree_pipeline(run, corrupt: bool):
    """The run's pipeline with its Ridge swapped for a decision tree — with child and
    feature indices far out of range when ``corrupt``."""
    import skops.io
    from sklearn.tree import DecisionTreeRegressor

    pipeline = _pipeline(run)
    width = len(pipeline[:-1].get_feature_names_out())
    rng = np.random.default_rng(0)
    tree = DecisionTreeRegressor(max_depth=3, random_state=0).fit(
        rng.normal(size=(50, width)), rng.normal(size=50))
    if corrupt:
        state = tree.tree_.__getstate__()
        nodes = state["nodes"].copy()
        nodes["left_child"][0] = 10 ** 7
        nodes["right_child"][0] = 10 ** 7
        nodes["feature"][0] = 10 ** 7
        state["nodes"] = nodes
        tree.tree_.__setstate__(state)
    pipeline.steps[-1] = ("model", tree)
    return skops.io.dumps(pipeline)


def _forged(made, tmp_path, name, change):
    """A copy of run ``name`` changed by ``change(run)`` and re-hashed; its runs folder."""
    runs = tmp_path / f"forged_{name}"
    run = copy_run(made[name], runs)
    change(run)
    rehash(run)
    return runs


def test_a_tree_with_out_of_range_indices_is_refused_not_run(made, tmp_path):
    """The reported crash: exit 139 from `forecast predict`, the API and the server."""
    runs = _forged(made, tmp_path, "ridge", lambda run: (run / "baseline.skops").write_bytes(
        _tree_pipeline(run, corrupt=True)))
    for face in ("cli", "api", "serve"):
        result = forecast_all(face, [runs])[str(runs)]
        assert one_line_refusal(result), (face, result)
        assert "baseline" in result["stderr"], (face, result)
        if face == "serve":
            assert result["status"] == 409


def test_an_estimator_of_another_kind_than_run_json_names_is_refused(made, tmp_path):
    from forecaster.pipeline.predict import load_baseline
    from forecaster.runs.record import RunRecord

    runs = _forged(made, tmp_path, "ridge", lambda run: (run / "baseline.skops").write_bytes(
        _tree_pipeline(run, corrupt=False)))
    with pytest.raises(ArtifactError, match="ridge.*Ridge.*DecisionTreeRegressor"):
        load_baseline(RunRecord.load(next(p for p in runs.iterdir() if p.is_dir())))


def _edit_baseline(run, edit):
    stored = json.loads((run / "baseline.json").read_text())
    edit(stored)
    (run / "baseline.json").write_text(json.dumps(stored))


def test_negative_conformal_widths_in_baseline_json_are_refused(made, tmp_path):
    import forecaster as fc

    def negative(stored):
        stored["conformal"] = {k: [-5.0] * len(v) if k == "80" else [-1.0] * len(v)
                               for k, v in stored["conformal"].items()}

    runs = _forged(made, tmp_path, "ridge", lambda run: _edit_baseline(run, negative))
    with pytest.raises(ArtifactError, match="non-negative widths"):
        fc.load(runs)


def test_a_theta_alpha_out_of_range_says_so(made, tmp_path):
    import forecaster as fc

    runs = _forged(made, tmp_path, "theta", lambda run: _edit_baseline(
        run, lambda s: s["model"].update(alpha=[2.0] * len(s["model"]["alpha"]))))
    with pytest.raises(ArtifactError, match=r"`alpha` must lie in \[0.01, 0.99\]"):
        fc.load(runs)


def test_a_run_deploying_a_baseline_it_does_not_have_is_refused_by_every_route(
        made, tmp_path):
    pytest.importorskip("fastapi")
    from forecaster.serve.run_cache import details

    runs = tmp_path / "nobaseline"
    run = copy_run(made["theta"], runs)
    (run / "baseline.json").unlink()
    info = json.loads((run / "run.json").read_text())
    info["sha256"].pop("baseline.json")
    (run / "run.json").write_text(json.dumps(info))
    with pytest.raises(ArtifactError, match="baseline.json"):
        details(run)


def test_the_server_cache_notices_a_changed_file(made, tmp_path):
    pytest.importorskip("fastapi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from forecaster.serve.app import create_app

    runs = tmp_path / "edited"
    run = copy_run(made["theta"], runs)
    client = TestClient(create_app(runs))
    assert client.post(f"/runs/{run.name}/forecast", json={"horizon": 3}).status_code == 200
    path = run / "preprocessing.json"
    path.write_text(path.read_text().replace('"window"', '"window" ', 1))  # same JSON
    assert client.get(f"/runs/{run.name}").status_code == 409
    assert client.post(f"/runs/{run.name}/forecast", json={"horizon": 3}).status_code == 409


def test_levels_as_one_number_and_a_run_without_intervals(made, tmp_path):
    import forecaster as fc

    model = fc.load(made["theta"].parent)
    one = model.predict(3, levels=80)
    assert {"lower_80", "upper_80"} <= set(one.columns) and "lower_95" not in one.columns
    with pytest.raises(ConfigError, match="levels"):
        model.predict(3, levels="80")
    runs = _forged(made, tmp_path, "theta", lambda run: _edit_baseline(
        run, lambda s: s.update(conformal=None)))
    bare = fc.load(runs)
    with pytest.raises(ConfigError, match="has no intervals"):
        bare.predict(3, levels=[50])
