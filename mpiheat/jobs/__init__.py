"""Job kinds: each module turns a validated :class:`~mpiheat.config.JobConfig` into sweep points and results.

The interface is :class:`mpiheat.core.driver.Kind`; every kind is also a plain Python API (``run(cfg)``).
"""

from __future__ import annotations

import importlib

_KINDS = {
    "classical": "mpiheat.jobs.classical",
    "quantum": "mpiheat.jobs.quantum",
    "calibrate": "mpiheat.jobs.calibrate",
    "relaxation": "mpiheat.jobs.relaxation",
    "scaling": "mpiheat.jobs.scaling",
}


def get_kind(name: str):
    """The kind object for ``name`` (imported lazily so that a classical run never imports PETSc)."""
    try:
        module = importlib.import_module(_KINDS[name])
    except KeyError:
        raise ValueError(f"unknown job kind {name!r}") from None
    return module.KIND
