"""One writer per results file: an exclusive lock file ``<output>.lock`` held for the whole life of a run.

Protocol (see README, "The output lock"):

1. Create ``<output>.lock`` with ``O_CREAT | O_EXCL`` (atomic on local file systems, NFSv3+ and Lustre), take a POSIX
   record lock on it (``fcntl.lockf``) and write ``host pid start-time`` into it. The lock is released and the file
   removed when the run ends.
2. If the file exists, try the POSIX lock on it without blocking:

   * refused: a live run holds it -> :class:`OutputBusyError` naming host and pid;
   * granted: its holder died (the kernel, or the NFS/Lustre lock manager, drops the locks of a dead process) and
     the lock is stale -> taken over with a warning, provided locks on this file system are coherent across the
     hosts that share it, or the holder ran on this host;
   * not supported by the file system (e.g. Lustre mounted without ``flock``): judged from the file's content:
     holder on this host and its pid gone -> stale, taken over; otherwise -> :class:`OutputBusyError`.

A lock file whose inode was replaced or removed while we were locking it is retried, so a run ending at the same
moment cannot hand the lock to two successors.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import hashlib
import logging
import os
import socket
import time

log = logging.getLogger("mpiheat")

_NO_LOCKS = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF}
_HELD = {errno.EACCES, errno.EAGAIN}
# File systems whose POSIX locks are seen by every host that can see the file (local ones are seen by one host only).
_LOCAL_FS = {"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", "f2fs", "ramfs", "reiserfs", "jfs",
             "vfat", "exfat", "fuseblk", "apfs", "hfs"}
_COHERENT_FS = {"gpfs", "ceph", "nfs", "nfs4", "lustre"}  # subject to mount options, see _locks_coherent

_held: dict[str, OutputLock] = {}  # real output path -> lock held by this process


class OutputBusyError(Exception):
    """Another live run holds the output's lock; ``str(err)`` is one line naming the holder (host, pid)."""


def lock_path(output: str | os.PathLike) -> str:
    """The lock file of a results file: ``<real path>.lock`` (hashed when the name would exceed 255 bytes)."""
    real = os.path.realpath(os.fspath(output))
    folder, base = os.path.split(real)
    if len((base + ".lock").encode()) > 255:
        base = base[:200] + "-" + hashlib.sha1(base.encode()).hexdigest()[:16]
    return os.path.join(folder, base + ".lock")


def _mount_of(path: str) -> tuple[str, str]:
    """(fstype, options) of the mount holding ``path``, from /proc/self/mounts; ('', '') if unknown."""
    best, found = "", ("", "")
    try:
        with open("/proc/self/mounts") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) < 4:
                    continue
                mnt = parts[1].replace("\\040", " ")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, found = mnt, (parts[2], parts[3])
    except OSError:
        pass
    return found


def _locks_coherent(path: str) -> bool:
    """Whether a POSIX lock taken here is seen by every process, on any host, that can open ``path``."""
    fstype, opts = _mount_of(os.path.dirname(path))
    options = set(opts.split(","))
    if fstype in _LOCAL_FS:
        return True
    if fstype in ("nfs", "nfs4"):  # nolock / local_lock=posix|all keep locks on the client only
        return not ({"nolock", "local_lock=posix", "local_lock=all"} & options)
    if fstype == "lustre":  # cluster-wide only with -o flock; -o localflock is per node; default: no locks
        return "flock" in options
    return fstype in _COHERENT_FS


def _describe(info: dict) -> str:
    host, pid, since = info.get("host", "?"), info.get("pid", "?"), info.get("since", "")
    return f"host {host}, pid {pid}" + (f", since {since}" if since else "")


def _read_info(fd: int) -> dict:
    try:
        data = os.pread(fd, 4096, 0).decode("utf-8", "replace")
    except OSError:
        return {}
    info = {}
    for line in data.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            info[k.strip()] = v.strip()
    return info


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class OutputLock:
    """An acquired output lock; :meth:`release` (or the end of the process) frees it."""

    def __init__(self, output: str, path: str, fd: int, posix: bool):
        self.output, self.path, self.fd, self.posix = output, path, fd, posix

    def release(self) -> None:
        """Remove the lock file (if it is still ours) and drop the lock."""
        if self.fd < 0:
            return
        try:
            st = os.fstat(self.fd)
            cur = os.stat(self.path)
            if (st.st_dev, st.st_ino) == (cur.st_dev, cur.st_ino):
                os.unlink(self.path)  # before unlocking: a waiter that got this inode sees it is gone and retries
        except OSError:
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass
        self.fd = -1
        _held.pop(self.output, None)

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


@atexit.register
def _release_all() -> None:
    # A process that ends without releasing (an early return, sys.exit) still removes its lock files.
    for lk in list(_held.values()):
        lk.release()


def held(output: str | os.PathLike) -> OutputLock | None:
    """The lock this process holds on ``output``, if any."""
    return _held.get(os.path.realpath(os.fspath(output)))


def acquire(output: str | os.PathLike) -> OutputLock:
    """Take the exclusive lock of ``output`` for this process (re-entrant: returns the lock already held).

    Raises
    ------
    OutputBusyError
        A live run holds it (the message names host and pid, and the lock file).
    OSError
        The lock file cannot be created (unwritable folder...).
    """
    real = os.path.realpath(os.fspath(output))
    if real in _held:
        return _held[real]
    path = lock_path(real)
    me = {"host": socket.gethostname(), "pid": str(os.getpid()),
          "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    for _ in range(20):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
            created = True
        except FileExistsError:
            try:
                fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
            except FileNotFoundError:  # released in between: try to create it again
                continue
            created = False
        posix = True
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in _HELD:
                info = _read_info(fd)
                if not info and not created:  # the holder is between creating and writing it
                    time.sleep(0.2)
                    info = _read_info(fd)
                os.close(fd)
                raise OutputBusyError(f"{output} is in use by another run ({_describe(info)}; lock file {path}); "
                                      f"wait for it to end or choose another output") from None
            if e.errno not in _NO_LOCKS:
                os.close(fd)
                raise
            posix = False  # no POSIX locks on this file system: the O_EXCL file and its content are the lock
        if not created:
            # The inode we opened may have been removed (a run ending) or replaced in between: start again.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except OSError:
                same = False
            if not same:
                os.close(fd)
                continue
            info = _read_info(fd)
            local = info.get("host") == me["host"]
            pid = int(info["pid"]) if info.get("pid", "").isdigit() else None
            if posix and (local or _locks_coherent(path)):
                stale = True  # we hold the lock its writer held: that run is gone
            else:
                stale = local and pid is not None and not _pid_alive(pid)
            if not stale:
                os.close(fd)
                raise OutputBusyError(f"{output} is in use by another run ({_describe(info)}; lock file {path}); "
                                      f"locks on this file system cannot tell whether it still runs: if it does "
                                      f"not, remove the lock file") from None
            log.warning("taking over the stale lock of %s (%s: no longer running)", output, _describe(info))
            if not posix:  # without POSIX locks, recreate the file so that O_EXCL decides between rivals
                os.close(fd)
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                continue
        data = "".join(f"{k}={v}\n" for k, v in me.items()).encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        except OSError:  # e.g. a full disk: leave no lock behind
            try:
                os.unlink(path)
            except OSError:
                pass
            os.close(fd)
            raise
        lock = OutputLock(real, path, fd, posix)
        _held[real] = lock
        return lock
    raise OutputBusyError(f"{output}: could not take its lock file {path} (other runs keep replacing it)")
