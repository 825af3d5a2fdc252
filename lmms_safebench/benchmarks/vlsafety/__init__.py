"""The VLSafetyBencher kinds of generated benchmark (``vlsafety``): a candidate pool, then the final set ``select``
chooses from it (:mod:`.family`). Its adapter is SafeBench's over the benchmark's own taxonomy."""

from .family import VLSafety  # noqa: F401
