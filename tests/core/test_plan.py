"""The pure plan: table tests of (declared, observed) -> changes, drift, problems."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from controller.core.change import Action, Change
from controller.core.plan import (
    AliasRef,
    Drift,
    check_targets,
    compute_plan,
    pending_record,
    settled_aliases,
)
from controller.core.problem import messages
from controller.core.state import Observed, ObservedModel, Record, VersionInfo

if TYPE_CHECKING:
    from collections.abc import Mapping

C, U, D = Action.CREATE, Action.UPDATE, Action.DELETE


def observed(
    live: Mapping[str, Mapping[str, int]],
    managed: Mapping[str, Mapping[str, int | None]] | None = None,
    instance: str = "default",
) -> Observed:
    managed = managed or {}
    return Observed(
        {
            name: ObservedModel(
                name,
                dict(aliases),
                Record(dict(managed[name]), instance) if name in managed else None,
            )
            for name, aliases in live.items()
        }
    )


CASES = [
    pytest.param(
        {"bikes": {"champion": 3}},
        observed({"bikes": {}}),
        (Change("bikes", "champion", C, None, 3),),
        id="creates-absent-alias",
    ),
    pytest.param(
        {"bikes": {"champion": 4}},
        observed({"bikes": {"champion": 3}}, {"bikes": {"champion": 3}}),
        (Change("bikes", "champion", U, 3, 4),),
        id="updates-alias-pointing-elsewhere",
    ),
    pytest.param(
        {"bikes": {"champion": 3}},
        observed({"bikes": {"champion": 3}}, {"bikes": {"champion": 3}}),
        (),
        id="no-op-is-not-a-change",
    ),
    pytest.param(
        {"bikes": {"champion": 3}},
        observed({"bikes": {"champion": 3, "canary": 4}}, {"bikes": {"champion": 3, "canary": 4}}),
        (Change("bikes", "canary", D, 4, None),),
        id="deletes-managed-alias-removed-from-file",
    ),
    pytest.param(
        {"bikes": {"champion": 3}},
        observed({"bikes": {"champion": 3, "staging": 2}}, {"bikes": {"champion": 3}}),
        (),
        id="never-touches-unmanaged-alias",
    ),
    pytest.param(
        {},
        observed({"bikes": {"champion": 3, "staging": 2}}, {"bikes": {"champion": 3}}),
        (Change("bikes", "champion", D, 3, None),),
        id="model-removed-from-file-loses-only-managed-aliases",
    ),
    pytest.param(
        {},
        observed({"bikes": {"champion": 3}}, {"bikes": {"champion": 3}}, instance="team-b"),
        (),
        id="never-prunes-another-instances-model",
    ),
    pytest.param(
        {"bikes": {"champion": 3}},
        observed({"bikes": {"champion": 3}}, {"bikes": {"champion": 3, "canary": 2}}),
        (),
        id="managed-alias-already-gone-needs-no-delete",
    ),
    pytest.param(
        {"bikes": {"staging": 5}},
        observed({"bikes": {"staging": 2}}),
        (Change("bikes", "staging", U, 2, 5),),
        id="adopts-alias-declared-for-the-first-time",
    ),
    pytest.param(
        {"a": {"x": 1, "y": 2}, "b": {"x": 1}},
        observed({"a": {"y": 1, "z": 1}, "b": {"x": 2}}, {"a": {"z": 1}, "b": {"x": 2}}),
        (
            Change("a", "x", C, None, 1),
            Change("a", "y", U, 1, 2),
            Change("a", "z", D, 1, None),
            Change("b", "x", U, 2, 1),
        ),
        id="sorted-by-model-then-alias",
    ),
]


@pytest.mark.parametrize(("declared", "live", "expected"), CASES)
def test_plan_changes(
    declared: dict[str, dict[str, int]], live: Observed, expected: tuple[Change, ...]
) -> None:
    assert compute_plan(declared, live).changes == expected


def test_plan_lists_unmanaged_aliases() -> None:
    plan = compute_plan(
        {"bikes": {"champion": 3}},
        observed({"bikes": {"champion": 3, "staging": 2}}, {"bikes": {"champion": 3}}),
    )
    assert plan.unmanaged == (AliasRef("bikes", "staging", 2),)


def test_plan_reports_missing_model_as_problem() -> None:
    plan = compute_plan({"ghost": {"champion": 1}}, observed({}))
    assert messages(plan.problems) == ("ghost: registered model does not exist",)
    assert plan.changes == ()


def test_missing_model_names_the_one_differing_only_in_case() -> None:
    # A managed model is read anyway: the hint costs nothing.
    plan = compute_plan({"casemodel": {"champion": 1}}, observed({"CaseModel": {}}))
    assert messages(plan.problems) == (
        "casemodel: registered model does not exist; did you mean 'CaseModel'?",
    )
    # Else the adapter's bounded lookup (or MySQL's folded answer) found it.
    found = Observed({}, near_names={"casemodel": "CaseModel"})
    plan = compute_plan({"casemodel": {"champion": 1}}, found)
    assert messages(plan.problems) == (
        "casemodel: registered model does not exist; did you mean 'CaseModel'?",
    )


FOLDS = "on a registry whose database folds case (MySQL)"


@pytest.mark.parametrize(
    ("live", "managed", "problems"),
    [
        # A hand-set alias, differing only in case: MySQL would overwrite it.
        ({"champion": 1}, None, (f"m@Champion would replace m@champion {FOLDS}",)),
        (
            {"CHAMPION": 1, "champion": 3},
            None,
            (
                f"m@Champion would replace m@CHAMPION {FOLDS}",
                f"m@Champion would replace m@champion {FOLDS}",
            ),
        ),
        # aliasctl's own alias, renamed by case in the file: on MySQL the set and the
        # delete would hit one row, leaving neither.
        ({"champion": 1}, {"champion": 1}, (f"m@Champion would replace m@champion {FOLDS}",)),
        # Managed under this exact name already: its own alias, not a newcomer.
        ({"Champion": 2, "champion": 1}, {"Champion": 2}, ()),
        ({"Champion": 1}, None, ()),
        ({"challenger": 1}, None, ()),
    ],
)
def test_alias_differing_only_in_case_from_a_live_one_is_a_problem(
    live: dict[str, int], managed: dict[str, int | None] | None, problems: tuple[str, ...]
) -> None:
    plan = compute_plan(
        {"m": {"Champion": 2}}, observed({"m": live}, {"m": managed} if managed else None)
    )
    assert messages(plan.problems) == problems


def test_plan_refuses_model_managed_by_another_instance() -> None:
    plan = compute_plan(
        {"bikes": {"champion": 1}},
        observed({"bikes": {}}, {"bikes": {"champion": 1}}, instance="team-b"),
    )
    assert messages(plan.problems) == (
        "bikes: managed by aliasctl instance 'team-b', not 'default'",
    )


def test_drift_is_a_managed_alias_moved_by_hand() -> None:
    plan = compute_plan(
        {"bikes": {"champion": 3, "challenger": 4}},
        observed({"bikes": {"champion": 1}}, {"bikes": {"champion": 3, "challenger": 4}}),
    )
    assert plan.drift == (
        Drift("bikes", "challenger", recorded=4, live=None),
        Drift("bikes", "champion", recorded=3, live=1),
    )


def test_lagging_record_with_live_matching_file_is_not_drift() -> None:
    # An apply that died after moving the alias but before rewriting its record.
    plan = compute_plan(
        {"bikes": {"champion": 4}},
        observed({"bikes": {"champion": 4}}, {"bikes": {"champion": 3}}),
    )
    assert plan.drift == ()
    assert plan.changes == ()
    assert plan.stale_records == ("bikes",)


def test_in_flight_alias_is_not_drift() -> None:
    plan = compute_plan(
        {"bikes": {"champion": 4}}, observed({"bikes": {}}, {"bikes": {"champion": None}})
    )
    assert plan.drift == ()
    assert plan.changes == (Change("bikes", "champion", C, None, 4),)


def test_unrecorded_model_with_matching_aliases_needs_a_record() -> None:
    plan = compute_plan({"bikes": {"champion": 3}}, observed({"bikes": {"champion": 3}}))
    assert plan.changes == ()
    assert plan.stale_records == ("bikes",)


def test_model_left_in_file_is_released_after_its_deletes() -> None:
    plan = compute_plan({}, observed({"bikes": {"champion": 3}}, {"bikes": {"champion": 3}}))
    assert plan.released == ("bikes",)


def test_targets_are_only_versions_aliases_move_to() -> None:
    plan = compute_plan(
        {"bikes": {"champion": 4, "challenger": 5}},
        observed({"bikes": {"champion": 3, "challenger": 5, "old": 1}}, {"bikes": {"old": 1}}),
    )
    assert plan.targets() == {("bikes", 4)}


def test_check_targets_requires_existing_ready_versions() -> None:
    plan = compute_plan({"bikes": {"a": 1, "b": 2, "c": 9}}, observed({"bikes": {}}))
    problems = check_targets(
        plan,
        [VersionInfo("bikes", 1, "READY"), VersionInfo("bikes", 2, "PENDING_REGISTRATION")],
    )
    assert messages(problems) == (
        "bikes@b: version 2 is PENDING_REGISTRATION, not READY",
        "bikes@c: version 9 does not exist",
    )


def test_pending_record_marks_new_aliases_in_flight() -> None:
    previous = Record({"champion": 3}, commit="abc")
    changes = [Change("bikes", "canary", C, None, 5), Change("bikes", "champion", U, 3, 4)]
    assert pending_record(previous, changes, "default").aliases == {
        "champion": 3,
        "canary": None,
    }


def test_settled_aliases_keep_previous_value_for_failed_changes() -> None:
    previous = Record({"champion": 3, "old": 1})
    failed = [Change("bikes", "champion", U, 3, 4), Change("bikes", "old", D, 1, None)]
    assert settled_aliases(previous, {"champion": 4, "canary": 5}, failed) == {
        "champion": 3,
        "canary": 5,
        "old": 1,
    }


def test_record_round_trips_through_its_tag_encoding() -> None:
    record = Record({"champion": 3, "canary": None}, "default", "abc123", "2026-01-01T00:00:00Z",
                    {"actor": "octocat"})  # fmt: skip
    assert Record.decode(record.encode()) == record


@pytest.mark.parametrize("text", ["", "{", "[]", '{"aliases": []}', '{"aliases": "x"}'])
def test_unreadable_record_counts_as_absent(text: str) -> None:
    assert Record.decode(text) is None
