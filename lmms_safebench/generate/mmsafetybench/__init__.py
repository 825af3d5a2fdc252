"""Generate an MM-SafetyBench-style benchmark: the visual prompt attack of MM-SafetyBench on your own questions.

    lmms-safebench generate mmsafetybench CONFIG --questions FILE --name NAME [--stages rewrite,images,write]
    lmms-safebench generate mmsafetybench CONFIG --official --name NAME [--stages images,write]

With --questions, an LLM (the config's `llm`) rewrites each question around a key phrase that moves into an
image: a typography image of the phrase (TYPO), a picture of it from the config's `image` backend (SD), and
both stacked (SD_TYPO). Scenarios are judged with the criterion of their group (general, political, legal,
financial, health, government).

With --official, SD images are rendered for the 1,680 key phrases of the official build (`lmms-safebench
build mmsafetybench` first), so the SD and SD_TYPO tasks run without the separately distributed image folder;
the result is a generated benchmark with the official questions and criteria, never the official images.

The benchmark goes to $SAFEBENCH_DATA/generated/NAME; its tasks are safebench_mmsb_gen_NAME_{sd,typo,sd_typo,text}.
A run resumes where an earlier one stopped (--restart starts over). Exit status: 0 when everything was built,
1 when something was left out (each named), 2 on an error.
"""

from __future__ import annotations

HELP = "MM-SafetyBench's visual prompt attack on your questions (or SD images for the official ones)"

STAGES = ("rewrite", "images", "write")  # in pipeline order (--official has no rewrite)
KIND = "mmsafetybench"  # what the benchmark folder records (work/run.json) for a --questions run
KIND_OFFICIAL = "mmsafetybench_official"  # an --official run: never resumed as the other kind


def add_arguments(parser) -> None:
    parser.add_argument("--questions", default=None, metavar="FILE",
                        help="harmful questions with scenario labels: CSV (header row) or JSON lines, fields question, "
                             "scenario, optional id and group")
    parser.add_argument("--official", action="store_true",
                        help="render SD images for the official build's key phrases instead (needs `image`; "
                             "`lmms-safebench build mmsafetybench` first)")
    parser.add_argument("--stages", default=None,
                        help=f"comma-separated stages to run: {', '.join(STAGES)} (default: all; --official: "
                             f"{', '.join(STAGES[1:])})")


def main(args) -> int:
    from .pipeline import main as run  # heavy imports only when the command runs

    return run(args)
