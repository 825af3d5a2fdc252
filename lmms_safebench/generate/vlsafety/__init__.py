"""VLSafetyBencher: build a multimodal safety benchmark from a pool of images, by agents.

    lmms-safebench generate vlsafety CONFIG --images SOURCE --name NAME [--data-dir DIR] [--restart]

SOURCE is a folder of images (captions optional: captions.jsonl, captions.csv or <image>.txt), a .parquet
file with an image column, or hub:<dataset id>. The agents: preprocessing (full decode, minimum size,
perceptual-hash and caption deduplication, CLIP zero-shot categorisation into the taxonomy's subcategories,
a VLM verifier), generation (k image-question pairs per image under three strategies: modality dependence,
complementarity, conflict; a text-only check) and augmentation (text rewrites by the LLM, image operations
with PIL). The result is the candidate pool, tasks safebench_gen_<name>_pool; after running reference models
on it, `lmms-safebench select RUN_FOLDER... --from safebench_gen_<name>_pool --name <name> --budget N` writes
the final set, tasks safebench_gen_<name>. Every stage resumes; every model call is cached. See the README.
"""

from __future__ import annotations

HELP = "VLSafetyBencher: a benchmark from a pool of images (preprocessing, generation, augmentation agents)"


def add_arguments(parser) -> None:
    parser.add_argument("--images", required=True, metavar="SOURCE",
                        help="a folder of images, a .parquet file with an image column, or hub:<dataset id>")


def main(args) -> int:
    from .pipeline import main as run  # heavy imports only when the command runs

    return run(args)
