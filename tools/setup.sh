#!/usr/bin/env bash
# Set up mpiheat on Debian 12: MPI, PETSc/SLEPc (real scalars) from Debian's packages, the rest from PyPI in a venv
# that sees Debian's site-packages. Idempotent: a second run only checks and returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
DEB_PKGS="python3-petsc4py-real python3-slepc4py-real python3-mpi4py python3-h5py python3-numpy python3-scipy python3-venv python3-dev openmpi-bin libopenmpi-dev"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
missing=""
for p in $DEB_PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "[setup] installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
stamp="$VENV/.mpiheat-setup"
want="$(cat setup.cfg tools/constraints.txt tools/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "[setup] creating $VENV (Debian python3 + system site-packages)"
[ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$VENV"
# Debian ships petsc4py/slepc4py under PETSC_DIR/SLEPC_DIR; make them importable without environment variables.
site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
petsc=$(ls -d /usr/lib/petscdir/petsc3.*/x86_64-linux-gnu-real/lib/python3/dist-packages | sort -V | tail -1)
slepc=$(ls -d /usr/lib/slepcdir/slepc3.*/x86_64-linux-gnu-real/lib/python3/dist-packages | sort -V | tail -1)
printf 'import sys; [sys.path.append(p) for p in (%s, %s) if p not in sys.path]\n' "'$petsc'" "'$slepc'" \
  > "$site/zz_mpiheat_debian_petsc.pth"
# numpy, scipy, mpi4py, h5py, petsc4py, slepc4py: Debian's (pinned by tools/constraints.txt); the rest from PyPI.
# import-linter: the layering contract (.importlinter, tests/test_layers.py); xarray: Results.to_xarray (optional).
"$VENV/bin/pip" install -q --disable-pip-version-check -c tools/constraints.txt numba matplotlib pytest pytest-timeout \
  hypothesis ruff import-linter xarray
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
"$VENV/bin/python" - <<'PY'
import numba, numpy, scipy, h5py, mpi4py, petsc4py, slepc4py
petsc4py.init(); slepc4py.init()
from petsc4py import PETSc
print(f"[setup] numpy {numpy.__version__}, scipy {scipy.__version__}, numba {numba.__version__}, "
      f"mpi4py {mpi4py.__version__}, h5py {h5py.__version__}, petsc4py {petsc4py.__version__} "
      f"({PETSc.ScalarType.__name__}), slepc4py {slepc4py.__version__}")
PY
echo "$want" > "$stamp"
