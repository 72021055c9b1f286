"""The layering of the package is a checked contract (issue 11): ``lint-imports`` (PyPI import-linter) with the
project's ``.importlinter`` reports every contract kept: no upward import and no import between classical and quantum,
counting the imports inside functions (grimp records every import statement of a module)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, child_env

LINT = Path(sys.executable).with_name("lint-imports")


def _lint(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    if not LINT.exists():
        pytest.fail(f"{LINT} is missing: import-linter belongs to the test extra (make setup installs it)")
    return subprocess.run([str(LINT), "--no-cache", *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env=child_env())


def test_layers_contract_kept():
    proc = _lint()
    assert proc.returncode == 0 and "0 broken" in proc.stdout, proc.stdout + proc.stderr


def test_contract_sees_imports_inside_functions(tmp_path):
    """The checker is not blind: an upward import hidden inside a function of a throw-away package breaks it."""
    pkg = tmp_path / "toy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "top.py").write_text("import toy.bottom\n")
    (pkg / "bottom.py").write_text("def f():\n    import toy.top  # upward, inside a function\n")
    (tmp_path / ".importlinter").write_text("[importlinter]\nroot_package = toy\n\n[importlinter:contract:l]\n"
                                            "name = toy layers\ntype = layers\ncontainers = toy\nlayers =\n"
                                            "    top\n    bottom\n")
    proc = subprocess.run([str(LINT), "--no-cache"], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env=child_env(PYTHONPATH=str(tmp_path)))
    assert proc.returncode != 0 and "1 broken" in proc.stdout, proc.stdout + proc.stderr
    assert "toy.bottom -> toy.top" in proc.stdout
