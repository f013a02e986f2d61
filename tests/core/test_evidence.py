"""Evidence in the plan: the new version beside the one it replaces, at the seam and for real.

The rendering and the read counts run against the in-memory FakeRegistry; a
real SQLite registry of logged scikit-learn models (a git commit tag, a logged
dataset, two signatures, a version whose run is gone) checks the adapter and
the CLI's three outputs.
"""

from __future__ import annotations

import json

import pytest

from controller.core.evidence import MetricRow, RunFacts, SignatureFacts
from controller.core.state import Record
from controller.desired.spec import Policy
from controller.reconcile import Options, prepare_plan
from controller.render.reports import render_plan
from tests.support.fake_registry import FakeRegistry

MODEL = "bikes"
POLICY = Policy(require_metrics={"rmse": "<= 0.8", "r2": ">= 0.5", "bias": "== 0"})
TENSOR_3 = "[Tensor('float64', (-1, 3))]"
TENSOR_1 = "[Tensor('float64', (-1,))]"


def fake() -> FakeRegistry:
    """bikes v2 (run r2) is champion; v3 (run r3) is better on rmse, worse on r2."""
    registry = FakeRegistry.with_models({MODEL: 4}, {MODEL: {"champion": 2}})
    registry.version_runs = {(MODEL, 2): "r2", (MODEL, 3): "r3", (MODEL, 4): "r-gone"}
    registry.version_details = {
        (MODEL, 3): {"created_at": "2026-11-20T09:00:00Z", "user": "alice", "description": "v3"},
        (MODEL, 2): {"created_at": "2026-10-01T09:00:00Z", "user": "bob"},
    }
    registry.runs = {
        "r2": RunFacts("r2", "train-2", metrics={"rmse": 0.9, "r2": 0.8, "bias": 0.0, "mae": 1}),
        "r3": RunFacts(
            "r3",
            "train-3",
            "2026-11-19T08:00:00Z",
            source_commit="9f8e7d6c5b4a",
            datasets=("bikes-train@3f9a1c",),
            metrics={"rmse": 0.5, "r2": 0.7, "bias": 0.0, "mae": 1.5, "noise": 7.0},
        ),
    }
    registry.signature_facts = {
        (MODEL, 2): SignatureFacts(TENSOR_3, TENSOR_1),
        (MODEL, 3): SignatureFacts(TENSOR_3, TENSOR_1),
    }
    return registry


def test_metric_rows_judge_only_metrics_a_policy_bounds() -> None:
    assert MetricRow("rmse", 0.9, 0.5, "lower").verdict == "better"
    assert MetricRow("r2", 0.8, 0.7, "higher").verdict == "worse"
    assert MetricRow("r2", 0.8, 0.8, "higher").verdict == "same"
    assert MetricRow("mae", 1.0, 1.5, None).verdict is None
    assert MetricRow("rmse", None, 0.5, "lower").verdict is None


def test_update_shows_both_versions_metrics_and_verdicts_in_text() -> None:
    registry = fake()
    options = Options(policies={"champion": POLICY}, show_metrics=("mae",))
    plan = prepare_plan({MODEL: {"champion": 3}}, registry, options)
    text = render_plan(plan, "fake://", "text")
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "bikes@champion" in line)
    assert lines[at + 1].strip() == (
        "3: run 'train-3' (r3), commit 9f8e7d6, data bikes-train@3f9a1c, "
        "registered 2026-11-20T09:00:00Z by alice  "
        "(was 2: run 'train-2' (r2), registered 2026-10-01T09:00:00Z by bob)"
    )
    assert lines[at + 2].strip() == (
        "rmse 0.9 -> 0.5 (-0.4, better); r2 0.8 -> 0.7 (-0.1, worse); "
        "bias 0 -> 0 (+0); mae 1 -> 1.5 (+0.5); signature unchanged"
    )
    assert "noise" not in text  # never every metric


def test_json_evidence_holds_both_versions() -> None:
    plan = prepare_plan({MODEL: {"champion": 3}}, fake(), Options(policies={"champion": POLICY}))
    (change,) = json.loads(render_plan(plan, "fake://", "json"))["changes"]
    evidence = change["evidence"]
    assert evidence["after"] == {
        "version": 3,
        "gone": False,
        "created_at": "2026-11-20T09:00:00Z",
        "user": "alice",
        "description": "v3",
        "run_id": "r3",
        "run_gone": False,
        "run_name": "train-3",
        "run_start_time": "2026-11-19T08:00:00Z",
        "source_commit": "9f8e7d6c5b4a",
        "datasets": ["bikes-train@3f9a1c"],
        "metrics": {"rmse": 0.5, "r2": 0.7, "bias": 0.0},
        "signature": {"inputs": TENSOR_3, "outputs": TENSOR_1},
        "signature_error": None,
    }
    assert evidence["before"]["version"] == 2
    assert evidence["before"]["metrics"] == {"rmse": 0.9, "r2": 0.8, "bias": 0.0}
    rmse = evidence["metrics"][0]
    assert (rmse["name"], rmse["direction"], rmse["verdict"]) == ("rmse", "lower", "better")
    assert rmse["change"] == pytest.approx(-0.4)
    assert evidence["signature_changed"] is False


