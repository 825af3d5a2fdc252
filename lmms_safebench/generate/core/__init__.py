"""What every generator shares: configuration, the work folder, the text models, the one run model and output.

- :mod:`.config`: the generation YAML's shared types (model, image and speech specs), read and validated once;
- :mod:`.workspace`: the locked, resumable work folder (items per stage, the call cache, the ledger);
- :mod:`.ledger`: what each stage spent; :mod:`.llm`: text and vision-language models for the stages;
- :mod:`.problems`: :class:`~.problems.Problem` (what a run left out, one type for every generator) and the typed
  failure codes an item's work raises (:class:`~.problems.ItemFailed`);
- :mod:`.run`: :class:`~.run.Run` (one invocation of a generator), the stage lists, :class:`~.run.Stop` and the
  exit-code policy;
- :mod:`.taxonomy`: the one taxonomy type (:class:`~.taxonomy.Category` of :class:`~.taxonomy.Scenario`);
- :mod:`.output`: the benchmark folder (prepare, resume or restart it; whole-file writes; the data card).

Importing this package imports none of its modules (the command line stays quick to start).
"""
