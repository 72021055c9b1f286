"""mpiheat: classical and quantum heat transport through a particle in a box (Zou et al., PRL 136, 066305 (2026)).

Python API (see README, "Python API")::

    import mpiheat
    r = mpiheat.run({"job": {"kind": "quantum"}, "temperatures": {...}, ...})   # -> mpiheat.Results
    r["J"], r.attrs, r.schema["J"].units, r.to_xarray()
    r = mpiheat.load("results/default.h5")

The command line is ``python -m mpiheat.run JOB.toml`` (the entry module; ``mpiheat.run`` itself is the function).
"""

from mpiheat._version import __version__

# Light: mpiheat.api imports only the standard library at module level.
from mpiheat.api import Results, load, run

__all__ = ["Results", "__version__", "load", "run"]
