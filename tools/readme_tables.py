"""Regenerate README.md's generated tables from the declarations: ``python tools/readme_tables.py [--check]``.

* the job key table (every key of every section: :func:`mpiheat.kinds.keys_table`), between
  ``<!-- keys-table -->`` and ``<!-- /keys-table -->``;
* the results column table (every column each kind can write, with dtype, units and meaning:
  :func:`mpiheat.kinds.columns_table`), between ``<!-- columns-table -->`` and ``<!-- /columns-table -->``.

``--check`` exits 1 when README.md is out of date (``tests/test_readme_tables.py`` does the same).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def tables() -> dict[str, str]:
    from mpiheat.kinds import columns_table, keys_table

    return {"keys-table": keys_table(), "columns-table": columns_table()}


def render(text: str) -> str:
    """README text with every generated table replaced by its current version."""
    for tag, table in tables().items():
        pattern = re.compile(rf"(<!-- {tag} -->\n)(?:.*?\n)?(<!-- /{tag} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- {tag} --> ... <!-- /{tag} --> block")
        text = pattern.sub(lambda m, table=table: m.group(1) + table + "\n" + m.group(2), text)
    return text


def main(argv: list[str]) -> int:
    path = ROOT / "README.md"
    old = path.read_text()
    new = render(old)
    if "--check" in argv:
        if new != old:
            print("README.md tables are out of date: run python tools/readme_tables.py", file=sys.stderr)
            return 1
        return 0
    if new != old:
        path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
