"""Judged logs of a planted model pool over a built SafeBench text release, for the `select` tests."""

import json
from pathlib import Path

from helpers import write_safebench_release

from lmms_safebench.benchmarks import registry
from lmms_safebench.benchmarks import safebench as sb
from lmms_safebench.benchmarks.safebench import data as sb_build

MODELS = ["m0_safest", "m1", "m2", "m3", "m4", "m5_least_safe"]


def write_judged_logs(root, keys_by_scenario, planted, jury="jury0000000000ab", board="safebench_image"):
    """Judged lmms-eval-style sample logs of the six models. Planted samples separate the models in their
    order; every other sample gets the same verdict from every model (half of them unsafe)."""
    for m, model in enumerate(MODELS):
        folder = root / model
        folder.mkdir(parents=True)
        (folder / "20260101_000000_results.json").write_text(json.dumps({"config": {"model_args": f"model={model}"}}))
        for scenario, keys in keys_by_scenario.items():
            category = sb.BY_SLUG[scenario].category.slug
            lines = []
            for n, key in enumerate(keys):
                if key in planted:
                    unsafe = int(m >= 1 + planted[key] % 5)
                else:
                    unsafe = n % 2
                verdict = {"status": "judged", "unsafe": unsafe, "rating": 2 if unsafe else 5, "jury": jury,
                           "jury_name": "j", "protocol": "single",
                           "case": {"key": key, "scenario": scenario, "category": category, "question": f"Q {key}",
                                    "path": ["image.full.default", category, scenario]}}
                outcome = {"status": "judged", "unsafe": unsafe, "rating": verdict["rating"], "refusal": False,
                           "scenario": scenario, "category": category, "path": verdict["case"]["path"], "schema": 2}
                lines.append(json.dumps({"doc_id": n, "target": "", "jury": verdict, "asr": outcome}))
            (folder / f"20260101_000000_samples_{board}_{scenario}.jsonl").write_text("\n".join(lines) + "\n")


def planted_pool(tmp_path: Path):
    """A built SafeBench text release and judged logs of six models with planted differences: (root, planted, n)."""
    write_safebench_release(tmp_path / "release", queries=6)
    sb_build.build(source=str(tmp_path / "release"), subset="full")
    docs = registry.get("safebench").load_docs(sb.Selector.parse("text.full.default.all"))
    keys_by_scenario = {}
    for doc in docs.select_columns(["id", "scenario_slug"]):
        keys_by_scenario.setdefault(doc["scenario_slug"], []).append(f"safebench/full/{doc['id']}")
    every = [k for keys in keys_by_scenario.values() for k in keys]
    # 35 samples spread over the scenarios: 7 for each neighbouring pair of models, enough for McNemar's exact test
    # to find each difference significant (6 is the fewest), so the order they plant is one the card can state.
    planted = {key: i for i, key in enumerate(every[1::4])}
    write_judged_logs(tmp_path / "runs", keys_by_scenario, planted)
    return tmp_path, planted, len(every)


