"""MSSBench (Zhou et al., ICLR 2025, multimodal situational safety): queries and instructions each asked with a
safe and with an unsafe visual context, in a chat and an embodied setting; the pair is the unit.

:mod:`.taxonomy` holds the facts (settings, contexts, licence, selectors); :mod:`.data` builds and loads the
data. Nothing heavy is imported here.
"""
