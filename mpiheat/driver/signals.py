"""Stop requests by signal (SIGTERM, SIGINT, SIGUSR1), shared by ``mpiheat.run`` and the driver.

Standard library only: ``mpiheat.run`` installs the handler before importing numpy, mpi4py, h5py or numba, so a
signal that arrives during start-up is a stop request (the run ends with exit 75) instead of killing the rank.
The handler only records the signal; the driver acts on it at its next agreement point between rounds. A second
SIGINT raises KeyboardInterrupt (stop at once).
"""

from __future__ import annotations

import signal
import sys

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


class Stop:
    """Signal flag: ``requested`` is the number of the first stop signal received (0: none)."""

    def __init__(self) -> None:
        self.requested = 0
        self._seen_int = False
        self._old: dict = {}
        self._depth = 0

    def install(self) -> Stop:
        """Install the handlers (nested calls only count; the outermost one starts with no request)."""
        if self._depth == 0:
            self.requested, self._seen_int = 0, False
            for sig in SIGNALS:
                try:
                    self._old[sig] = signal.signal(sig, self._handler)
                except (ValueError, OSError):  # not the main thread
                    pass
        self._depth += 1
        return self

    def restore(self) -> None:
        """Undo the matching :meth:`install`; the outermost one puts the previous handlers back."""
        self._depth = max(self._depth - 1, 0)
        if self._depth == 0:
            for sig, h in self._old.items():
                signal.signal(sig, h)
            self._old.clear()

    def _handler(self, signum, frame):
        if signum == signal.SIGINT and self._seen_int:
            raise KeyboardInterrupt
        if signum == signal.SIGINT:
            self._seen_int = True
        first = not self.requested
        self.requested = self.requested or signum
        if first:
            name = signal.Signals(signum).name
            sys.stderr.write(f"\n[mpiheat] received {name}: stopping after the current round with a checkpoint\n")
            sys.stderr.flush()


STOP = Stop()
