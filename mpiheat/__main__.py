"""``python -m mpiheat`` is ``python -m mpiheat.run``."""

import sys

from mpiheat.driver.signals import STOP

STOP.install()  # before any heavy import, as in ``python -m mpiheat.run``

from mpiheat.cli import run_main  # noqa: E402

sys.exit(run_main())
