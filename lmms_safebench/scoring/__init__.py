"""Per-sample records -> task values -> group values: the records a task logs (:mod:`.records`), the one group rule
(:mod:`.tree`), the metric functions that metric tables are built from (:mod:`.metrics`) and the jury report and
agreement (:mod:`.agreement`). Nothing here knows a benchmark."""
