"""Generators of fresh benchmarks (SafeBench pipeline, MM-SafetyBench visual prompts, VLSafetyBencher).

- :mod:`.core`: what every generator shares: the config types, the locked and resumable work folder, the
  ledger, text models, the one run model (:class:`~.core.run.Run`, its problems with typed failure codes, the
  stage lists and exit-code policy), the one taxonomy type and the benchmark folder's output;
- :mod:`.media`: image (typography, OpenAI-compatible, diffusers), speech, in-process vision-language models and
  embeddings;
- :mod:`.safebench`, :mod:`.mmsafetybench`, :mod:`.vlsafety`: one package per generator, each with ``HELP``,
  ``add_arguments`` and ``main`` in its ``__init__`` (import-light: ``main`` imports the pipeline when it runs);
- :mod:`.output`: the parts every generated benchmark's kind writes (manifest, task folders, parquet files); the
  kinds themselves (how each is written and read back) are their benchmarks' ``family.py``
  (``lmms_safebench/benchmarks/{safebench,mmsafetybench,vlsafety}/``).
"""
