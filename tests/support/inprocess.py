"""A board's tasks judged in process, as lmms-eval would judge them: every document of each task answered by a
caller's rule and passed through the task hooks (``hooks.process_results``, the configured jury), then each task's
and each group's numbers computed from the per-sample values as the harness does (``judge.results``)."""

from collections.abc import Callable

from lmms_safebench.benchmarks import registry
from lmms_safebench.harness import hooks, taskindex
from lmms_safebench.judge.results import compute_results
from lmms_safebench.judge.samples import Saved


def judge_board(board: str, answer: Callable[[taskindex.TaskInfo, int, dict], str]) -> tuple[dict, dict]:
    """``({task: [per-sample values]}, results)``; ``answer(task, doc_id, doc)`` is the model's answer and
    ``results`` is keyed like lmms-eval's results file (``{name: {"<metric>,none": value}}``, leaves and groups)."""
    saved, logged = [], {}
    for info in taskindex.tasks_of_board(board):
        adapter, selector = registry.split(f"{info.benchmark}.{info.selector}")
        for doc_id, doc in enumerate(adapter.load_docs(selector)):
            values = hooks.process_results(doc, [answer(info, doc_id, doc)])
            logged.setdefault(info.name, []).append(values)
            saved.append(Saved(run=None, task=info.name, line=doc_id + 1, record={}, answer="", info=info,
                               values=values, table=adapter.metric_table(info.variant)))
    results, _ = compute_results(saved)
    return logged, results
