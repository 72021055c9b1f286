"""Job kinds: each module turns a validated :class:`~mpiheat.config.JobConfig` into sweep points and results.

The interface is :class:`mpiheat.driver.runner.Kind`; every kind is also a plain Python API (``run(cfg)``).
"""

from __future__ import annotations

import importlib

_KINDS = {
    "classical": "mpiheat.kinds.classical",
    "quantum": "mpiheat.kinds.quantum",
    "calibrate": "mpiheat.kinds.calibrate",
    "relaxation": "mpiheat.kinds.relaxation",
    "scaling": "mpiheat.kinds.scaling",
}


def get_kind(name: str):
    """The kind object for ``name`` (imported lazily so that a classical run never imports PETSc)."""
    try:
        module = importlib.import_module(_KINDS[name])
    except KeyError:
        raise ValueError(f"unknown job kind {name!r}") from None
    return module.KIND
