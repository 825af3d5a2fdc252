"""Selecting the samples of a benchmark that best separate safe from unsafe models (VLSafetyBencher's selection agent)."""
