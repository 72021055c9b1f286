"""README's generated tables (job keys, results columns) are current, and every declared column is documented."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from mpiheat.io.schema import DTYPES
from mpiheat.kinds import KINDS, all_columns, build, load_job

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "tools" / "readme_tables.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_readme_tables_are_current():
    """README.md carries exactly the tables generated from the declarations (run tools/readme_tables.py)."""
    text = (ROOT / "README.md").read_text()
    assert _tool().render(text) == text, "README.md tables are out of date: run python tools/readme_tables.py"


def test_readme_lists_every_column_and_kind():
    text = (ROOT / "README.md").read_text()
    for kind, cols in all_columns().items():
        for c in cols:
            assert f"| {kind} | `{c.name}` | {c.dtype} |" in text
    for name in KINDS:
        assert name in text.split("<!-- keys-table -->")[1].split("<!-- /keys-table -->")[0]


@pytest.mark.parametrize("job", sorted(p.name for p in (ROOT / "jobs").glob("*.toml")))
def test_every_job_declares_documented_columns(job, tmp_path):
    """Each job file's kind declares its columns with a dtype, units (or "" for text/flags) and a description, and
    the parameter columns of its points come first, in point order."""
    cfg = load_job(ROOT / "jobs" / job, output=str(tmp_path / "r.h5"))
    kind = build(cfg)
    cols = kind.columns()
    names = [c.name for c in cols]
    assert len(names) == len(set(names))
    for c in cols:
        assert c.dtype in DTYPES and c.description and len(c.description) > 10, c
        assert c.units or c.dtype in ("str", "bool"), c
    params = kind.parameter_names()
    assert names[:len(params)] == params
    assert set(kind.summary_columns()) <= set(names)
