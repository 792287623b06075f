"""Per-platform length counting and thread splitting: pure functions."""

from prcast.text.counting import RULES, count
from prcast.text.split import SplitError, split

__all__ = ["RULES", "SplitError", "count", "split"]
