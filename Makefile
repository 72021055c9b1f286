# mpiheat: `make run` (set-up + default job), `make test` (set-up + whole test suite). See README.md.
VENV     ?= .venv
PY       := $(VENV)/bin/python
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

.PHONY: setup run test test-fast lint bench figures clean

setup:
	@bash tools/setup.sh

run: setup
	$(PY) -m mpiheat.run $(JOB)

test: setup
	$(PY) -m pytest -q tests

test-fast: setup
	$(PY) -m pytest -q -m "not slow" tests

lint: setup
	$(VENV)/bin/ruff check mpiheat tests analysis benchmarks

bench: setup
	$(PY) benchmarks/run_all.py

figures: setup
	$(PY) -m analysis.make_figures --scale $(SCALE) --np $(NP) --out figures

clean:
	rm -rf results/*.h5 results/reduced results/full figures benchmarks/results .numba_cache
