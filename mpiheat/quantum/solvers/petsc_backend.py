"""All PETSc/SLEPc code of the quantum steady states: the only module of :mod:`mpiheat.quantum.solvers` that imports
petsc4py/slepc4py.

**Lindblad** (:func:`solve_distributed`). Every rank builds its own contiguous row block of the real-representation
Liouvillian in CSR (:func:`mpiheat.quantum.operators.lindblad.liouvillian_csr`; blocks split by :func:`row_split`)
and the matrix is assembled with ``PETSc.Mat().createAIJ(csr=...)``; nothing of size ``N**2 x N**2`` is ever held
densely, and the scipy block is freed once PETSc holds the rows. The factorisation is destroyed before the solution
is gathered (the steady state is returned on every rank), so the peak memory of a rank is that of its share of the
solve. ``MPIHEAT_MEMTRACE=1`` prints each rank's peak/current RSS at every stage.

* ``"ksp"`` (formulation ``linear``): the trace-constrained system (:mod:`mpiheat.quantum.operators.constraint`: row 0
  replaced by ``s * Tr`` with ``s`` the largest diagonal magnitude of L). Default on one rank: ``preonly`` + LU by
  MUMPS; on more ranks: GMRES preconditioned by block Jacobi with one sequential MUMPS LU per rank
  (:func:`_block_jacobi`; memory per rank falls with the ranks), falling back to the distributed MUMPS LU if GMRES
  does not converge.
* ``"eps"`` (formulation ``eigen``): the eigenvector of L with eigenvalue closest to 0, by Krylov-Schur with
  shift-and-invert just below 0 (``TARGET_MAGNITUDE``), the inner solves by MUMPS LU; normalised to unit trace
  afterwards.

**Redfield** (:func:`solve_redfield_shell`): KSP (GMRES, right-preconditioned by the secular skeleton through
PCPYTHON) on a distributed shell matrix whose products are the matrix-free O(N^3) generator
(:class:`_ShellRedfield`).

**Options.** One prefix for every steady state, :data:`OPTIONS_PREFIX` = ``"ss_"``: every ``-ss_ksp_*``, ``-ss_pc_*``,
``-ss_eps_*``, ``-ss_st_*`` option is honoured through ``setFromOptions``. Options given to a solve are pushed into
PETSc's options database for that solve only and popped afterwards (:func:`scoped_options`: previous values are
restored, new names removed), so nothing of one solve leaks into the next; options given on the command line stay.

Real scalars only (Debian's PETSc build): all complex structure lives in the real representation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np

from mpiheat.numerics.parallel import allgather_blocks, block_range, get_comm, release_free_memory
from mpiheat.quantum.operators.constraint import constrain_csr, constrain_product, constrained_rhs
from mpiheat.quantum.operators.redfield import pack_xy, unpack_xy

log = logging.getLogger(__name__)

#: The options prefix of every steady-state solve (Lindblad KSP/EPS and the Redfield shell KSP).
OPTIONS_PREFIX = "ss_"

#: Defaults applied unless the user sets them, when MUMPS factorises: its automatic choice (METIS) orders the dense
#: population block badly, 20x slower than AMD at N = 300 (measured 5.4 s vs 0.25 s); the EPS inner solver has the
#: prefix ``ss_st_``.
MUMPS_OPTIONS = {"ss_mat_mumps_icntl_7": "0", "ss_st_mat_mumps_icntl_7": "0"}


def bjacobi_options(package: str) -> dict[str, str]:
    """Sub-solver of the multi-rank block Jacobi (:func:`_block_jacobi`), unless the user sets them: one sequential
    LU per rank by ``package``."""
    opts = {"ss_sub_ksp_type": "preonly", "ss_sub_pc_type": "lu", "ss_sub_pc_factor_mat_solver_type": package}
    if package == "mumps":
        opts["ss_sub_mat_mumps_icntl_7"] = "0"
    return opts


def factor_package(have, *, parallel: bool) -> str | None:
    """The LU package for a factorisation on one rank (``parallel=False``) or across ranks (``parallel=True``).

    MUMPS when this PETSc build has it (Debian's does); otherwise PETSc's own LU, which is sequential only, or for a
    distributed factorisation SuperLU_dist; None when the build has no distributed LU. A PETSc built from PyPI
    without a Fortran compiler (README "Installing") has no MUMPS, and asking for it would stop the solve with
    "Could not locate solver type mumps". ``have(name)`` tells whether the build has the external package ``name``
    (``PETSc.Sys.hasExternalPackage``).
    """
    if have("mumps"):
        return "mumps"
    if not parallel:
        return "petsc"
    return "superlu_dist" if have("superlu_dist") else None

#: KSP iteration limit of the Lindblad linear solve when ``maxiter`` is None.
KSP_MAXITER = 10000
#: EPS iteration limit when ``maxiter`` is None.
EPS_MAXITER = 1000

def import_petsc():
    """Import petsc4py and slepc4py, with a clear error if they are missing or built with complex scalars."""
    try:
        from petsc4py import PETSc
    except ImportError as exc:  # pragma: no cover - exercised by monkeypatching in tests
        raise ImportError("backend='petsc' needs petsc4py (Debian: apt-get install python3-petsc4py); "
                          f"import failed: {exc}") from exc
    try:
        from slepc4py import SLEPc
    except ImportError as exc:  # pragma: no cover
        raise ImportError("backend='petsc' needs slepc4py (Debian: apt-get install python3-slepc4py); "
                          f"import failed: {exc}") from exc
    if np.dtype(PETSc.ScalarType).kind != "f":
        raise ImportError(f"backend='petsc' expects a real-scalar PETSc build, got {PETSc.ScalarType}")
    return PETSc, SLEPc


def available() -> bool:
    """True when petsc4py and slepc4py import (real scalars)."""
    try:
        import_petsc()
        return True
    except ImportError:
        return False


def parse_options(petsc_options: str | Mapping | None, prefix: str = OPTIONS_PREFIX) -> dict[str, str]:
    """Normalise user options to ``{name: value}`` with ``prefix`` applied to names that lack it.

    Accepts a string of command-line options (``"-ss_ksp_type gmres -ss_ksp_monitor"``) or a mapping; names without
    the prefix get it, so ``{"ksp_type": "gmres"}`` and ``"-ksp_type gmres"`` both mean ``-ss_ksp_type gmres``.
    The Redfield solver's former prefix ``redfield_`` is refused (it would silently become ``ss_redfield_...``).
    """
    if not petsc_options:
        return {}
    if isinstance(petsc_options, str):
        items: list[tuple[str, str]] = []
        for tok in petsc_options.split():
            is_value = not tok.startswith("-") or _is_number(tok)
            if is_value and items and items[-1][1] == "":
                items[-1] = (items[-1][0], tok)
            elif is_value:
                raise ValueError(f"petsc_options: value {tok!r} without an option name")
            else:
                items.append((tok, ""))
    else:
        items = [(str(k), "" if v is None else str(v)) for k, v in dict(petsc_options).items()]
    out = {}
    for key, val in items:
        key = key.lstrip("-")
        if key.startswith("redfield_"):
            raise ValueError(f"petsc_options: {key!r}: the steady-state options prefix is {prefix!r} for every "
                             f"equation (e.g. -{prefix}ksp_type)")
        out[key if key.startswith(prefix) else prefix + key] = val
    return out


def _is_number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


@contextmanager
def scoped_options(options: Mapping[str, str], defaults: Mapping[str, str] | None = None) -> Iterator[None]:
    """Push ``options`` (and ``defaults`` where the name is not set yet) into PETSc's global options database for
    the duration of the ``with`` block, then pop them: previous values come back, names new to the database go.

    PETSc's ``setFromOptions`` reads the global database, so per-solve options have to be there during the solve;
    this keeps them from leaking into later solves of the same process. Shared helper: any PETSc solve may use it.
    """
    from petsc4py import PETSc

    opts = PETSc.Options()
    before = opts.getAll()  # {name: value or None (a flag)}
    absent = object()
    saved: dict[str, object] = {}
    try:
        for key, val in options.items():
            saved.setdefault(key, before.get(key, absent))
            opts[key] = val
        for key, val in (defaults or {}).items():
            if not opts.hasName(key):
                saved.setdefault(key, absent)
                opts[key] = val
        yield
    finally:
        for key, old in saved.items():
            if old is absent:
                if opts.hasName(key):
                    opts.delValue(key)
            else:
                opts[key] = "" if old is None else old


def reason_name(enum_cls, code: int) -> str:
    """Name of a PETSc/SLEPc converged-reason code (e.g. ``CONVERGED_RTOL``)."""
    for name in dir(enum_cls):
        if not name.startswith("_") and getattr(enum_cls, name) == code:
            return name
    return str(code)


def _allreduce(comm, value: float, op: str) -> float:
    """``comm.allreduce(value)`` with the MPI operation named ``op`` ("sum" or "max")."""
    from mpi4py import MPI

    return comm.allreduce(value, op={"sum": MPI.SUM, "max": MPI.MAX}[op])


def solve_distributed(builder, dim: int, N: int, *, solver: str = "ksp", comm=None,
                      petsc_options: str | Mapping | None = None, tol: float = 1e-12, maxiter: int | None = None,
                      have=None):
    """Steady state of the real-representation generator returned by ``builder(rows=(r0, r1))``.

    Parameters
    ----------
    builder : callable
        ``builder(rows=(r0, r1)) -> scipy.sparse.csr_matrix`` giving this rank's rows (global columns).
    dim : int
        Global dimension ``N**2``; ``N`` the number of levels (the first ``N`` coordinates are the populations).
    solver : {"ksp", "eps"}
        The trace-constrained linear system (KSP) or the null eigenvector (EPS).
    comm : mpi4py communicator, optional (None = COMM_WORLD)
    petsc_options : str or mapping, optional
        Options of this solve (prefix ``ss_``, see the module docstring); popped again afterwards.
    tol : float
        KSP relative tolerance (iterative choices only) / EPS tolerance.
    maxiter : int, optional
        KSP / EPS iteration limit (default :data:`KSP_MAXITER` / :data:`EPS_MAXITER`).
    have : callable, optional
        ``have(name) -> bool``: which external packages (MUMPS, SuperLU_dist) to use for the LU factorisations
        (:func:`factor_package`); default this PETSc build's ``PETSc.Sys.hasExternalPackage``. Tests pass a narrower
        one to run the path of a build without MUMPS.

    Returns
    -------
    x : ndarray (dim,)
        Real coordinates of rho with unit trace, identical on every rank.
    info : dict
        ``residual`` (2-norm of L x in real coordinates), ``converged`` (reason name), ``iterations``,
        ``eigenvalue`` (EPS only, else nan), ``method``, ``ok``, ``ranks``, ``rows`` (this rank's block).
    """
    if solver not in ("ksp", "eps"):
        raise ValueError(f"solver must be 'ksp' or 'eps', got {solver!r}")
    user = parse_options(petsc_options)  # bad options fail before any work
    PETSc, SLEPc = import_petsc()
    comm = get_comm(comm)
    size, rank = comm.Get_size(), comm.Get_rank()
    r0, r1 = row_split(dim, N, size, rank)
    _stage("start")
    block = builder(rows=(r0, r1))
    _stage("built")
    diag_scale = _allreduce(comm, float(np.max(np.abs(block.diagonal(k=r0)))) if r1 > r0 else 0.0, "max")
    diag_scale = diag_scale if diag_scale > 0 else 1.0
    op_scale = _allreduce(comm, float(np.max(np.abs(block.data))) if block.nnz else 0.0, "max")
    # the original row 0 (swapped for the trace functional below) is kept for the residual
    row0 = block[0].tocsr() if solver == "ksp" and r0 == 0 and r1 > 0 else None
    indptr = block.indptr.astype(PETSc.IntType)
    indices = block.indices.astype(PETSc.IntType)
    data = block.data.astype(PETSc.ScalarType)
    del block  # PETSc copies the rows: holding the scipy block through the factorisation would double the matrix
    if row0 is not None:
        indptr, indices, data = constrain_csr(indptr, indices, data, N, diag_scale)
    nloc = r1 - r0
    A = PETSc.Mat().createAIJ(size=((nloc, dim), (nloc, dim)), csr=(indptr, indices, data), comm=comm)
    A.assemble()
    del indptr, indices, data
    release_free_memory()  # the assembly temporaries, before the factorisation allocates
    _stage("assembled")
    x = A.createVecRight()
    eigenvalue = float("nan")
    objs = [A, x]
    have = have or PETSc.Sys.hasExternalPackage
    seq_lu = factor_package(have, parallel=False)
    dist_lu = factor_package(have, parallel=True)
    defaults = dict(MUMPS_OPTIONS) if seq_lu == "mumps" else {}
    if solver == "ksp" and size > 1:
        defaults.update(bjacobi_options(seq_lu))
    if solver == "eps" and size > 1 and dist_lu is None:
        raise RuntimeError(f"backend 'petsc' with solver 'eigen' on {size} ranks needs a distributed LU (MUMPS or "
                           "SuperLU_dist), and this PETSc build has neither: use solver 'linear', or 1 rank")
    try:
        with scoped_options(user, defaults):  # read by setFromOptions below, gone after the solve
            if solver == "ksp":
                b = A.createVecLeft()
                objs.append(b)
                if r0 == 0 and r1 > 0:
                    b.setValue(0, diag_scale)
                b.assemble()
                ksp = PETSc.KSP().create(comm=comm)
                objs.append(ksp)
                ksp.setOperators(A)
                pc = ksp.getPC()
                if size == 1:
                    ksp.setType("preonly")
                    pc.setType("lu")
                    pc.setFactorSolverType(seq_lu)
                else:
                    _block_jacobi(ksp)
                ksp.setTolerances(rtol=tol, atol=0.0, max_it=KSP_MAXITER if maxiter is None else int(maxiter))
                ksp.setOptionsPrefix(OPTIONS_PREFIX)
                ksp.setFromOptions()
                ksp.setUp()
                _stage("factored")
                ksp.solve(b, x)
                code = ksp.getConvergedReason()
                if code < 0 and size > 1 and dist_lu is not None and not _user_chose_solver(user):
                    # block-Jacobi GMRES did not converge: fall back to the distributed LU of the whole system
                    ksp.reset()
                    ksp.setOperators(A)
                    ksp.setType("preonly")
                    ksp.getPC().setType("lu")
                    ksp.getPC().setFactorSolverType(dist_lu)
                    ksp.setUp()
                    ksp.solve(b, x)
                    code = ksp.getConvergedReason()
                converged = reason_name(PETSc.KSP.ConvergedReason, code)
                iterations = int(ksp.getIterationNumber())
                method = f"petsc-ksp({ksp.getType()}+{ksp.getPC().getType()})"
                ok = code > 0
                solver_obj = ksp
            else:
                eps = SLEPc.EPS().create(comm=comm)
                objs.append(eps)
                eps.setOperators(A)
                eps.setProblemType(SLEPc.EPS.ProblemType.NHEP)
                eps.setDimensions(nev=1)
                eps.setWhichEigenpairs(SLEPc.EPS.Which.TARGET_MAGNITUDE)
                # Shift-and-invert just below 0, not at 0: L itself is exactly singular and MUMPS may stop on the
                # zero pivot (INFOG(1) = -10). A shift of 1e-10 of the operator's scale keeps 0 the nearest
                # eigenvalue by far.
                eps.setTarget(-1e-10 * op_scale)
                eps.setTolerances(tol=tol, max_it=EPS_MAXITER if maxiter is None else int(maxiter))
                st = eps.getST()
                st.setType(SLEPc.ST.Type.SINVERT)
                sk = st.getKSP()
                sk.setType("preonly")
                sk.getPC().setType("lu")
                sk.getPC().setFactorSolverType(seq_lu if size == 1 else dist_lu)
                eps.setOptionsPrefix(OPTIONS_PREFIX)
                eps.setFromOptions()
                eps.solve()
                _stage("factored")
                nconv = eps.getConverged()
                code = eps.getConvergedReason()
                converged = reason_name(SLEPc.EPS.ConvergedReason, code)
                iterations = int(eps.getIterationNumber())
                method = f"slepc-eps({eps.getType()}+{st.getType()})"
                ok = nconv >= 1 and code > 0
                if nconv >= 1:
                    vi = A.createVecRight()
                    objs.append(vi)
                    lam = eps.getEigenpair(0, x, vi)
                    eigenvalue = float(np.real(lam))
                elif code > 0:  # no eigenpair although EPS stopped "converged": not a solution
                    converged = "DIVERGED_ITS"
                solver_obj = eps
        _stage("solved")
        # Free the factorisation before anything of size dim is gathered: the peak stays that of the solve.
        objs.remove(solver_obj)
        # Drop the Python references to the PC/ST *before* destroying their owner: petsc4py otherwise keeps the PC,
        # and with it the whole factorisation, alive until the end of the call (measured: 100 MB at N = 600)
        pc = st = sk = None  # noqa: F841
        solver_obj.destroy()
        solver_obj = ksp = eps = None  # noqa: F841
        release_free_memory()
        # normalise in place: Tr rho is a sum over the population rows, all on the first rank(s)
        xl = x.getArray()
        npop = max(0, min(r1, N) - r0)
        trace = _allreduce(comm, float(xl[:npop].sum()) if npop else 0.0, "sum")
        if ok and trace != 0.0 and np.isfinite(trace):
            xl /= trace
        del xl
        # residual ||L x||: A x with this rank's rows (row 0 of A is the trace functional: its L row is added below)
        y = A.createVecLeft()
        objs.append(y)
        A.mult(x, y)
        yl = y.getArray(readonly=True)
        res2_local = float(yl[1:] @ yl[1:]) if row0 is not None else float(yl @ yl)
        del yl
        for o in (y, A):
            objs.remove(o)
            o.destroy()
        release_free_memory()
        # gather the solution to every rank, in global order (the steady state is returned on every rank)
        scatter, xall = PETSc.Scatter.toAll(x)
        objs += [scatter, xall]
        scatter.scatter(x, xall, addv=PETSc.InsertMode.INSERT_VALUES, mode=PETSc.ScatterMode.FORWARD)
        xfull = np.array(xall.getArray(readonly=True), dtype=float)
        _stage("gathered")
        if row0 is not None:
            res2_local += float((row0 @ xfull)[0] ** 2)
        res2 = _allreduce(comm, res2_local, "sum")
        return xfull, {"residual": float(np.sqrt(res2)), "converged": converged, "iterations": iterations,
                       "eigenvalue": eigenvalue, "method": method, "ok": bool(ok), "ranks": size, "rows": (r0, r1)}
    finally:
        for o in objs:
            o.destroy()


#: Weight of a coherence row relative to a population row's N when rows are split over ranks. A coherence row has
#: ~4 nonzeros (box, N = 600) but costs more than that in the factorisation (one small front each); 10 balanced the
#: measured peak memory of two ranks at N = 600 (84.5 / 84.1 MB; 4 gave 75 / 96, equal rows 102 / 89).
COHERENCE_ROW_WEIGHT = 10.0


def row_split(dim: int, N: int, size: int, rank: int) -> tuple[int, int]:
    """Rows ``[r0, r1)`` of ``rank``: contiguous blocks of about equal memory cost rather than equal rows.

    The N population rows are dense (~N entries each) and all come first; an equal-rows split gave the first rank
    50% more nonzeros than the second at N = 600, and 15% more peak memory.
    Boundaries inside the coherences fall on a Re row, so that no (Re, Im) pair is split.
    """
    if size == 1 or dim <= N:
        return block_range(dim, size, rank)
    w_pop, w_coh = float(N), COHERENCE_ROW_WEIGHT
    total = N * w_pop + (dim - N) * w_coh

    def boundary(k: int) -> int:
        if k <= 0:
            return 0
        if k >= size:
            return dim
        target = total * k / size
        if target <= N * w_pop:
            return int(round(target / w_pop))
        r = N + int(round((target - N * w_pop) / w_coh))
        return min(dim, N + 2 * ((r - N + 1) // 2))

    return boundary(rank), boundary(rank + 1)


def _block_jacobi(ksp) -> None:
    """GMRES preconditioned by block Jacobi with one exact LU (MUMPS, sequential) per rank (sub-solver options:
    :func:`bjacobi_options`, pushed by :func:`solve_distributed`).

    Why not MUMPS on the whole distributed system: its analysis is centralised on rank 0 (ICNTL(28) = 1; the
    parallel analysis with PT-Scotch returned NaN here) and the maximum transversal is off for distributed input, so
    at N = 600 on 2 ranks rank 0 needed more memory than a single rank for the whole problem. Here every rank
    factorises only its own diagonal block. The population rows (the rate-equation part that needs an exact solve)
    all sit in the first rank's block; the coherences only decay, and their couplings across the rank boundary are
    what GMRES corrects (one iteration when they vanish, as for non-degenerate spectra).
    """
    ksp.setType("gmres")
    ksp.setGMRESRestart(50)
    ksp.getPC().setType("bjacobi")


def _user_chose_solver(options: Mapping[str, str]) -> bool:
    """True when the (parsed) user options pick the KSP or PC themselves (then no automatic fallback)."""
    return any(k.startswith(("ss_ksp_type", "ss_pc_type")) for k in options)


def _stage(label: str) -> None:
    """Print this rank's peak and current RSS at a stage of the solve when ``MPIHEAT_MEMTRACE`` is set (profiling)."""
    import os

    if not os.environ.get("MPIHEAT_MEMTRACE"):
        return
    from mpiheat.numerics.parallel import rss_mb

    print(f"MEMTRACE {label} peak_mb {rss_mb('VmHWM'):.1f} rss_mb {rss_mb('VmRSS'):.1f}", flush=True)


# --------------------------------------------------------------------------------------------------------------------
# Redfield: KSP on a distributed shell matrix
# --------------------------------------------------------------------------------------------------------------------
class _ShellRedfield:
    """PETSc shell context: the trace-constrained Redfield generator, distributed over the ranks of ``comm``.

    Layout.  The N^2 real coordinates (lindblad ordering) are split into contiguous blocks ``block_range(N^2, P, r)``
    (PETSc's own split); that is the vector layout.  The work layout is different: rank r computes the matrix rows
    ``block_range(N, P, r)`` of ``L(rho)`` (O(N^3 / P) flops, see
    :meth:`~mpiheat.quantum.operators.redfield.RedfieldGenerator.apply_xy`).  A mult is therefore: Allgatherv of x
    (N^2 doubles) -> every rank unpacks rho; compute its rows of (Re L rho, Im L rho); Allgatherv of those rows
    (2 N^2 doubles) -> every rank packs the full result and keeps its vector block.  Communication is O(N^2) per mult
    against O(N^3 / P) flops, and no rank ever holds more than O(N^2) numbers.  The preconditioner ``pre``
    (``pre.solve(r)``, O(N^2) per application) is applied redundantly on the gathered residual.
    """

    def __init__(self, gen, comm, scale: float, pre):
        self.gen, self.comm, self.scale, self.pre = gen, comm, scale, pre
        size, rank = comm.Get_size(), comm.Get_rank()
        self.lo, self.hi = block_range(gen.dim, size, rank)  # vector layout
        self.rows = slice(*block_range(gen.N, size, rank))  # work layout
        self.n_mult = 0

    def gather(self, v) -> np.ndarray:
        """Full vector on every rank from a distributed PETSc Vec."""
        return allgather_blocks(self.comm, v.getArray(readonly=True), self.gen.dim)

    def mult(self, mat, x, y):
        N = self.gen.N
        xf = self.gather(x)
        X, Y = unpack_xy(xf, N)
        RX, RY = self.gen.apply_xy(X, Y, rows=self.rows)
        full = allgather_blocks(self.comm, np.stack([RX, RY], axis=1), N)  # (N, 2, N): Re and Im rows interleaved
        out = constrain_product(pack_xy(full[:, 0, :], full[:, 1, :]), xf, N, self.scale)
        y.setArray(out[self.lo:self.hi])
        self.n_mult += 1

    def apply(self, pc, r, z):  # PCPYTHON hook
        z.setArray(self.pre.solve(self.gather(r))[self.lo:self.hi])


def solve_redfield_shell(gen, pre, *, scale: float, tol: float = 1e-12, comm=None,
                         petsc_options: str | Mapping | None = None, restart: int = 60,
                         maxiter: int = 2000) -> tuple[np.ndarray, str, int]:
    """Solve the trace-constrained Redfield system with PETSc KSP on a shell matrix (see :class:`_ShellRedfield`).

    Parameters
    ----------
    gen : RedfieldGenerator
        The matrix-free generator.
    pre
        Preconditioner with ``pre.solve(r)`` on full vectors (the secular skeleton), also the initial guess
        ``pre.solve(s e_0)``.
    scale : float
        ``s`` of the trace row (:mod:`mpiheat.quantum.operators.constraint`).
    tol, restart, maxiter
        Defaults: GMRES(``restart``), ``rtol = tol``, ``atol = 0``, right preconditioning (the convergence test
        then sees the true residual of the constrained system). Options with prefix ``ss_`` override them.
    comm : mpi4py communicator, optional (None = COMM_WORLD)
    petsc_options : str or mapping, optional
        Options of this solve, pushed and popped like :func:`solve_distributed`'s.

    Returns
    -------
    x : ndarray (N^2,)
        Real coordinates of the solution, on every rank.
    reason : str
        KSP converged reason name.
    iterations : int
    """
    user = parse_options(petsc_options)
    PETSc, _ = import_petsc()
    mcomm = get_comm(comm)
    ctx = _ShellRedfield(gen, mcomm, scale, pre)
    pcomm = PETSc.Comm(mcomm)
    n, nloc = gen.dim, ctx.hi - ctx.lo
    A = PETSc.Mat().createPython(((nloc, n), (nloc, n)), context=ctx, comm=pcomm)
    objs = [A]
    try:
        A.setUp()
        b = A.createVecLeft()
        x = A.createVecRight()
        objs += [b, x]
        bfull = constrained_rhs(n, scale)
        b.setArray(bfull[ctx.lo:ctx.hi])
        x.setArray(pre.solve(bfull)[ctx.lo:ctx.hi])
        ksp = PETSc.KSP().create(comm=pcomm)
        objs.append(ksp)
        ksp.setOptionsPrefix(OPTIONS_PREFIX)
        ksp.setOperators(A)
        ksp.setType("gmres")
        ksp.setGMRESRestart(restart)
        ksp.setTolerances(rtol=tol, atol=0.0, max_it=maxiter)
        ksp.setInitialGuessNonzero(True)
        ksp.setPCSide(PETSc.PC.Side.RIGHT)
        pc = ksp.getPC()
        pc.setType("python")
        pc.setPythonContext(ctx)
        with scoped_options(user):
            ksp.setFromOptions()
            ksp.solve(b, x)
        code = ksp.getConvergedReason()
        reason = reason_name(PETSc.KSP.ConvergedReason, code)
        its = int(ksp.getIterationNumber())
        xf = ctx.gather(x)
        pc = None
    finally:
        for obj in reversed(objs):
            obj.destroy()
    if code < 0:
        log.warning("Redfield PETSc KSP did not converge: %s after %d iterations", reason, its)
    return xf, reason, its
