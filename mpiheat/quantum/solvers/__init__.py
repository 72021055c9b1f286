"""Quantum solvers: the steady-state front end and its dispatch table (:mod:`.steadystate`), the shared options/result
types (:mod:`.base`), the Redfield steady state (:mod:`.redfield_steady`) and physicality check (:mod:`.redfield_eigs`),
all PETSc/SLEPc code (:mod:`.petsc_backend`), and time evolution (:mod:`.dynamics`)."""
