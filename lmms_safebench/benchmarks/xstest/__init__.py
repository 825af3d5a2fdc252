"""XSTest (Röttger et al., NAACL 2024): text prompts that look unsafe but are safe, and unsafe contrasts of them,
to measure exaggerated safety (over-refusal) beside real refusals.

One folder: :mod:`.taxonomy` (prompt types, counts, licence, selectors), :mod:`.data` (``build xstest`` and loading a
task's slice), :mod:`.adapter` (:class:`XSTest`, what the tasks, ``judge`` and ``report`` ask) and :mod:`.tasks` (its
task folders for lmms-eval and lm-eval, and its metric tables).
"""

from .adapter import XSTest

__all__ = ["XSTest"]
