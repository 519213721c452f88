"""The layering is enforced, not hoped: the import-linter contracts of pyproject.toml
(faces → API → pipelines → reports → runs → domain → runtime → base) hold for the package,
and the same kind of contract does catch an upward import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import ROOT


def _lint(cwd: Path, extra_path: Path | None = None) -> subprocess.CompletedProcess:
    env = None
    if extra_path is not None:
        import os

        env = {**os.environ, "PYTHONPATH": str(extra_path)}
    code = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run([sys.executable, "-c", code, "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_layer_contracts():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
    assert "Layers: faces, API, pipelines" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    pkg = tmp_path / "layered"
    for name, body in {"__init__.py": "", "top.py": "import layered.bottom\n",
                       "bottom.py": "def f():\n    import layered.top  # upward\n"}.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(body)
    (tmp_path / ".importlinter").write_text(textwrap.dedent("""
        [importlinter]
        root_package = layered

        [importlinter:contract:layers]
        name = top over bottom
        type = layers
        layers =
            layered.top
            layered.bottom
        """))
    result = _lint(tmp_path, extra_path=tmp_path)
    assert result.returncode != 0
    assert "layered.bottom is not allowed to import layered.top" in result.stdout
