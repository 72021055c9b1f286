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

import os

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
    "ScalingSection", "Sweep", "SystemSection", "TemperaturesSection", "build_config", "build_sections", "dump_toml",
    "load_job", "parse_bytes", "parse_job", "parse_text", "read_text",
]


# --------------------------------------------------------------------------------------------------------------------
# TEMPORARY (issue 11 transition): the old entry points, kept until the command line, resources and warm-up call
# mpiheat.kinds.load_job and mpiheat.startup.check_environment themselves. These function-level imports point up
# (config -> kinds) and go away with them.


def build_config(data: dict, source: str = "<job>", check_output: bool = True) -> JobConfig:
    """Deprecated: :func:`mpiheat.kinds.build_config` (+ :func:`mpiheat.startup.check_environment`)."""
    from mpiheat import kinds, startup

    cfg = kinds.build_config(data, source)
    if check_output:
        startup.check_environment(cfg)
    return cfg


def parse_job(text: str, source: str = "<job>", overrides: list[str] | tuple = (), output: str | None = None,
              check_output: bool = True) -> JobConfig:
    """Deprecated: :func:`mpiheat.kinds.parse_job` (+ :func:`mpiheat.startup.check_environment`)."""
    return build_config(parse_text(text, source, overrides, output), source, check_output)


def load_job(path: str | os.PathLike, overrides: list[str] | tuple = (), output: str | None = None,
             check_output: bool = True) -> JobConfig:
    """Deprecated: :func:`mpiheat.kinds.load_job` (+ :func:`mpiheat.startup.check_environment`)."""
    return parse_job(read_text(path), str(path), overrides, output, check_output)
