"""README tables generated from the declarations: every job key (sections) and every results column (kinds).

``python -m mpiheat.kinds.readme`` prints both; ``tests/test_readme_tables.py`` checks that README.md carries them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields

from mpiheat.config.schema import SECTIONS
from mpiheat.config.toml_io import toml_value


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # "a | b" in a doc must not split the Markdown cell


def keys_table(kind_names: Iterable[str]) -> str:
    """Markdown table of every job key (section, key, default, meaning); ``kind_names`` fills the kind key's doc."""
    names = " | ".join(kind_names)
    rows = ["| section | key | default | meaning |", "|---|---|---|---|"]
    for name, cls in SECTIONS.items():
        for f in fields(cls):
            d = f.default
            dv = "—" if d is None else toml_value(list(d) if isinstance(d, tuple) else d)
            doc = _cell(f.metadata["doc"].replace("{kinds}", names))
            rows.append(f"| `[{name}]` | `{f.name}` | `{dv}` | {doc} |")
    return "\n".join(rows)


def columns_table(kinds: Mapping[str, Iterable]) -> str:
    """Markdown table of every results column a kind can write: ``{kind: [Column, ...]}`` -> kind, column, dtype,
    units, health (a solver-health column, summarised by ``inspect``), meaning (one row per kind and column)."""
    rows = ["| kind | column | dtype | units | health | meaning |", "|---|---|---|---|---|---|"]
    for kind, cols in kinds.items():
        for c in cols:
            units = f"`{c.units}`" if c.units else ""
            health = "yes" if getattr(c, "health", False) else ""
            rows.append(f"| {kind} | `{c.name}` | {c.dtype} | {units} | {health} | {_cell(c.description)} |")
    return "\n".join(rows)
