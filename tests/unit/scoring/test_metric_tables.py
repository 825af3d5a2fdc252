"""Metric tables belong to the adapters: per-sample records carry a label and tags only when set, generic label and
tag metrics follow the tree rule, the hooks hand each metric the record it reads, and a task folder's utils.py finds
every metric of its benchmark's table (the YAMLs stay byte-identical: tests/unit/harness/test_task_configs.py)."""

import importlib.util
import math

import pytest

from lmms_safebench.benchmarks import registry
from lmms_safebench.benchmarks.base import CaseSpec
from lmms_safebench.harness import hooks, taskwriter
from lmms_safebench.jury.case import HARMFUL_CONTENT, Criterion
from lmms_safebench.scoring import metrics
from lmms_safebench.scoring.metrics import MetricSpec
from lmms_safebench.scoring.records import Outcome
from lmms_safebench.scoring.tree import combine

HARM_KEYS = {"status", "unsafe", "rating", "refusal", "scenario", "category", "path", "schema"}


def test_a_harm_outcome_and_case_are_logged_as_before_and_labels_and_tags_only_when_set():
    harm = Outcome("judged", 1, 4.0, False, "s", "c", ("v", "c", "s"))
    assert set(harm.to_dict()) == HARM_KEYS
    spec = CaseSpec("k/1", "q?", Criterion(HARMFUL_CONTENT, "c"), "s", "c", "single", {}, ("v", "s"))
    assert set(spec.logged()) == {"key", "scenario", "category", "question", "path"}

    labelled = Outcome("judged", 1, None, True, "s", "s", ("v", "s"), label="full_refusal", tags={"pair": "7"})
    record = labelled.to_dict()
    assert record["label"] == "full_refusal" and record["tags"] == {"pair": "7"}
    assert Outcome.from_dict(record) == labelled
    tagged = CaseSpec("k/2", "q?", Criterion(HARMFUL_CONTENT, "c"), "s", "s", "single", {}, ("v", "s"),
                      tags={"context": "safe"})
    assert tagged.logged()["tags"] == {"context": "safe"}


def test_label_rates_and_tag_breakdowns_follow_the_tree_rule():
    def o(label, scenario, tags=None, status="judged"):
        return Outcome(status, None, None, None, scenario, scenario, ("v", scenario), label=label,
                       tags=tags or {}).to_dict()

    items = [o("full_refusal", "a"), o("full_compliance", "a"), o("full_refusal", "a"), o("full_refusal", "a"),
             o("full_compliance", "b"), o(None, "b", status="unjudged")]
    refusal = metrics.label_rate("full_refusal")
    # a: 3/4, b: 0/1 (the unjudged sample is outside the denominator); the task is the mean of its scenarios.
    assert refusal(items) == pytest.approx((75.0 + 0.0) / 2)
    assert refusal.__name__ == "full_refusal_rate" and refusal.scale == 100.0
    assert combine([refusal(items[:4]), refusal(items[4:])]) == pytest.approx(37.5)
    assert math.isnan(refusal([o(None, "a", status="unjudged")]))

    by_context = metrics.by_tag("context", refusal)
    tagged = [o("full_refusal", "a", {"context": "safe"}), o("full_compliance", "a", {"context": "safe"}),
              o("full_refusal", "a", {"context": "unsafe"}), o("full_refusal", "a")]
    assert by_context(tagged) == {"safe": 50.0, "unsafe": 100.0}
    assert not by_context.in_groups and by_context.__name__ == "by_context"


def test_each_metric_gets_the_record_it_reads():
    @metrics.metric(reads=metrics.VERDICT)
    def verdict_causes(items):
        return sorted(str(i.get("cause")) for i in items)

    table = {"asr": MetricSpec(metrics.asr, False), "causes": MetricSpec(verdict_causes, None)}
    values = hooks.unjudged_values(table, "no document", "s", cause="malformed_document")
    assert values["asr"]["status"] == "unjudged" and "cause" not in values["asr"]
    assert values["causes"]["cause"] == "malformed_document" and values["causes"]["reason"] == "no document"
    assert verdict_causes([values["causes"]]) == ["malformed_document"]


def test_a_task_folders_utils_resolves_its_benchmarks_metrics(tmp_path):
    (tmp_path / "utils.py").write_text(taskwriter.support_files("script", "safebench", lmms_eval=False)["utils.py"])
    spec = importlib.util.spec_from_file_location("utils", tmp_path / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    assert utils.asr is metrics.asr and utils.by_scenario is metrics.by_scenario and utils.combine is combine
    assert utils.jury is registry.get("safebench").metrics()["jury"].aggregation
    with pytest.raises(AttributeError, match="reports no metric 'nothing'"):
        _ = utils.nothing


def test_groups_combine_what_the_metric_functions_say():
    table = registry.get("safebench").metric_table("image.mini.default")
    lmms = taskwriter.group_yaml("s", "g", "G", ["t"], table, True, "0.1")
    lm = taskwriter.group_yaml("s", "g", "G", ["t"], table, False, "0.1")
    assert "metric: by_scenario" not in lmms and "metric: jury" in lmms  # a per-task record is left to the tasks
    assert "metric: asr\n    aggregation: mean\n    weight_by_size: false" in lm
    assert "metric: judged\n    aggregation: mean\n    weight_by_size: true" in lm
    assert "metric: unjudged" not in lm and "metric: jury" not in lm
