#!/usr/bin/env bash
# Second test stack: a venv from the newest PyPI releases (numpy 2.x, scipy, numba, h5py, mpi4py 4.x) with MPI from
# the `mpich` wheel, and none of Debian's site-packages. No root and no compiler needed. PETSc/SLEPc are left out
# on purpose (building them takes ~25 min, see README "Installing"): their tests skip here with a stated reason.
# Idempotent like tools/setup.sh: a second run checks a stamp and returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV_PYPI:-.venv-pypi}
PYTHON=${PYTHON:-/usr/bin/python3}
MPI_WHEEL=${MPI_WHEEL:-mpich}
stamp="$VENV/.mpiheat-setup"
want="$(cat setup.cfg tools/setup_pypi.sh | sha256sum | cut -c1-16)-$MPI_WHEEL"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "[setup-pypi] creating $VENV from the newest PyPI releases + the $MPI_WHEEL wheel (no Debian site-packages)"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# --upgrade: a rebuild (setup.cfg or this script changed) picks up the releases that are newest at that moment;
# editable, so the suite tests this checkout, as in .venv.
"$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip
"$VENV/bin/pip" install -q --disable-pip-version-check --upgrade --upgrade-strategy eager "$MPI_WHEEL" \
  -e ".[figures,test,xarray]"
"$VENV/bin/python" - <<'PY'
import h5py, mpi4py, numba, numpy, scipy
import mpi4py.rc
mpi4py.rc.initialize = False  # only ask which library mpi4py loads; the launcher check below starts real ranks
from mpi4py import MPI
print(f"[setup-pypi] numpy {numpy.__version__}, scipy {scipy.__version__}, numba {numba.__version__}, "
      f"mpi4py {mpi4py.__version__}, h5py {h5py.__version__}; MPI: {MPI.Get_library_version().splitlines()[0]}")
PY
"$VENV/bin/python" -m mpiheat.launcher --check
echo "$want" > "$stamp"
