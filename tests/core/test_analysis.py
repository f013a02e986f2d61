"""Analysis judged (pure): Argo Rollouts' assessment, what is pending, and what to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controller.core.analysis import (
    Act,
    Pending,
    Target,
    decide,
    due_at,
    judge,
    next_due,
    pending_analyses,
)
from controller.core.holds import Hold, Verified, hold_tag, verified_tag
from controller.core.progress import MetricState, Phase, Progress, progress_tag
from controller.core.state import Observed, ObservedModel, Record
from controller.desired.analysis import Analysis, AnalysisMetric
from controller.desired.spec import Policy

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def metric(**settings: object) -> AnalysisMetric:
    body: dict[str, object] = {
        "name": "errors",
        "prometheus": {"address": "http://127.0.0.1:9090", "query": "up"},
        "success": "result < 0.05",
    }
    return AnalysisMetric.model_validate({**body, **settings})


@pytest.mark.parametrize(
    ("taken", "settings", "phase"),
    [
        ("", {}, Phase.RUNNING),
        ("S", {}, Phase.SUCCESSFUL),
        ("SS", {"count": 3}, Phase.RUNNING),
        ("SSS", {"count": 3}, Phase.SUCCESSFUL),
        ("F", {"count": 3}, Phase.FAILED),
        ("SFS", {"count": 3, "failure_limit": 1}, Phase.SUCCESSFUL),
        ("FF", {"count": 3, "failure_limit": 1}, Phase.FAILED),
        ("I", {"count": 3}, Phase.INCONCLUSIVE),
        ("I", {"count": 2, "inconclusive_limit": 1}, Phase.RUNNING),
        ("IS", {"count": 2, "inconclusive_limit": 1}, Phase.SUCCESSFUL),
        # Errors are retried: they do not count toward `count`...
        ("SEEEE", {"count": 2}, Phase.RUNNING),
        # ...until more than consecutive_error_limit come in a row.
        ("SEEEEE", {"count": 2}, Phase.ERROR),
        ("EESEE", {"count": 3, "consecutive_error_limit": 2}, Phase.RUNNING),
        ("EEE", {"count": 3, "consecutive_error_limit": 2}, Phase.ERROR),
    ],
)
def test_metric_phase_follows_argo(taken: str, settings: dict[str, object], phase: Phase) -> None:
    assert MetricState(taken).phase(metric(**settings)) is phase


def test_a_failure_fails_the_analysis_while_other_metrics_still_run() -> None:
    analysis = Analysis(metrics=[metric(count=5), metric(name="latency", count=5)])
    progress = Progress(4, T0).measured("errors", Phase.FAILED, T0, "result 0.3")
    pending = Pending(Target("bikes", "champion", 4, 3), analysis, progress)
    decision = decide(pending, progress, T0)
    assert decision.act is Act.ROLLBACK
    assert decision.hold == Hold(
        "champion",
        4,
        3,
        "Failed",
        decision.hold.reason if decision.hold else "",
        "2026-12-04T10:00:00Z",
        True,
    )
    assert "rolled back to version 3" in decision.message


@pytest.mark.parametrize(
    ("letter", "previous", "rollback", "act", "held_at"),
    [
        ("S", 3, True, Act.VERIFY, None),
        ("F", 3, True, Act.ROLLBACK, 3),
        ("F", None, True, Act.HOLD, 4),  # nothing verified to go back to: said loudly
        ("F", 3, False, Act.HOLD, 4),
        ("I", 3, True, Act.HOLD, 4),  # inconclusive holds for a person, never rolls back
        ("E", 3, True, Act.HOLD, 4),  # the provider could not answer: not a failure
    ],
)
def test_what_a_finished_analysis_leads_to(
    letter: str, previous: int | None, rollback: bool, act: Act, held_at: int | None
) -> None:
    analysis = Analysis(metrics=[metric(consecutive_error_limit=0)], rollback=rollback)
    phase = {"S": Phase.SUCCESSFUL, "F": Phase.FAILED, "I": Phase.INCONCLUSIVE, "E": Phase.ERROR}
    progress = Progress(4, T0).measured("errors", phase[letter], T0, "")
    decision = decide(
        Pending(Target("bikes", "champion", 4, previous), analysis, progress), progress, T0
    )
    assert decision.act is act
    assert (decision.hold.held_at if decision.hold else None) == held_at
    if letter == "F" and previous is None:
        assert "nothing to roll back to" in decision.message


def test_measurements_are_due_after_the_initial_delay_then_each_interval() -> None:
    m = metric(initial_delay="30s", interval="1m", count=2)
    progress = Progress(4, T0)
    assert due_at(m, progress) == T0 + timedelta(seconds=30)
    progress = progress.measured("errors", Phase.SUCCESSFUL, T0 + timedelta(seconds=31), "")
    assert due_at(m, progress) == T0 + timedelta(seconds=91)
    progress = progress.measured("errors", Phase.SUCCESSFUL, T0 + timedelta(seconds=91), "")
    assert due_at(m, progress) is None
    assert next_due(Analysis(metrics=[m]), progress) is None


def test_progress_survives_its_tag() -> None:
    progress = Progress(4, T0).measured("errors", Phase.INCONCLUSIVE, T0, "no data ([])")
    assert Progress.decode(progress.encode()) == progress
    assert Progress.decode("{broken") is None


POLICIES = {"champion": Policy(analysis=Analysis(metrics=[metric()]))}


def observed(live: int, tags: dict[str, str]) -> Observed:
    record = Record({"champion": live}, applied_at="2026-12-04T09:59:00Z")
    both = {**record.to_tags(), **tags}
    return Observed({"bikes": ObservedModel.read("bikes", {"champion": live}, both)})


def test_a_new_version_is_pending_with_its_verified_predecessor() -> None:
    verified = Verified("champion", 3, "2026-12-01T00:00:00Z")
    found = pending_analyses(
        {"bikes": {"champion": 4}},
        observed(4, {verified_tag("champion"): verified.encode()}),
        POLICIES,
    )
    assert [(p.target.version, p.target.previous) for p in found] == [(4, 3)]
    assert found[0].moved_at == datetime(2026, 12, 4, 9, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("declared", "live", "tags"),
    [
        (4, 3, {}),  # the file is about to move it: analysed after the move
        (3, 3, {verified_tag("champion"): Verified("champion", 3, "x").encode()}),
        # Held (rolled back to 3, or in place): a person decides, never re-analysed.
        (4, 3, {hold_tag("champion"): Hold("champion", 4, 3, "Failed", "", "x", True).encode()}),
        (4, 4, {hold_tag("champion"): Hold("champion", 4, 4, "Inconclusive", "", "x").encode()}),
    ],
)
def test_nothing_pending(declared: int, live: int, tags: dict[str, str]) -> None:
    assert pending_analyses({"bikes": {"champion": declared}}, observed(live, tags), POLICIES) == []


def test_another_versions_progress_is_stale() -> None:
    old = Progress(3, T0).measured("errors", Phase.FAILED, T0, "")
    found = pending_analyses(
        {"bikes": {"champion": 4}}, observed(4, {progress_tag("champion"): old.encode()}), POLICIES
    )
    assert found[0].progress is None


def test_judge_by_argo_rules_and_no_data_is_inconclusive() -> None:
    both = metric(failure="result >= 0.1")
    assert judge(both, 0.01)[0] is Phase.SUCCESSFUL
    assert judge(both, 0.5)[0] is Phase.FAILED
    assert judge(both, 0.07)[0] is Phase.INCONCLUSIVE
    assert judge(metric(), 0.07)[0] is Phase.FAILED  # success only: not holding fails
    assert judge(metric(success=None, failure="result > 0.1"), 0.07)[0] is Phase.SUCCESSFUL
    assert judge(metric(), [])[0] is Phase.INCONCLUSIVE
    assert judge(metric(), float("nan"))[0] is Phase.INCONCLUSIVE
    assert judge(metric(), float("inf"))[0] is Phase.FAILED
    assert judge(metric(success="result.rate < 1"), 0.5)[0] is Phase.ERROR
