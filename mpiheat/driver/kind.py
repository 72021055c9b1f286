"""What the driver receives: a job kind BOUND to one validated job (``mpiheat.kinds.build(cfg)`` makes it).

The driver never sees the job file: everything it needs is asked of this object. A kind computes its sweep points
in order, declares every results column (:class:`~mpiheat.io.schema.Column`: parameters and results, in file order;
the driver adds ``done``), chooses its ranks per point, and computes one point on a (sub-)communicator.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from mpiheat.io.schema import Column


@runtime_checkable
class Kind(Protocol):
    """A job kind bound to a validated job (Contract 2 of the redesign).

    Attributes
    ----------
    name : str
        Kind name stored as the root attribute ``kind`` ("classical", "quantum", ...).
    identity : str
        The job's identity (what determines the numbers): a results file with another identity is never resumed.

    Optional methods (looked up with ``getattr``): ``extra_columns() -> {group: [Column]}`` declares the datasets of
    the extra groups that :meth:`finish` returns (e.g. ``/spectrum``), so that they carry units and descriptions too.
    """

    name: str
    identity: str

    def points(self) -> list[dict]:
        """Sweep points in order: dicts of parameter columns (T_L, T_R, ... and swept values)."""

    def columns(self) -> list[Column]:
        """Every column of ``/results`` (parameters and results) in file order, without ``done``."""

    def ranks_per_point(self, size: int) -> int:
        """Ranks sharing one point on a world of ``size`` ranks; raises the kind's own input error when invalid."""

    def prepare(self, comm) -> Any:
        """Collective set-up on the world communicator (e.g. calibrate gamma); returns a context for compute."""

    def compute(self, ctx: Any, point: dict, index: int, comm) -> dict:
        """Results of point ``index`` (declared result columns), computed by the ranks of ``comm``, same on all."""

    def finish(self, ctx: Any, columns: dict, complete: bool) -> tuple[dict, dict]:
        """Rank 0, at every write: extra root attributes and extra groups (``{group: {name: array}}``)."""

    def summary_columns(self) -> list[str]:
        """Column names for the printed summary table."""
