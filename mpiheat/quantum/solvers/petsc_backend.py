"""Distributed steady states with PETSc (KSP) and SLEPc (EPS). The only module that imports petsc4py/slepc4py.

Every rank builds its own contiguous row block of the real-representation Liouvillian in CSR
(:func:`mpiheat.quantum.operators.lindblad.liouvillian_csr` or any builder with the same signature; blocks split by
:func:`row_split`) and the matrix is assembled with ``PETSc.Mat().createAIJ(csr=...)``; nothing of size
``N**2 x N**2`` is ever held densely, and the scipy block is freed once PETSc holds the rows. The factorisation is
destroyed before the solution is gathered (the steady state is returned on every rank), so the peak memory of a rank
is that of its share of the solve. ``MPIHEAT_MEMTRACE=1`` prints each rank's peak/current RSS at every stage.

Solvers (options prefix :data:`OPTIONS_PREFIX` = ``"ss_"``; every ``-ss_ksp_*``, ``-ss_pc_*``, ``-ss_eps_*``,
``-ss_st_*`` option is honoured through ``setFromOptions``):

* ``"ksp"``: the trace-constrained system. Row 0 of L (a population balance row, redundant because L is trace
  preserving) is replaced by ``s * (1, ..., 1, 0, ...)`` on the populations, with ``s`` the largest diagonal magnitude
  of L for conditioning, and ``L' x = s e_0`` is solved. Default on one rank: ``preonly`` + LU by MUMPS; on more
  ranks: GMRES preconditioned by block Jacobi with one sequential MUMPS LU per rank (:func:`_block_jacobi`; memory
  per rank falls with the ranks), falling back to the distributed MUMPS LU if GMRES does not converge.
* ``"eps"``: the eigenvector of L with eigenvalue closest to 0, by Krylov-Schur with shift-and-invert at target 0
  (``TARGET_MAGNITUDE``), the inner solves by MUMPS LU; normalised to unit trace afterwards. L is singular, so the
  factorisation of ``L - 0 I`` has one tiny pivot in floating point, which is exactly what inverse iteration needs;
  if MUMPS refuses it, set ``-ss_st_shift``/``-ss_eps_target`` to a small negative number.

Real scalars only (Debian's PETSc build): all complex structure lives in the real representation.
"""

from __future__ import annotations

import numpy as np

from mpiheat.numerics.parallel import block_range, get_comm, release_free_memory

OPTIONS_PREFIX = "ss_"

#: Defaults applied unless the user sets them: MUMPS's automatic choice (METIS) orders the dense population block
#: badly, 20x slower than AMD at N = 300 (measured 5.4 s vs 0.25 s); the EPS inner solver has the prefix ``ss_st_``.
DEFAULT_OPTIONS = {"ss_mat_mumps_icntl_7": "0", "ss_st_mat_mumps_icntl_7": "0"}


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


