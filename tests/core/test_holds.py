"""Holds in the pure plan: a held alias stays put while the file names the held version."""

from __future__ import annotations

from controller.core.change import Action, Change
from controller.core.holds import Hold, Verified, hold_tag, read_holds, read_verified, verified_tag
from controller.core.plan import compute_plan, with_holds
from controller.core.problem import messages
from controller.core.state import Observed, ObservedModel, Record

FAILED = Hold("champion", 4, 3, "Failed", "errors Failed (3/3)", "2026-12-04T10:00:00Z", True)


def model(
    live: dict[str, int], recorded: dict[str, int | None], extra: dict[str, str] | None = None
) -> Observed:
    tags = {**Record(dict(recorded)).to_tags(), **(extra or {})}
    return Observed({"bikes": ObservedModel.read("bikes", live, tags)})


def test_hold_and_verified_round_trip_through_their_tags() -> None:
    verified = Verified("champion", 3, "2026-12-04T09:00:00Z", "errors passed", "abc123")
    tags = {hold_tag("champion"): FAILED.encode(), verified_tag("champion"): verified.encode()}
    assert read_holds(tags) == ({"champion": FAILED}, ())
    assert read_verified(tags) == {"champion": verified}


def test_an_unreadable_hold_is_named_never_dropped() -> None:
    holds, unreadable = read_holds({hold_tag("champion"): "{not json"})
    assert holds == {}
    assert unreadable == ("champion",)


def test_plan_keeps_a_rolled_back_alias_where_the_hold_says() -> None:
    observed = model({"champion": 3}, {"champion": 3}, {hold_tag("champion"): FAILED.encode()})
    plan = compute_plan({"bikes": {"champion": 4}}, observed)
    assert plan.changes == ()
    assert [h.key for h in plan.holds] == ["bikes@champion"]
    assert plan.drift == ()
    assert plan.stale_records == ()
    assert "held at version 3" in plan.holds[0].describe()


def test_a_hand_move_back_to_the_held_version_is_healed_to_the_hold() -> None:
    observed = model({"champion": 4}, {"champion": 3}, {hold_tag("champion"): FAILED.encode()})
    plan = compute_plan({"bikes": {"champion": 4}}, observed)
    assert plan.changes == (Change("bikes", "champion", Action.UPDATE, 4, 3),)
    # It restores what aliasctl last set: a heal, exempt like any other.
    assert plan.heals == frozenset({"bikes@champion"})


def test_a_rollback_not_yet_applied_is_a_plain_change_that_passes_the_gates() -> None:
    # The hold was written, then the run died (or a freeze refused the move): the record
    # still says 4, so moving to 3 is a change like any other, never an exempt heal.
    observed = model({"champion": 4}, {"champion": 4}, {hold_tag("champion"): FAILED.encode()})
    plan = compute_plan({"bikes": {"champion": 4}}, observed)
    assert plan.changes == (Change("bikes", "champion", Action.UPDATE, 4, 3),)
    assert plan.heals == frozenset()


def test_the_file_naming_another_version_lifts_the_hold() -> None:
    observed = model({"champion": 3}, {"champion": 3}, {hold_tag("champion"): FAILED.encode()})
    plan = compute_plan({"bikes": {"champion": 5}}, observed)
    assert plan.holds == ()
    assert plan.lifted == (("bikes", "champion"),)
    assert plan.changes == (Change("bikes", "champion", Action.UPDATE, 3, 5),)


def test_the_revert_lifts_the_hold_with_nothing_to_move() -> None:
    observed = model({"champion": 3}, {"champion": 3}, {hold_tag("champion"): FAILED.encode()})
    plan = compute_plan({"bikes": {"champion": 3}}, observed)
    assert plan.changes == ()
    assert plan.lifted == (("bikes", "champion"),)


def test_an_unreadable_hold_blocks_its_model() -> None:
    observed = model({"champion": 3}, {"champion": 3}, {hold_tag("champion"): "garbage"})
    plan = compute_plan({"bikes": {"champion": 4}}, observed)
    assert plan.changes == ()
    assert "cannot be read" in messages(plan.problems)[0]


def test_with_holds_keeps_only_held_aliases() -> None:
    observed = model({"champion": 3}, {"champion": 3}, {hold_tag("champion"): FAILED.encode()})
    plan = compute_plan({"bikes": {"champion": 4, "challenger": 5}}, observed)
    declared = {"bikes": {"champion": 4, "challenger": 5}}
    assert with_holds(declared, plan.holds) == {"bikes": {"champion": 3, "challenger": 5}}
