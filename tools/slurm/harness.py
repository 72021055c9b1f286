"""A private single-node Slurm on this machine, for the test suite and for trying the templates by hand.

Usage (as root, on Debian/Ubuntu)::

    python tools/slurm/harness.py install          # apt-get the packages below when missing (about 20 s)
    python tools/slurm/harness.py start DIR        # munged + slurmctld + slurmd; prints `export SLURM_CONF=...`
    python tools/slurm/harness.py stop DIR         # stops them again, by PID (recorded in DIR/pids)

Everything lives under DIR: ``slurm.conf``, the munge key and socket, state, spool and logs. Ports are picked free
and the node gets a unique name, so several clusters (or a site's own Slurm on the default ports) do not collide.
Slurm's *default* ``MpiDefault`` is kept on purpose (the templates must not rely on a site setting).
The daemons run in the foreground (``-F``/``-D``) as children, so their PIDs are known without pid-file races.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd")


def missing_packages(packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """The Debian packages of ``packages`` that are not installed."""
    if shutil.which("dpkg-query") is None:
        return list(packages)
    out = []
    for p in packages:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True)
        if r.returncode != 0 or "install ok installed" not in r.stdout:
            out.append(p)
    return out


def cannot_install_reason() -> str | None:
    """Why the packages cannot be installed here (None when they can, or are installed already)."""
    if not missing_packages():
        return None
    if os.geteuid() != 0:
        return f"Slurm packages {' '.join(missing_packages())} missing and not root (cannot apt-get install)"
    if shutil.which("apt-get") is None:
        return "Slurm packages missing and no apt-get on this machine"
    return None


def install(packages: tuple[str, ...] = PACKAGES) -> float:
    """``apt-get update`` + ``install`` of the missing packages; returns the seconds it took (0 if none missing).

    Debian's maintainer scripts would start the system's munge/slurm services; a temporary ``policy-rc.d`` (only
    when the machine has none) stops that, so the only daemons running are the ones :func:`start` launches.
    """
    todo = missing_packages(packages)
    if not todo:
        return 0.0
    reason = cannot_install_reason()
    if reason:
        raise RuntimeError(reason)
    t0 = time.monotonic()
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = not policy.exists()
    if made_policy:
        policy.write_text("#!/bin/sh\n# temporary, mpiheat tools/slurm/harness.py: no service starts\nexit 101\n")
        policy.chmod(0o755)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        for cmd in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *todo]):
            r = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    finally:
        if made_policy:
            policy.unlink(missing_ok=True)
    return time.monotonic() - t0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_hardware() -> str:
    """The hardware part of ``slurmd -C`` (CPUs, sockets, cores, threads, memory), without NodeName."""
    r = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=30)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("NodeName=")), "")
    if not line:
        raise RuntimeError(f"slurmd -C printed no node line:\n{r.stdout}\n{r.stderr}")
    return " ".join(w for w in line.split() if not w.startswith("NodeName="))


@dataclass
class Cluster:
    """A running private Slurm: its directory, config file, node/partition names and daemon PIDs."""

    root: Path
    node: str
    partition: str
    pids: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def jobcomp(self) -> Path:
        """The job-completion log (jobcomp/filetxt): one line per finished run of a job, requeues included."""
        return self.root / "log" / "jobcomp.txt"

    def env(self, base: dict | None = None) -> dict:
        """``base`` (default ``os.environ``) with ``SLURM_CONF`` pointing at this cluster."""
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.conf)
        return env

    def run(self, *cmd: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        """Run a Slurm client command (``scontrol``, ``sbatch``, ...) against this cluster."""
        kw.setdefault("env", self.env())
        return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kw)

    def stop(self, timeout: float = 20.0) -> None:
        """Cancel every job, then stop the daemons (slurmd, slurmctld, munged), by PID: TERM, then KILL."""
        if self.pids.get("slurmctld") and _alive(self.pids["slurmctld"]):
            self.run("scancel", "--quiet", "--full", f"--partition={self.partition}", timeout=20)
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                q = self.run("squeue", "-h", "-o", "%i", timeout=20)
                if q.returncode != 0 or not q.stdout.strip():
                    break
                time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.get(name)
            if pid:
                _terminate(pid, self.procs.get(name), timeout)
        (self.root / "pids").unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie of ours counts as dead.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _terminate(pid: int, proc: subprocess.Popen | None, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return
        if proc is None and not _alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if proc is not None:
        proc.wait(timeout=10)


def write_config(root: Path, cpus: int | None = None) -> tuple[str, str]:
    """Write ``root/slurm.conf`` (and the directories it names); return (node name, partition name)."""
    tag = uuid.uuid4().hex[:8]
    node, partition = f"mh{tag}", f"mh{tag}"
    host = socket.gethostname().split(".")[0]
    for d in ("state", "spool", "log", "munge"):
        (root / d).mkdir(parents=True, exist_ok=True)
    hw = _node_hardware()
    if cpus is not None:  # e.g. CPUs=2 on a bigger CI machine: keep the test cluster the size of the tests
        hw = " ".join(w for w in hw.split() if w.split("=")[0] not in ("CPUs", "Boards", "SocketsPerBoard",
                                                                        "CoresPerSocket", "ThreadsPerCore"))
        hw = f"CPUs={cpus} Boards=1 SocketsPerBoard=1 CoresPerSocket={cpus} ThreadsPerCore=1 {hw}"
    lines = [
        f"# private single-node Slurm written by tools/slurm/harness.py ({time.strftime('%Y-%m-%d %H:%M:%S')})",
        f"ClusterName=mpiheat{tag}",
        # Job ids from a random start: every fresh cluster would otherwise count from 1, and a log named %x-%j.out
        # left by an earlier cluster (--open-mode=append) would get the new job's output appended to it.
        f"FirstJobId={int.from_bytes(os.urandom(3), 'big') % 9_000_000 + 1_000_000}",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={_free_port()}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        # cred_expire=10: a requeued job may start again after 10 s instead of the default 120 s
        f"AuthInfo=socket={root / 'munge' / 'munge.socket'},cred_expire=10",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
        # No cgroups in a container: these two work without them.
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/affinity",
        "SchedulerType=sched/backfill",
        # Scheduling passes every 2 s: a requeued job becomes eligible again when its credential expires, and
        # nothing else wakes the scheduler then (the defaults, 60 s / 30 s, would add up to half a minute).
        "SchedulerParameters=sched_interval=2,bf_interval=2",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "ReturnToService=2",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        # No slurmdbd (so no sacct): finished jobs stay visible to `scontrol show job` for 10 min, and every end
        # of a run (requeues included) is written to the job-completion log.
        "MinJobAge=600",
        "JobCompType=jobcomp/filetxt",
        f"JobCompLoc={root / 'log' / 'jobcomp.txt'}",
        "MailProg=/bin/true",
        "KillWait=10",
        "InactiveLimit=0",
        # MpiDefault is deliberately NOT set (Slurm's default, none), as on many sites.
        f"NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 Port={_free_port()} {hw} State=UNKNOWN",
        f"PartitionName={partition} Nodes={node} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO",
    ]
    (root / "slurm.conf").write_text("\n".join(lines) + "\n")
    return node, partition


def _munge_key(path: Path) -> None:
    path.write_bytes(os.urandom(1024))
    path.chmod(0o400)


def _wait_for(predicate, timeout: float, what: str, logs: list[Path]) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    tails = "\n".join(f"--- {p}:\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s\n{tails}")


def start(root: str | os.PathLike, cpus: int | None = None, timeout: float = 30.0) -> Cluster:
    """Start munged, slurmctld and slurmd with a fresh configuration under ``root``; wait until the node is idle.

    Returns the :class:`Cluster`; on any failure the daemons already started are stopped again.
    """
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # munged refuses group/world-writable directories on the socket path
    node, partition = write_config(root, cpus)
    cluster = Cluster(root=root, node=node, partition=partition)
    env = cluster.env()
    munge = root / "munge"
    munge.chmod(0o700)
    _munge_key(munge / "munge.key")
    log = root / "log"

    def spawn(name: str, cmd: list[str]) -> None:
        out = open(log / f"{name}.stdout", "ab")
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        out.close()
        cluster.procs[name], cluster.pids[name] = p, p.pid
        (root / "pids").write_text(json.dumps(cluster.pids))

    try:
        spawn("munged", ["munged", "-F", "--force", f"--socket={munge / 'munge.socket'}",
                         f"--key-file={munge / 'munge.key'}", f"--pid-file={munge / 'munged.pid'}",
                         f"--log-file={log / 'munged.log'}", f"--seed-file={munge / 'munge.seed'}"])
        _wait_for(lambda: (munge / "munge.socket").exists(), timeout, "munged", [log / "munged.log"])
        spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(cluster.conf)])
        _wait_for(lambda: cluster.run("scontrol", "ping", timeout=10).stdout.count("is UP") > 0, timeout,
                  "slurmctld", [log / "slurmctld.log", log / "slurmctld.stdout"])
        spawn("slurmd", ["slurmd", "-D", "-N", node, "-f", str(cluster.conf)])

        def idle() -> bool:
            s = cluster.run("sinfo", "-h", "-n", node, "-o", "%t", timeout=10).stdout.strip()
            return s in ("idle", "mix")

        _wait_for(idle, timeout, f"node {node}", [log / "slurmd.log", log / "slurmd.stdout",
                                                  log / "slurmctld.log"])
        for name, p in cluster.procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with {p.returncode}")
    except BaseException:
        cluster.stop()
        raise
    return cluster


def stop_dir(root: str | os.PathLike) -> None:
    """Stop a cluster started by ``harness.py start ROOT`` in another process (PIDs from ROOT/pids)."""
    root = Path(root).resolve()
    pids = json.loads((root / "pids").read_text())
    conf = (root / "slurm.conf").read_text()
    part = next(ln.split()[0].split("=")[1] for ln in conf.splitlines() if ln.startswith("PartitionName="))
    node = next(ln.split()[0].split("=")[1] for ln in conf.splitlines() if ln.startswith("NodeName="))
    Cluster(root=root, node=node, partition=part, pids=pids).stop()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("install", "start", "stop") or (argv[0] != "install" and len(argv) != 2):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    if argv[0] == "install":
        reason = cannot_install_reason()
        if reason:
            print(f"error: {reason}", file=sys.stderr)
            return 1
        todo = missing_packages()
        print(f"installed {' '.join(todo)} in {install():.1f} s" if todo else "packages present")
        return 0
    if argv[0] == "start":
        t0 = time.monotonic()
        c = start(argv[1])
        # The daemons are our children: detach so they outlive this command (stop them with `stop DIR`).
        print(f"# slurm up in {time.monotonic() - t0:.1f} s: node {c.node}, partition {c.partition}, "
              f"pids {c.pids}", file=sys.stderr)
        print(f"export SLURM_CONF={c.conf}")
        return 0
    stop_dir(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
