"""A frozen copy of main's rules engine (87ca9a4), the reference the optimised one must equal.

Text folding (rules.text) is shared: the optimisation left it as it was.
"""

from tests.helpers.refrules.engine import Engine

__all__ = ["Engine"]
