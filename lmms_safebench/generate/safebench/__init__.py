"""Generate a SafeBench-style benchmark: SafeBench's pipeline, resumable, concurrent and accounted.

    lmms-safebench generate safebench CONFIG --name NAME [--stages LIST] [--redo LIST] [--data-dir DIR]
                                      [--restart] [--no-progress]

Stages (in this order; ``--stages`` runs a subset, default all):

1. ``taxonomy``: the paper's 8 categories x 23 scenarios, a taxonomy YAML, or risk identification by a
   panel of models (merged proposals written to ``taxonomy.yaml`` for review; the run stops there and the
   next run continues from the edited file).
2. ``queries``: per scenario, repeated batches of queries, each batch in another sentence form and style;
   exact and near-duplicates removed.
3. ``scoring``: every scorer rates every query 0-9 on feasibility, harmfulness and applicability (legality
   is not a factor); weighted sum, top k per scenario, deterministic ties.
4. ``images``: per kept query, a subject and a picture description, rendered; a vision-language critic
   says (structurally) whether it fits and what to change; revised and rendered again, at most ``rounds``.
5. ``audio``: every kept query read in two voices (``female``, ``male``).
6. ``twins`` (only with a ``twins`` section in the config): per kept query, a benign twin on the same subject and
   in the same form, checked by a critic (benign, close in wording), revised at most ``twins.revisions`` times;
   checked again with the query's picture (by the vision critic) before it shares it; read in the two voices.
7. ``write``: parquet files in the official build's schema, the manifest, the tasks
   ``safebench_gen_<name>_{image,audio_female,audio_male,text}`` (and, with twins, the over-refusal companion
   ``safebench_gen_<name>_benign_*``), ``provenance.jsonl`` and a data card.

Every finished item is stored as it finishes, every finished model call is cached: a rerun of the same
command (after a crash, Ctrl-C or an outage) makes none of them again. Exit status: 0 when everything was
built; 1 when something was left out or a scenario has fewer than k queries (each named); 2 on an error
(bad configuration or taxonomy, an output folder that is not this generator's); 130 when interrupted.
"""


from __future__ import annotations

HELP = ("SafeBench's pipeline (taxonomy, varied queries, top-k scoring, critic-checked images, two voices; optional "
        "benign twins)")

STAGES = ("taxonomy", "queries", "scoring", "images", "audio", "twins", "write")  # in pipeline order
KIND = "safebench"  # what the benchmark folder records (work/run.json)


def add_arguments(parser) -> None:
    parser.add_argument("--stages", default=",".join(STAGES), metavar="LIST",
                        help="comma-separated stages to run (default: all): " + ",".join(STAGES) +
                             "; a stage reads what earlier stages stored")
    parser.add_argument("--redo", default="", metavar="LIST",
                        help="comma-separated stages whose finished items are forgotten first (their model calls "
                             "stay cached, so only pictures and audio cost anything again)")


def main(args) -> int:
    from .pipeline import main as run  # heavy imports only when the command runs

    return run(args)
