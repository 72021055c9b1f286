"""Column declarations shared by several job kinds (parameters, quantum health, timing).

Units are the code's (SPEC §1): hbar = k_B = 1, lengths in the box length L, masses in the particle mass m, so an
energy (and a temperature) is in ``hbar^2/(m L^2)``, a time in ``m L^2/hbar``; ``"1"`` marks a dimensionless number,
``"s"`` wall-clock seconds and ``""`` text and flags. Every column a kind can return is declared here or in its
module; :meth:`mpiheat.kinds.base.JobKind.columns` picks the ones a given job has.
"""

from __future__ import annotations

from mpiheat.io.schema import Column

ENERGY = "hbar^2/(m L^2)"
TIME = "m L^2/hbar"
CURRENT = "hbar^3/(m^2 L^4)"  # energy per time
KAPPA = "hbar/(m L^2)"  # current per temperature difference
RATE = "hbar/(m L^2)"
LENGTH = "L"

#: Parameter columns: the temperatures of a point and every axis a job may sweep (a column when given as a list).
PARAMETERS: dict[str, Column] = {c.name: c for c in (
    Column("T", "f8", ENERGY, "mean temperature of a linear-response point; T_L,R = T (1 +- delta/2)"),
    Column("T_L", "f8", ENERGY, "temperature of the hot (left) bath"),
    Column("T_R", "f8", ENERGY, "temperature of the cold (right) bath"),
    Column("length", "f8", LENGTH, "box length ([system] length, swept)"),
    Column("steps", "i8", "1", "MCMC moves per bath collision ([bath] steps, swept)"),
    Column("proposal", "f8", "1", "MCMC proposal width factor c ([bath] proposal, swept)"),
    Column("equation", "str", "", "master equation solved: pauli | lindblad | redfield"),
    Column("levels", "i8", "1", "truncation N: number of kept energy levels ([quantum] levels)"),
    Column("eta", "f8", "1", "spectral exponent eta of J(w) = gamma w_c^(1-eta) w^eta"),
    Column("T_L_ref", "f8", ENERGY, "scaling: hot temperature as given at [scaling] L_ref"),
    Column("T_R_ref", "f8", ENERGY, "scaling: cold temperature as given at [scaling] L_ref"),
)}

#: Linear-response conductance, added to every current kind's rows when the job sweeps T.
KAPPA_COLUMN = Column("kappa", "f8", KAPPA, "linear-response conductance J / (T_L - T_R)")
KAPPA_ERR = Column("kappa_err", "f8", KAPPA, "standard error of kappa (J_err / (T_L - T_R))")
J_MAXWELL = Column("J_maxwell", "f8", CURRENT,
                   "one particle between Maxwell baths, exact (Letter Eq. 4) at this point's T_L, T_R, length")

#: What every steady-state solve reports (``SteadyState``), in the order of the results file.
STEADY_STATE: tuple[Column, ...] = (
    Column("J", "f8", CURRENT, "heat current out of the hot bath, J_L = Tr[D_L(rho) H]"),
    Column("J_R", "f8", CURRENT, "heat current into the cold bath, J_R = -Tr[D_R(rho) H]"),
    Column("J_mismatch", "f8", CURRENT,
           "J_L - J_R: energy balance of the solved state (round-off when converged)", health=True),
    Column("residual", "f8", "1",
           "residual of the steady-state equation (its norm is named by residual_kind)", health=True),
    Column("residual_kind", "str", "", "what residual measures (norm and normalisation)"),
    Column("trace", "f8", "1", "Tr rho of the solved state (1 up to round-off)", health=True),
    Column("rho_min_eig", "f8", "1", "smallest eigenvalue of rho (positivity: >= 0 up to round-off)", health=True),
    Column("converged", "str", "", "solver outcome: its converged (or diverged) reason", health=True),
    Column("iterations", "i8", "1", "solver iterations (1 for a direct solve)", health=True),
    Column("method", "str", "", "solver method used, e.g. pauli-dense-lu, lindblad-blocks-lu, ksp-gmres[np=2]"),
    Column("equation", "str", "", "master equation solved: pauli | lindblad | redfield"),
    Column("backend", "str", "", "library that solved: numpy | scipy | petsc"),
    Column("eigenvalue", "f8", RATE, "eigenvalue of the generator at the solution (0 up to round-off; EPS solves)"),
    Column("seconds", "f8", "s", "wall time of the solve including any physicality check"),
    Column("seconds_solve", "f8", "s", "wall time of the steady-state solve"),
    Column("seconds_check", "f8", "s", "wall time of the Redfield physicality check (0 without one)"),
)

#: Redfield's physicality check (declared when the job solves Redfield; fills on Lindblad/Pauli rows of a mixed sweep).
REDFIELD_CHECK: tuple[Column, ...] = (
    Column("max_real_eig", "f8", RATE,
           "largest real part of the Redfield generator's non-zero eigenvalues (> 0: unphysical); NaN: not computed",
           health=True),
    Column("unphysical", "bool", "",
           "Redfield regime unphysical (max_real_eig > 0 or rho_min_eig < 0); meaningful only where "
           "physicality_checked is true", health=True),
    Column("eig_method", "str", "",
           "how max_real_eig was computed: dense | cluster | none (empty: no check)", health=True),
    Column("physicality_checked", "bool", "",
           "the row's unphysical flag was computed (Redfield rows); false for Lindblad and Pauli rows of a mixed "
           "sweep, whose generators are not checked (GKSL generators are physical by construction)", health=True),
)
