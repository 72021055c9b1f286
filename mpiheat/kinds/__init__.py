"""Job kinds: thin adapters from a validated job to the physics and back to declared rows.

``build(cfg)`` returns the kind object bound to the job (the driver's ``Kind``: points, columns, ranks_per_point,
prepare, compute, finish, summary_columns, identity, name). :data:`KINDS` is the one registry of kinds; each kind
declares the TOML sections it reads, its own validation and its results columns. ``load_job`` / ``parse_job`` /
``build_config`` validate a whole job: the sections (:mod:`mpiheat.config`), then the kind's rules and the size of its
sweep. They are pure (no file system, no PETSc): the command line's start-up checks are :mod:`mpiheat.startup`.
"""

from __future__ import annotations

import dataclasses
import os

from mpiheat.config import JobConfig, JobError, build_sections, parse_text, read_text
from mpiheat.kinds.base import JobKind
from mpiheat.kinds.calibrate import CalibrateKind
from mpiheat.kinds.classical import ClassicalKind
from mpiheat.kinds.quantum import QuantumKind
from mpiheat.kinds.relaxation import RelaxationKind
from mpiheat.kinds.scaling import ScalingKind

#: The registry: kind name -> class (the ``[job] kind`` choices, in this order).
KINDS: dict[str, type[JobKind]] = {k.name: k for k in (ClassicalKind, QuantumKind, CalibrateKind, RelaxationKind,
                                                       ScalingKind)}

__all__ = ["KINDS", "JobKind", "build", "build_config", "parse_job", "load_job", "all_columns", "keys_table",
           "columns_table"]


def build_config(data: dict, source: str = "<job>", *, require_output: bool = True) -> JobConfig:
    """Validate parsed job tables into a :class:`~mpiheat.config.JobConfig` (sections, then the kind's rules).

    ``require_output=False`` accepts a job without ``[job] output`` (the Python API writes nothing then).
    """
    cfg = build_sections(data, source, {name: k.sections for name, k in KINDS.items()},
                         require_output=require_output)
    cls = KINDS[cfg.job.kind]
    cls.validate(cfg)
    return dataclasses.replace(cfg, points_count=cls.count_points(cfg))


def parse_job(text: str, source: str = "<job>", overrides: list[str] | tuple = (), output: str | None = None, *,
              require_output: bool = True) -> JobConfig:
    """Parse and validate job TOML text (with ``section.key=value`` overrides). Raises :class:`JobError`."""
    return build_config(parse_text(text, source, overrides, output), source, require_output=require_output)


def load_job(path: str | os.PathLike, overrides: list[str] | tuple = (), output: str | None = None, *,
             require_output: bool = True) -> JobConfig:
    """Read and validate a job file (see :func:`parse_job`)."""
    return parse_job(read_text(path), str(path), overrides, output, require_output=require_output)


def build(cfg: JobConfig) -> JobKind:
    """The kind object bound to the validated job ``cfg`` (what the driver runs)."""
    try:
        cls = KINDS[cfg.job.kind]
    except KeyError:
        raise JobError(cfg.source, "[job] kind", f"must be one of {', '.join(KINDS)}, got {cfg.job.kind!r}") from None
    return cls(cfg)


# --------------------------------------------------------------------------------------------------------------------
# README tables


def all_columns() -> dict[str, list]:
    """``{kind: [Column, ...]}``: every results column each kind can write (all variants), for the README table."""
    from mpiheat.io.schema import by_name
    from mpiheat.kinds import calibrate, classical, quantum, relaxation, scaling
    from mpiheat.kinds.columns import J_MAXWELL, KAPPA_COLUMN, KAPPA_ERR, PARAMETERS, REDFIELD_CHECK, STEADY_STATE

    return {
        "parameters (all kinds)": list(PARAMETERS.values()),
        "classical (md)": [*classical.MD_COLUMNS, J_MAXWELL, KAPPA_COLUMN, KAPPA_ERR],
        "classical (transfer)": [*classical.TRANSFER_COLUMNS, J_MAXWELL, KAPPA_COLUMN, classical.TRANSFER_KAPPA_ERR],
        "quantum": list(by_name([*STEADY_STATE, *quantum.POINT_COLUMNS, KAPPA_COLUMN, *REDFIELD_CHECK]).values()),
        "calibrate": list(calibrate.COLUMNS),
        "relaxation (classical)": list(relaxation.CLASSICAL_COLUMNS),
        "relaxation (quantum)": list(relaxation.QUANTUM_COLUMNS),
        "scaling": [*scaling.QUANTUM_COLUMNS, *scaling.CLASSICAL_COLUMNS],
    }


def keys_table() -> str:
    """README's table of every job key."""
    from mpiheat.config.readme import keys_table as _keys

    return _keys(KINDS)


def columns_table() -> str:
    """README's table of every results column, from the kinds' declarations."""
    from mpiheat.config.readme import columns_table as _cols

    return _cols(all_columns())
