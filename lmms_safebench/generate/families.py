"""Adapters of generated benchmarks, built from their manifests (see lmms_safebench.benchmarks.registry).

Importing this module registers every family.
"""
