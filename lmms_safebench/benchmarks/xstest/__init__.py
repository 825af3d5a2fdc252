"""XSTest (Röttger et al., NAACL 2024): text prompts that look unsafe but are safe, and unsafe contrasts of them,
to measure exaggerated safety (over-refusal) beside real refusals.

:mod:`.taxonomy` holds the facts (prompt types, counts, licence, selectors); :mod:`.data` builds and loads the
data. Nothing heavy is imported here.
"""
