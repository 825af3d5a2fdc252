"""MOSSBench (Li et al. 2024, "Is your multimodal language model oversensitive to safe queries?"): benign
image+text queries that tend to trigger refusals, in three stimulus types, and their harmful contrast set.

:mod:`.taxonomy` holds the facts (stimulus types, counts, licence, selectors); :mod:`.data` builds and loads
the data. Nothing heavy is imported here.
"""
