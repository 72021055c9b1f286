"""The ``mpiheat`` console script: ``mpiheat run JOB.toml ...`` and ``mpiheat inspect RESULT.h5``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: mpiheat run JOB.toml [options] | mpiheat inspect RESULT.h5")
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "run":
        from mpiheat.run import main as run_main

        return run_main(rest)
    if cmd == "inspect":
        from mpiheat.inspect import main as inspect_main

        return inspect_main(rest)
    print(f"error: unknown command {cmd!r} (run | inspect)", file=sys.stderr)
    return 2
