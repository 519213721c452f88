"""Run directories are atomic, `latest` moves last, loading is safe."""

import json
import os
import time
from pathlib import Path

import pytest

from forecaster.runs import artifacts

from forecaster.runs import ids as run_ids
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
    assert run_ids.resolve_run(tmp_path) == tmp_path / "run-a"


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


def _staged(runs: Path, name: str, owner=None, age_days: float = 0.0) -> Path:
    """A staging directory as another process would leave it: ``owner`` is the content of
    its unlocked ``.owner`` file (None: none), ``age_days`` its age."""
    entry = runs / f".tmp-{name}-abc-p1"
    entry.mkdir()
    stamp = time.time() - age_days * 86400
    if owner is not None:
        (entry / artifacts.OWNER).write_text(json.dumps(owner))
        os.utime(entry / artifacts.OWNER, (stamp, stamp))
    os.utime(entry, (stamp, stamp))
    return entry


def test_stale_staging_is_swept_only_when_its_owner_is_certainly_gone(tmp_path):
    here = artifacts._identity()
    dead_here = _staged(tmp_path, "dead", {"identity": here, "pid": 999_999})
    alive_here = _staged(tmp_path, "alive", {"identity": here, "pid": os.getpid()})
    other_fresh = _staged(tmp_path, "other", {"identity": "elsewhere/boot/1", "pid": 7})
    other_old = _staged(tmp_path, "old", {"identity": "elsewhere/boot/1", "pid": 7},
                        age_days=2)
    legacy_fresh = _staged(tmp_path, "legacy", None)
    legacy_old = _staged(tmp_path, "legacyold", None, age_days=2)
    artifacts.sweep_stale(tmp_path)
    assert not dead_here.exists() and not other_old.exists() and not legacy_old.exists()
    # a live PID here, another container or host (PIDs mean nothing here), no owner file
    assert alive_here.exists() and other_fresh.exists() and legacy_fresh.exists()


def test_a_locked_staging_directory_is_never_swept(tmp_path):
    """While a training writes, its owner lock is held: another process (here: a sweep
    that finds the owner's PID dead, as one in another container would) leaves it."""
    with artifacts.staging(tmp_path, "busy") as stage:
        owner = json.loads((stage.path / artifacts.OWNER).read_text())
        assert owner == {"identity": artifacts._identity(), "pid": os.getpid()}
        (stage.path / artifacts.OWNER).write_text(json.dumps({"identity": "x", "pid": 1}))
        os.utime(stage.path / artifacts.OWNER, (0, 0))  # looks ancient and foreign
        artifacts.sweep_stale(tmp_path)
        assert stage.path.exists()
        _complete(stage.path)
    assert not (stage.final / artifacts.OWNER).exists()


def test_a_killed_report_writers_staging_folder_is_swept_by_the_next(tmp_path):
    """kill -9 during a report leaves its staging sibling; the next report into the same
    folder removes it once its owner is certainly gone, and never a live writer's."""
    here = artifacts._identity()
    dead = tmp_path / ".report-abc123.tmp"
    alive = tmp_path / ".report-def456.tmp"
    other = tmp_path / ".other-ghi789.tmp"  # another folder's staging: not ours to judge
    for entry, pid in ((dead, 999_999), (alive, os.getpid()), (other, 999_999)):
        entry.mkdir()
        (entry / artifacts.OWNER).write_text(json.dumps({"identity": here, "pid": pid}))
    with artifacts.staged_files(tmp_path / "report") as stage:
        assert (stage / artifacts.OWNER).exists()  # claimed while it is written
        (stage / "report.html").write_text("page")
    assert not dead.exists() and alive.exists() and other.exists()
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == ["report.html"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report-")
                and p != alive]


