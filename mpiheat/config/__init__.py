"""Job files: TOML -> validated, frozen dataclasses (SPEC §5), split by concern.

* :mod:`~mpiheat.config.checks`: value checkers and the one-line :class:`JobError` (file, key, problem);
* :mod:`~mpiheat.config.schema`: the section classes (every key declared: name, type, default, check, doc), the
  validated :class:`JobConfig` and the rules common to every kind;
* :mod:`~mpiheat.config.toml_io`: reading job text and ``--set`` overrides, writing the resolved job;
* :mod:`~mpiheat.config.readme`: README's key table (and the formatter of the results column table).

Which sections a kind reads, its own rules and its sweep are declared by the kind: the entry points that validate a
whole job are :func:`mpiheat.kinds.load_job` / :func:`mpiheat.kinds.parse_job` / :func:`mpiheat.kinds.build_config`.
Nothing here probes the file system or imports PETSc (the command line's start-up checks do,
:mod:`mpiheat.startup`).
"""

from __future__ import annotations

from mpiheat.config.checks import INT_MAX, MAX_SWEEP_POINTS, Bad, JobError, Sweep, parse_bytes
from mpiheat.config.schema import (
    SECTIONS,
    BathSection,
    CalibrateSection,
    ClassicalSection,
    JobConfig,
    JobSection,
    ParallelSection,
    PetscSection,
    QuantumSection,
    RelaxationSection,
    ScalingSection,
    SystemSection,
    TemperaturesSection,
    build_sections,
)
from mpiheat.config.toml_io import dump_toml, parse_text, read_text

__all__ = [
    "INT_MAX", "MAX_SWEEP_POINTS", "SECTIONS", "Bad", "BathSection", "CalibrateSection", "ClassicalSection",
    "JobConfig", "JobError", "JobSection", "ParallelSection", "PetscSection", "QuantumSection", "RelaxationSection",
    "ScalingSection", "Sweep", "SystemSection", "TemperaturesSection", "build_sections", "dump_toml", "parse_bytes",
    "parse_text", "read_text",
]
