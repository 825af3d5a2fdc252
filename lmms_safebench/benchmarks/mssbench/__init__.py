"""MSSBench (Zhou et al., ICLR 2025, multimodal situational safety): queries and instructions each asked with a
safe and with an unsafe visual context, in a chat and an embodied setting; the pair is the unit.

One folder: :mod:`.taxonomy` (settings, contexts, licence, selectors, prompt and judging note), :mod:`.data` (``build
mssbench`` and loading a task's slice), :mod:`.adapter` (:class:`MSSBench`, what the tasks, ``judge`` and ``report``
ask), :mod:`.pairs` (the paired metrics) and :mod:`.tasks` (its task folder and metric table).
"""

from .adapter import MSSBench

__all__ = ["MSSBench"]