def parse_options(petsc_options) -> dict[str, str]:
    """Normalise user options to ``{name: value}`` with the prefix applied to names that lack it.

    Accepts a string of command-line options (``"-ss_ksp_type gmres -ss_ksp_monitor"``) or a dict; names without the
    ``ss_`` prefix get it, so ``{"ksp_type": "gmres"}`` and ``"-ksp_type gmres"`` both mean ``-ss_ksp_type gmres``.
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
        out[key if key.startswith(OPTIONS_PREFIX) else OPTIONS_PREFIX + key] = val
    return out


def _is_number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def _insert_options(PETSc, petsc_options) -> list[str]:
    """Insert user options into the global database; return the names set here (removed again after the solve)."""
    opts = PETSc.Options()
    added = []
    for key, val in parse_options(petsc_options).items():
        if not opts.hasName(key):
            added.append(key)
        opts[key] = val
    for key, val in DEFAULT_OPTIONS.items():
        if not opts.hasName(key):
            added.append(key)
            opts[key] = val
    return added


def _reason_name(enum_cls, code: int) -> str:
    for name in dir(enum_cls):
        if not name.startswith("_") and getattr(enum_cls, name) == code:
            return name
    return str(code)


def solve_distributed(builder, dim: int, N: int, *, solver: str = "ksp", comm=None, petsc_options=None,
                      tol: float = 1e-12):
    """Steady state of the real-representation generator returned by ``builder(rows=(r0, r1))``.

    Parameters
    ----------
    builder : callable
        ``builder(rows=(r0, r1)) -> scipy.sparse.csr_matrix`` giving this rank's rows (global columns).
    dim : int
        Global dimension ``N**2``; ``N`` the number of levels (the first ``N`` coordinates are the populations).
    solver : {"ksp", "eps"}
    comm : mpi4py communicator, optional (None = COMM_WORLD)
    petsc_options : str or dict, optional
        Extra options (see module docstring for the prefix).
    tol : float
        KSP relative tolerance (iterative choices only) / EPS tolerance.

    Returns
    -------
    x : ndarray (dim,)
        Real coordinates of rho with unit trace, identical on every rank.
    info : dict
        ``residual`` (2-norm of L x in real coordinates), ``converged`` (reason name), ``iterations``,
        ``eigenvalue`` (EPS only, else nan), ``method``.
    """
    PETSc, SLEPc = import_petsc()
    comm = get_comm(comm)
    size, rank = comm.Get_size(), comm.Get_rank()
    r0, r1 = row_split(dim, N, size, rank)
    _stage("start")
    block = builder(rows=(r0, r1))
    _stage("built")
    diag_scale = comm.allreduce(float(np.max(np.abs(block.diagonal(k=r0)))) if r1 > r0 else 0.0, op=_mpi_max())
    diag_scale = diag_scale if diag_scale > 0 else 1.0
    op_scale = comm.allreduce(float(np.max(np.abs(block.data))) if block.nnz else 0.0, op=_mpi_max())
    # the original row 0 (swapped for the trace functional below) is kept for the residual
    row0 = block[0].tocsr() if solver == "ksp" and r0 == 0 and r1 > 0 else None
    indptr = block.indptr.astype(PETSc.IntType)
    indices = block.indices.astype(PETSc.IntType)
    data = block.data.astype(PETSc.ScalarType)
    del block  # PETSc copies the rows: holding the scipy block through the factorisation would double the matrix
    if row0 is not None:
        # swap row 0 for the scaled trace functional
        tr_cols = np.arange(N, dtype=PETSc.IntType)
        indices = np.concatenate([tr_cols, indices[indptr[1]:]])
        data = np.concatenate([np.full(N, diag_scale, dtype=PETSc.ScalarType), data[indptr[1]:]])
        indptr = np.concatenate([[0], indptr[1:] - indptr[1] + N]).astype(PETSc.IntType)
    nloc = r1 - r0
    A = PETSc.Mat().createAIJ(size=((nloc, dim), (nloc, dim)), csr=(indptr, indices, data), comm=comm)
    A.assemble()
    del indptr, indices, data
    release_free_memory()  # the assembly temporaries, before the factorisation allocates
    _stage("assembled")
    x = A.createVecRight()
    eigenvalue = float("nan")
    objs = [A, x]
    added = _insert_options(PETSc, petsc_options)  # read by setFromOptions below
    try:
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
                pc.setFactorSolverType("mumps")
            else:
                _block_jacobi(ksp)
            ksp.setTolerances(rtol=tol, atol=0.0, max_it=10000)
            ksp.setOptionsPrefix(OPTIONS_PREFIX)
            ksp.setFromOptions()
            ksp.setUp()
            _stage("factored")
            ksp.solve(b, x)
            code = ksp.getConvergedReason()
            if code < 0 and size > 1 and not _user_chose_solver(petsc_options):
                # the block-Jacobi GMRES did not converge: fall back to the distributed MUMPS LU of the whole system
                ksp.reset()
                ksp.setOperators(A)
                ksp.setType("preonly")
                ksp.getPC().setType("lu")
                ksp.getPC().setFactorSolverType("mumps")
                ksp.setUp()
                ksp.solve(b, x)
                code = ksp.getConvergedReason()
            converged = _reason_name(PETSc.KSP.ConvergedReason, code)
            iterations = int(ksp.getIterationNumber())
            method = f"petsc-ksp({ksp.getType()}+{ksp.getPC().getType()})"
            ok = code > 0
            solver_obj = ksp
        elif solver == "eps":
            eps = SLEPc.EPS().create(comm=comm)
            objs.append(eps)
            eps.setOperators(A)
            eps.setProblemType(SLEPc.EPS.ProblemType.NHEP)
            eps.setDimensions(nev=1)
            eps.setWhichEigenpairs(SLEPc.EPS.Which.TARGET_MAGNITUDE)
            # Shift-and-invert just below 0, not at 0: L itself is exactly singular and MUMPS may stop on the zero
            # pivot (INFOG(1) = -10). A shift of 1e-10 of the operator's scale keeps 0 the nearest eigenvalue by far.
            eps.setTarget(-1e-10 * op_scale)
            eps.setTolerances(tol=tol, max_it=1000)
            st = eps.getST()
            st.setType(SLEPc.ST.Type.SINVERT)
            sk = st.getKSP()
            sk.setType("preonly")
            sk.getPC().setType("lu")
            sk.getPC().setFactorSolverType("mumps")
            eps.setOptionsPrefix(OPTIONS_PREFIX)
            eps.setFromOptions()
            eps.solve()
            _stage("factored")
            nconv = eps.getConverged()
            code = eps.getConvergedReason()
            converged = _reason_name(SLEPc.EPS.ConvergedReason, code)
            iterations = int(eps.getIterationNumber())
            method = f"slepc-eps({eps.getType()}+{st.getType()})"
            ok = nconv >= 1 and code > 0
            if nconv >= 1:
                vi = A.createVecRight()
                objs.append(vi)
                lam = eps.getEigenpair(0, x, vi)
                eigenvalue = float(np.real(lam))
            else:
                converged = f"{converged}(nconv=0)"
            solver_obj = eps
        else:
            raise ValueError(f"solver must be 'ksp' or 'eps', got {solver!r}")
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
        trace = comm.allreduce(float(xl[:npop].sum()) if npop else 0.0, op=_mpi_sum())
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
        res2 = comm.allreduce(res2_local, op=_mpi_sum())
        return xfull, {"residual": float(np.sqrt(res2)), "converged": converged, "iterations": iterations,
                       "eigenvalue": eigenvalue, "method": method, "ok": bool(ok), "ranks": size, "rows": (r0, r1)}
    finally:
        for o in objs:
            o.destroy()
        opts = PETSc.Options()
        for key in added + _BJACOBI_SET:  # options of this call must not leak into the next solve
            if opts.hasName(key):
                opts.delValue(key)
        _BJACOBI_SET.clear()


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
    """GMRES preconditioned by block Jacobi with one exact LU (MUMPS, sequential) per rank.

    Why not MUMPS on the whole distributed system: its analysis is centralised on rank 0 (ICNTL(28) = 1; the
    parallel analysis with PT-Scotch returned NaN here) and the maximum transversal is off for distributed input, so
    at N = 600 on 2 ranks rank 0 needed more memory than a single rank for the whole problem. Here every rank
    factorises only its own diagonal block. The population rows (the rate-equation part that needs an exact solve)
    all sit in the first rank's block; the coherences only decay, and their couplings across the rank boundary are
    what GMRES corrects (one iteration when they vanish, as for non-degenerate spectra).
    """
    ksp.setType("gmres")
    ksp.setGMRESRestart(50)
    pc = ksp.getPC()
    pc.setType("bjacobi")
    from petsc4py import PETSc

    opts = PETSc.Options()
    for key, val in (("ss_sub_ksp_type", "preonly"), ("ss_sub_pc_type", "lu"),
                     ("ss_sub_pc_factor_mat_solver_type", "mumps"), ("ss_sub_mat_mumps_icntl_7", "0")):
        if not opts.hasName(key):
            opts[key] = val
            _BJACOBI_SET.append(key)


#: Options set by :func:`_block_jacobi` (removed again after the solve).
_BJACOBI_SET: list[str] = []


def _user_chose_solver(petsc_options) -> bool:
    """True when the user's options pick the KSP or PC themselves (then no automatic fallback)."""
    keys = parse_options(petsc_options)
    return any(k.startswith(("ss_ksp_type", "ss_pc_type")) for k in keys)


def _stage(label: str) -> None:
    """Print this rank's peak and current RSS at a stage of the solve when ``MPIHEAT_MEMTRACE`` is set (profiling)."""
    import os

    if not os.environ.get("MPIHEAT_MEMTRACE"):
        return
    from mpiheat.numerics.parallel import rss_mb

    print(f"MEMTRACE {label} peak_mb {rss_mb('VmHWM'):.1f} rss_mb {rss_mb('VmRSS'):.1f}", flush=True)


def _mpi_sum():
    from mpi4py import MPI

    return MPI.SUM


def _mpi_max():
    from mpi4py import MPI

    return MPI.MAX
