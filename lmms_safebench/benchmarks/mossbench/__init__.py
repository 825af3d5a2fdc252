"""MOSSBench (Li et al. 2024, "Is your multimodal language model oversensitive to safe queries?"): benign
image+text queries that tend to trigger refusals, in three stimulus types, and their harmful contrast set.

One folder: :mod:`.taxonomy` (stimulus types, counts, licence, selectors), :mod:`.data` (``build mossbench`` and
loading a task's slice), :mod:`.adapter` (:class:`MOSSBench`, what the tasks, ``judge`` and ``report`` ask),
:mod:`.tasks` (its task folder and metric tables) and :mod:`.published` (the authors' leaderboard).
"""

from .adapter import MOSSBench

__all__ = ["MOSSBench"]
