# mpiheat: `make run` (set-up + default job), `make test` (set-up + whole test suite). See README.md.
VENV     ?= .venv
PY       := $(VENV)/bin/python
# second stack: newest PyPI releases + the mpich wheel (tools/setup_pypi.sh); the suite runs there too
VENV_PYPI ?= .venv-pypi
PY_PYPI  := $(VENV_PYPI)/bin/python
NP       ?= 2
SCALE    ?= reduced
JOB      ?= jobs/default.toml
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache
# OpenMPI refuses root and more ranks than cores unless told; harmless for normal users.
export OMPI_ALLOW_RUN_AS_ROOT ?= 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM ?= 1
export OMPI_MCA_rmaps_base_oversubscribe ?= 1

.PHONY: setup setup-pypi run run-mpi test test-debian test-pypi test-fast lint bench figures clean

setup:
	@bash tools/setup.sh

setup-pypi:
	@VENV_PYPI=$(VENV_PYPI) bash tools/setup_pypi.sh

run: setup
	$(PY) -m mpiheat.run $(JOB)

# the job on NP ranks, started by the launcher that matches mpi4py's MPI (mpiheat/launcher.py)
run-mpi: setup
	$(PY) -m mpiheat.launcher -n $(NP) $(PY) -m mpiheat.run $(JOB)

# Both stacks, one after the other: Debian's packages (0 skips), then the newest PyPI releases with the mpich wheel
# (PETSc tests skip there: petsc4py is an optional extra). Each half prints its wall time.
test: setup setup-pypi
	@$(MAKE) --no-print-directory test-debian; a=$$?; $(MAKE) --no-print-directory test-pypi; b=$$?; \
	  [ $$a = 0 ] && [ $$b = 0 ]

test-debian: setup
	@start=$$(date +%s); $(PY) -m pytest -q tests; rc=$$?; \
	  echo "[test] Debian stack ($(VENV)): $$(( $$(date +%s) - start )) s"; exit $$rc

# own numba cache: the two numba versions would otherwise overwrite each other's cache files
test-pypi: setup-pypi
	@start=$$(date +%s); MPIHEAT_STACK=pypi NUMBA_CACHE_DIR=$(CURDIR)/.numba_cache_pypi $(PY_PYPI) -m pytest -q tests; \
	  rc=$$?; echo "[test] PyPI stack ($(VENV_PYPI)): $$(( $$(date +%s) - start )) s"; exit $$rc

# everything but the tests marked slow (> ~20 s each: MPI fault cases, Slurm, cold numba compiles, MPI goldens;
# the list is in tests/conftest.py), on the Debian stack
test-fast: setup
	$(PY) -m pytest -q -m "not slow" tests

lint: setup
	$(VENV)/bin/ruff check mpiheat tests analysis benchmarks tools
	$(VENV)/bin/lint-imports

bench: setup
	$(PY) benchmarks/run_all.py

figures: setup
	$(PY) -m analysis.make_figures --scale $(SCALE) --np $(NP) --out figures

clean:
	rm -rf results/*.h5 results/reduced results/full figures benchmarks/results .numba_cache .numba_cache_pypi
