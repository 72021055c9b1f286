"""The README's Python examples run as doctests (the ``>>>`` lines of its ```python blocks, section "Python API"):
the documented API and its outputs stay true."""

from __future__ import annotations

import doctest
import re

from conftest import ROOT


def test_readme_examples():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    source = "\n".join(b for b in blocks if ">>>" in b)
    test = doctest.DocTestParser().get_doctest(source, {}, "README.md", str(ROOT / "README.md"), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted >= 10, "the README's examples were not found"
    assert result.failed == 0, f"{result.failed} of {result.attempted} README examples failed (see the output above)"