def test_latest_that_cannot_be_written_rolls_the_run_back(tmp_path, monkeypatch):
    with artifacts.staging(tmp_path, "first") as stage:
        _complete(stage.path)

    def full(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(artifacts, "set_latest", full)
    with pytest.raises(ArtifactError, match=r"could not point .*latest.* at the new run "
                                            r"\(No space left on device\); the run was not kept"):
        with artifacts.staging(tmp_path, "second") as stage:
            _complete(stage.path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first", "latest"]
    assert (tmp_path / "latest").read_text().strip() == "first"


def test_runs_dir_that_cannot_be_written_is_one_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ArtifactError, match=r"cannot write runs to '.*file/runs'"):
        artifacts.check_writable(blocker / "runs", "runs")
    with pytest.raises(ArtifactError, match="cannot write runs to"):
        with artifacts.staging(blocker / "runs", "r"):
            pass


def test_staged_files_replace_their_namesakes_only_when_complete(tmp_path):
    final = tmp_path / "report"
    final.mkdir()
    (final / "report.html").write_text("old")
    (final / "notes.txt").write_text("the user's own")
    with pytest.raises(RuntimeError):
        with artifacts.staged_files(final) as stage:
            (stage / "figure.png").write_bytes(b"")  # a half-written figure (full disk)
            raise RuntimeError("No space left on device")
    assert sorted(p.name for p in final.iterdir()) == ["notes.txt", "report.html"]
    assert (final / "report.html").read_text() == "old"
    with artifacts.staged_files(final) as stage:
        (stage / "report.html").write_text("new")
        (stage / "figure.png").write_bytes(b"png")
    assert (final / "report.html").read_text() == "new"
    assert (final / "notes.txt").read_text() == "the user's own"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
    with artifacts.staged_files(tmp_path / "fresh") as stage:
        (stage / "report.html").write_text("x")
    assert (tmp_path / "fresh" / "report.html").read_text() == "x"


def test_staged_files_never_write_through_links(tmp_path):
    final = tmp_path / "report"
    final.mkdir()
    elsewhere = tmp_path / "elsewhere.html"
    elsewhere.write_text("keep")
    (final / "report.html").symlink_to(elsewhere)
    (final / "a.png").write_text("old figure")
    with pytest.raises(ArtifactError, match="not a regular file"):
        with artifacts.staged_files(final) as stage:
            (stage / "report.html").write_text("new")
            (stage / "a.png").write_text("new figure")
    assert elsewhere.read_text() == "keep"
    assert (final / "a.png").read_text() == "old figure"  # nothing replaced at all
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere.html", "report"]


def test_spreadsheet_formulas_in_ids_are_quoted_and_read_back():
    import pandas as pd

    frame = pd.DataFrame({"series_id": ["=HYPERLINK(\"http://x\")", "+1", "-x", "@a",
                                        "\tb", "ok", "a=b"], "forecast": [-1.0] * 7})
    safe = artifacts.spreadsheet_safe(frame)
    assert safe["series_id"].tolist() == ["'=HYPERLINK(\"http://x\")", "'+1", "'-x", "'@a",
                                          "'\tb", "ok", "a=b"]
    assert safe["forecast"].tolist() == [-1.0] * 7  # numbers are left alone
    assert artifacts.spreadsheet_unsafe(safe["series_id"]).tolist() == \
        frame["series_id"].tolist()


def test_resolve_run_errors(tmp_path):
    with pytest.raises(RunNotFoundError, match="no runs found"):
        run_ids.resolve_run(tmp_path)
    (tmp_path / "r1").mkdir()
    with pytest.raises(RunNotFoundError, match="incomplete: missing model.keras"):
        run_ids.resolve_run(tmp_path, "r1")
    with pytest.raises(RunNotFoundError, match="does not exist"):
        run_ids.resolve_run(tmp_path, "nope")
    with pytest.raises(RunNotFoundError, match="must be a run directory name"):
        run_ids.resolve_run(tmp_path, "../../etc")


def test_read_json_errors_are_artifact_errors(tmp_path):
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        artifacts.read_json(tmp_path / "bad.json")


def test_run_name_is_safe():
    name = artifacts.run_name("données été/<x>", "tanh_cell")
    assert all(c.isalnum() or c in "-_." for c in name)


def test_a_model_that_fails_to_load_names_the_backend_it_was_trained_under(tmp_path):
    pytest.importorskip("keras")
    from forecaster.runs.artifacts import load_model

    (tmp_path / "model.keras").write_bytes(b"not a zip file")
    (tmp_path / "run.json").write_text(json.dumps({"keras_backend": "some_other_backend"}))
    with pytest.raises(ArtifactError, match=r"refusing to load model .*trained under the "
                                            r"some_other_backend backend .* try "
                                            r"KERAS_BACKEND=some_other_backend\)$"):
        load_model(tmp_path / "model.keras")


def test_a_full_disk_while_writing_a_run_is_one_error_and_keeps_nothing(tmp_path):
    with artifacts.staging(tmp_path, "first") as stage:
        _complete(stage.path)
    with pytest.raises(ArtifactError, match=r"cannot write the run into '.*': No space left "
                                            r"on device; nothing was kept\."):
        with artifacts.staging(tmp_path, "second") as stage:
            (stage.path / "model.keras").write_bytes(b"partial")
            raise OSError(28, "No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first", "latest"]
    assert (tmp_path / "latest").read_text().strip() == "first"
