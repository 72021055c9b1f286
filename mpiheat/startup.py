"""Start-up checks of the command line: what a job needs from this machine, checked before any heavy work.

Job validation (:mod:`mpiheat.config`, :mod:`mpiheat.kinds`) is pure; the checks that look at the environment live
here: the output folder (exists, writable, the name fits the file system's limits, the output is not a folder) and
the PETSc backend (importable when the job asks for it). Each problem is a one-line
:class:`~mpiheat.config.JobError` (exit 2).
"""

from __future__ import annotations

import os

from mpiheat.config import JobConfig, JobError
from mpiheat.config.checks import NAME_MAX, PATH_MAX, output_name_problem, short


def check_output(cfg: JobConfig) -> None:
    """The results file can be created where ``[job] output`` says (no-op for a job without output)."""
    path = cfg.job.output
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise JobError(cfg.source, "[job] output", f"folder {short(folder, 300)} does not exist")
    try:  # the file system's own limits (the job was checked against the POSIX defaults)
        name_max = os.pathconf(folder, "PC_NAME_MAX")
        path_max = os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = NAME_MAX, PATH_MAX
    problem = output_name_problem(path, name_max, path_max)
    if problem:
        raise JobError(cfg.source, "[job] output", problem)
    if not os.access(folder, os.W_OK):
        raise JobError(cfg.source, "[job] output", f"folder {short(folder, 300)} is not writable")
    if os.path.isdir(path):
        raise JobError(cfg.source, "[job] output", f"{short(path, 300)} is a folder")


def check_petsc(cfg: JobConfig) -> None:
    """A job that asks for the PETSc backend needs petsc4py and slepc4py."""
    from mpiheat.kinds import build

    if not build(cfg).uses_petsc():
        return
    try:
        import petsc4py  # noqa: F401
        import slepc4py  # noqa: F401
    except ImportError:
        raise JobError(cfg.source, "[quantum] backend",
                       "\"petsc\" requested but petsc4py/slepc4py cannot be imported") from None


def check_environment(cfg: JobConfig) -> None:
    """All start-up checks of a job (output, then PETSc), in the order the old validation made them."""
    check_output(cfg)
    check_petsc(cfg)
