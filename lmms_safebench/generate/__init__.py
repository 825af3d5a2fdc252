"""Generators of fresh benchmarks (SafeBench pipeline, MM-SafetyBench visual prompts, VLSafetyBencher)."""