def test_markdown_puts_each_change_in_a_table_with_details_folded() -> None:
    plan = prepare_plan({MODEL: {"champion": 3}}, fake(), Options(policies={"champion": POLICY}))
    markdown = render_plan(plan, "fake://", "markdown")
    assert "#### `bikes@champion`: version 2 → 3" in markdown
    assert "|  | before: 2 | after: 3 | change |" in markdown
    assert "| `rmse` | 0.9 | 0.5 | -0.4 ✅ better |" in markdown
    assert "| `r2` | 0.8 | 0.7 | -0.1 ❌ worse |" in markdown
    assert "| code commit | - | `9f8e7d6c5b4a` |  |" in markdown
    assert "| signature | present | present | unchanged |" in markdown
    details = markdown[markdown.index("<details><summary>Descriptions") :]
    assert f"inputs:  {TENSOR_3}" in details
    assert "</details>" in details


def test_a_create_shows_its_version_alone_and_a_changed_signature_is_flagged() -> None:
    registry = fake()
    registry.signature_facts[(MODEL, 3)] = SignatureFacts("['a': double (required)]", TENSOR_1)
    options = Options(policies={"champion": POLICY})
    plan = prepare_plan({MODEL: {"champion": 3, "challenger": 3}}, registry, options)
    by_alias = {e.alias: e for e in plan.evidence}
    assert by_alias["challenger"].before is None
    assert by_alias["challenger"].metrics == ()  # no policy, no show_metrics: no metric rows
    assert by_alias["champion"].signature_changed is True
    text = render_plan(plan, "fake://", "text")
    assert "signature CHANGED: inputs now ['a': double (required)]" in text
    markdown = render_plan(plan, "fake://", "markdown")
    assert "#### `bikes@challenger`: version 3" in markdown
    assert "| signature | present | present | ⚠️ changed |" in markdown
    # Two aliases on one version: its run and its MLmodel are each read once.
    assert sorted(registry.run_reads) == ["r2", "r3"]
    assert sorted(registry.model_reads) == [(MODEL, 2), (MODEL, 3)]


def test_a_gone_run_and_an_unreadable_model_are_shown_not_raised() -> None:
    registry = fake()
    registry.broken[(MODEL, 4)] = "the MLmodel file is gone"
    plan = prepare_plan({MODEL: {"champion": 4}}, registry, Options(policies={"champion": POLICY}))
    (evidence,) = plan.evidence
    assert evidence.after.run_gone
    text = render_plan(plan, "fake://", "text")
    assert "4: run r-gone (gone)" in text
    assert "rmse 0.9 (before only)" in text
    assert "signature unreadable" in text
    after = json.loads(render_plan(plan, "fake://", "json"))["changes"][0]["evidence"]["after"]
    assert (after["run_gone"], after["run_name"], after["metrics"]) == (True, None, {})
    assert "the MLmodel file is gone" in after["signature_error"]


def test_no_op_and_delete_plans_read_no_evidence() -> None:
    registry = fake()
    plan = prepare_plan({MODEL: {"champion": 2}}, registry, Options())
    assert not plan.has_changes
    assert plan.evidence == ()
    assert (registry.reads, registry.run_reads, registry.model_reads) == (1, [], [])
    registry.records[MODEL] = Record({"champion": 2})
    plan = prepare_plan({MODEL: {}}, registry, Options(allow_delete=True))
    assert [c.action.value for c in plan.changes] == ["delete"]
    assert plan.evidence == ()
    assert "evidence" not in json.loads(render_plan(plan, "fake://", "json"))["changes"][0]


def test_many_promotions_fold_their_tables_in_markdown() -> None:
    registry = FakeRegistry.with_models({f"m{i}": 2 for i in range(6)})
    declared = {f"m{i}": {"champion": 2} for i in range(6)}
    few = prepare_plan(dict(list(declared.items())[:5]), registry, Options())
    assert "Evidence for" not in render_plan(few, "fake://", "markdown")
    markdown = render_plan(prepare_plan(declared, registry, Options()), "fake://", "markdown")
    folded = markdown[markdown.index("<details><summary>Evidence for 6 promotions</summary>") :]
    assert folded.count("#### `m") == 6
    assert "| run | no source run |" in folded
