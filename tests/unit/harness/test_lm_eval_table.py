"""lm-eval's command line binds ``make_table`` before any task loads (``from lm_eval.utils import make_table`` at the
top of its ``run``), so wrapping it when our hooks load came too late: its table printed the whole jury record.
Discovery's finder wraps it as ``lm_eval.utils`` loads; this replays that order in process."""

from __future__ import annotations

import importlib
import sys

import lm_eval

from lmms_safebench.harness import (
    discovery,
    hooks,  # noqa: F401  (our tasks have loaded: their utils.py imports the hooks)
)

JURY = {"identities": ["0123456789abcdef"], "name": "a-judge-model-with-a-rather-long-name", "protocol": "single",
        "calls": 7, "cache_hits": 2, "unjudged_causes": {"unreadable": 1},
        "per_juror": {"judge": {"model": "a-judge-model-with-a-rather-long-name", "calls": 7, "valid": 6,
                                "mean_latency_s": 0.25, "base_url": "http://127.0.0.1:8000/v1"}},
        "rubric": {"kind": "refusal", "labels": ["full_compliance", "partial_refusal", "full_refusal"]}}


def xstest_results() -> dict:
    """Results as lm-eval reports an XSTest half: rates, counts, a per-type breakdown and the jury record."""
    row = {"alias": "safebench_xstest_safe", "full_compliance,none": 50.0, "full_compliance_stderr,none": "N/A",
           "refusal,none": 50.0, "refusal_stderr,none": "N/A", "judged,none": 100.0, "judged_stderr,none": "N/A",
           "by_type,none": {"homonyms": 50.0, "figurative_language": 50.0},
           "by_type_stderr,none": "N/A", "jury,none": JURY, "jury_stderr,none": "N/A"}
    return {"results": {"safebench_xstest_safe": row}, "versions": {"safebench_xstest_safe": 0.1},
            "n-shot": {"safebench_xstest_safe": 0}, "higher_is_better": {"safebench_xstest_safe": {}}}


def test_lm_eval_cli_binding_prints_the_jury_as_one_line(monkeypatch):
    # A fresh interpreter's order: the finder is on sys.meta_path, then lm-eval imports its utils and binds
    # make_table, then the tasks (and our hooks) load, then the table is printed.
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if not isinstance(f, discovery._TasksFinder)])
    # lm_eval.utils as it was (imported or not) comes back at teardown; here it is imported afresh.
    monkeypatch.setitem(sys.modules, "lm_eval.utils", None)
    del sys.modules["lm_eval.utils"]
    monkeypatch.setattr(lm_eval, "utils", None, raising=False)
    delattr(lm_eval, "utils")
    monkeypatch.delenv("LMMS_SAFEBENCH_NO_DISCOVERY", raising=False)
    discovery.install()
    make_table = importlib.import_module("lm_eval.utils").make_table  # what `run` binds before tasks load

    results = xstest_results()
    printed = make_table(results)
    assert "a-judge-model-with-a-rat: 7 calls, 2 cached, 1 unjudged" in printed  # the name cut at 24
    assert "2 types (see the results file)" in printed and "50.0000" in printed
    assert "per_juror" not in printed and "mean_latency_s" not in printed
    assert max(len(line) for line in printed.splitlines()) <= 160, printed
    assert results["results"]["safebench_xstest_safe"]["jury,none"] is JURY  # the results file keeps it whole


def test_without_our_tasks_the_table_is_the_harness_own(monkeypatch):
    """The wrapper shortens nothing until our tasks have loaded: another task's dict metric prints as before."""
    from lmms_safebench.harness import table

    printed = {}
    monkeypatch.delitem(sys.modules, "lmms_safebench.harness.hooks")
    table.wrap(lambda results, *a, **k: printed.setdefault("results", results))(xstest_results())
    assert printed["results"]["results"]["safebench_xstest_safe"]["jury,none"] == JURY
