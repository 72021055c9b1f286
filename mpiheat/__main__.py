"""``python -m mpiheat`` is ``python -m mpiheat.run``."""

import sys

from mpiheat.run import main

sys.exit(main())
