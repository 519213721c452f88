"""Run directories are atomic, `latest` moves last, loading is safe."""

import json
import os
from pathlib import Path

import pytest

from forecaster import artifacts
from forecaster.errors import ArtifactError, RunNotFoundError


def _complete(path: Path):
    for name in artifacts.REQUIRED:
        (path / name).write_text("x")


def test_staging_publishes_and_moves_latest(tmp_path):
    with artifacts.staging(tmp_path, "run-a") as stage:
        assert stage.path.name.startswith(".tmp-")
        _complete(stage.path)
        assert not (tmp_path / "latest").exists()
    assert stage.final == tmp_path / "run-a"
    assert (tmp_path / "latest").read_text().strip() == "run-a"
    assert artifacts.resolve_run(tmp_path) == tmp_path / "run-a"


def test_failure_leaves_no_run_and_latest_unchanged(tmp_path):
    with artifacts.staging(tmp_path, "good") as stage:
        _complete(stage.path)
    with pytest.raises(RuntimeError):
        with artifacts.staging(tmp_path, "bad") as stage:
            (stage.path / "model.keras").write_text("half")
            raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good", "latest"]
    assert (tmp_path / "latest").read_text().strip() == "good"


def test_name_collisions_get_a_suffix(tmp_path):
    for _ in range(3):
        with artifacts.staging(tmp_path, "same") as stage:
            _complete(stage.path)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == \
        ["same", "same-2", "same-3"]


def test_stale_temp_dirs_of_dead_processes_are_swept(tmp_path):
    stale = tmp_path / ".tmp-x-abc-p999999"
    stale.mkdir()
    mine = tmp_path / f".tmp-y-abc-p{os.getpid()}"
    mine.mkdir()
    artifacts.sweep_stale(tmp_path)
    assert not stale.exists() and mine.exists()


def test_resolve_run_errors(tmp_path):
    with pytest.raises(RunNotFoundError, match="no runs found"):
        artifacts.resolve_run(tmp_path)
    (tmp_path / "r1").mkdir()
    with pytest.raises(RunNotFoundError, match="incomplete: missing model.keras"):
        artifacts.resolve_run(tmp_path, "r1")
    with pytest.raises(RunNotFoundError, match="does not exist"):
        artifacts.resolve_run(tmp_path, "nope")
    with pytest.raises(RunNotFoundError, match="must be a run directory name"):
        artifacts.resolve_run(tmp_path, "../../etc")


def test_read_json_errors_are_artifact_errors(tmp_path):
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        artifacts.read_json(tmp_path / "bad.json")


def test_run_name_is_safe():
    name = artifacts.run_name("données été/<x>", "tanh_cell")
    assert all(c.isalnum() or c in "-_." for c in name)


def test_a_model_that_fails_to_load_names_the_backend_it_was_trained_under(tmp_path):
    pytest.importorskip("keras")
    from forecaster.artifacts import load_model

    (tmp_path / "model.keras").write_bytes(b"not a zip file")
    (tmp_path / "run.json").write_text(json.dumps({"keras_backend": "some_other_backend"}))
    with pytest.raises(ArtifactError, match=r"refusing to load model .*trained under the "
                                            r"some_other_backend backend .* try "
                                            r"KERAS_BACKEND=some_other_backend\)$"):
        load_model(tmp_path / "model.keras")
