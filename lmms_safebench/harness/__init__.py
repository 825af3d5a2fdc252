"""What knows lmms-eval and lm-eval: the hooks task YAMLs call (:mod:`.hooks`), writing task folders
(:mod:`.taskwriter`), the index of this package's tasks and groups (:mod:`.taskindex`), reading the harnesses'
output folders (:mod:`.outputs`), their printed table (:mod:`.table`) and task discovery for lmms-eval
(:mod:`.discovery`).

This package's ``__init__`` stays empty of imports: the discovery hook imports ``harness.discovery`` at every
interpreter start.
"""
