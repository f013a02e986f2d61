"""Evidence bounded by what a person reviews (issue 22): the first N changes, promotions first.

Pure logic on the in-memory fake; the CLI's options on a real registry are in
test_evidence_logged.py.
"""

from __future__ import annotations

import json

from controller.core.change import Action, Change
from controller.core.evidence import RunFacts, pick_for_evidence
from controller.desired.spec import Policy
from controller.reconcile import Options, prepare_plan
from controller.render.reports import render_plan
from tests.support.fake_registry import FakeRegistry


def change(model: str, before: int | None, after: int | None) -> Change:
    action = Action.CREATE if before is None else Action.DELETE if after is None else Action.UPDATE
    return Change(model, "champion", action, before, after)


def test_pick_puts_promotions_first_then_creates_and_counts_the_rest() -> None:
    changes = [change("a", None, 1), change("b", 1, 2), change("c", 1, None), change("d", 1, 2)]
    assert pick_for_evidence(changes, None) == ([changes[1], changes[3], changes[0]], 0)
    assert pick_for_evidence(changes, 2) == ([changes[1], changes[3]], 1)
    assert pick_for_evidence(changes, 0) == ([], 3)
    assert pick_for_evidence(changes, 5) == ([changes[1], changes[3], changes[0]], 0)


def registry(models: int) -> FakeRegistry:
    """m0..m{n-1}, two versions each; m0 and m1 have champion at 1, the others no alias."""
    fake = FakeRegistry.with_models(
        {f"m{i}": 2 for i in range(models)}, {"m0": {"champion": 1}, "m1": {"champion": 1}}
    )
    fake.version_runs = {(f"m{i}", v): f"r{i}-{v}" for i in range(models) for v in (1, 2)}
    fake.runs = {r: RunFacts(r, metrics={"rmse": 0.5}) for r in fake.version_runs.values()}
    return fake


def test_a_large_create_plan_reads_evidence_for_the_first_n_changes_only() -> None:
    fake = registry(10)
    declared = {f"m{i}": {"champion": 2} for i in range(10)}
    plan = prepare_plan(declared, fake, Options(evidence_limit=3))
    assert [(e.model, e.before is not None) for e in plan.evidence] == [
        ("m0", True),
        ("m1", True),
        ("m2", False),
    ]
    assert plan.evidence_omitted == 7
    # The two promotions' targets and the versions they replace, and one create's target.
    assert sorted(fake.model_reads) == [("m0", 1), ("m0", 2), ("m1", 1), ("m1", 2), ("m2", 2)]
    assert sorted(fake.run_reads) == ["r0-1", "r0-2", "r1-1", "r1-2", "r2-2"]
    text = render_plan(plan, "fake://", "text")
    assert "Evidence is shown for 3 of 10 changes" in text
    assert "`aliasctl plan --evidence all` shows every one" in text
    assert "Evidence is shown for 3 of 10 changes" in render_plan(plan, "fake://", "markdown")
    body = json.loads(render_plan(plan, "fake://", "json"))
    assert body["evidence_omitted"] == 7
    assert sum("evidence" in c for c in body["changes"]) == 3


def test_every_change_is_shown_without_a_limit_and_none_without_evidence() -> None:
    declared = {f"m{i}": {"champion": 2} for i in range(10)}
    every = prepare_plan(declared, registry(10), Options(evidence_limit=None))
    assert (len(every.evidence), every.evidence_omitted) == (10, 0)
    assert not any("Evidence is shown" in n for n in every.notes)
    fake = registry(10)
    none = prepare_plan(declared, fake, Options(evidence=False))
    assert (none.evidence, none.evidence_omitted) == ((), 0)
    assert (fake.run_reads, fake.model_reads) == ([], [])


def test_a_gate_reads_its_metric_for_every_change_past_the_limit() -> None:
    fake = registry(10)
    fake.runs["r7-2"] = RunFacts("r7-2", metrics={"rmse": 0.9})  # fails the bound
    declared = {f"m{i}": {"champion": 2} for i in range(10)}
    policies = {"champion": Policy(require_metrics={"rmse": "<= 0.8"})}
    plan = prepare_plan(declared, fake, Options(evidence_limit=1, policies=policies))
    assert {f"r{i}-2" for i in range(10)} <= set(fake.run_reads)
    assert [p.model for p in plan.problems] == ["m7"]
    assert (len(plan.evidence), plan.evidence_omitted) == (1, 9)
