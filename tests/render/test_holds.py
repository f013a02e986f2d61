"""Holds in the plan, apply and drift reports: every format says which alias is held, where,
why, and how the hold is lifted."""

from __future__ import annotations

import json

import click

from controller.apply import ApplyResult, ChangeResult
from controller.core.change import Action, Change
from controller.core.holds import Hold, hold_tag
from controller.core.plan import Plan, compute_plan
from controller.core.state import Observed, ObservedModel, Record
from controller.render.drift import render_drift
from controller.render.reports import render_apply, render_plan

FAILED = Hold(
    "champion", 4, 3, "Failed", "errors | Failed (3/3)", "2026-12-04T10:00:00Z", True, "abc1234f"
)
INCONCLUSIVE = Hold("challenger", 5, 5, "Inconclusive", "no traffic", "2026-12-04T11:00:00Z")
URI = "sqlite:///mlflow.db"


def plan_for(declared: dict[str, int], live: dict[str, int], *holds: Hold) -> Plan:
    tags = {**Record(dict(live)).to_tags(), **{hold_tag(h.alias): h.encode() for h in holds}}
    observed = Observed({"bikes": ObservedModel.read("bikes", live, tags)})
    return compute_plan({"bikes": declared}, observed)


def text(rendered: str) -> str:
    return click.unstyle(rendered)


def test_a_plan_whose_only_change_is_kept_by_a_hold_says_why_the_alias_does_not_move() -> None:
    plan = plan_for({"champion": 4}, {"champion": 3}, FAILED)
    out = text(render_plan(plan, URI, "text"))
    assert "= bikes@champion" in out
    assert "held at 3: version 4 failed analysis, rolled back (the file names 4)" in out
    assert "Failed since 2026-12-04T10:00:00Z, commit abc1234: errors | Failed (3/3)" in out
    assert "aliasctl hold release MODEL@ALIAS --reason TEXT" in out
    assert out.splitlines()[-1] == (
        "No changes: 1 held alias kept where its hold says "
        "(the file names a version that failed analysis)."
    )
    assert "The registry matches the file" not in out


def test_plan_json_lists_each_hold_with_its_details() -> None:
    plan = plan_for(
        {"champion": 4, "challenger": 5}, {"champion": 3, "challenger": 5}, FAILED, INCONCLUSIVE
    )
    body = json.loads(render_plan(plan, URI, "json"))
    assert body["has_changes"] is False
    assert body["lifted"] == []
    assert body["holds"] == [
        {
            "model": "bikes", "alias": "challenger", "version": 5, "held_at": 5,
            "phase": "Inconclusive", "reason": "no traffic", "since": "2026-12-04T11:00:00Z",
            "rolled_back": False, "commit": None,
        },
        {
            "model": "bikes", "alias": "champion", "version": 4, "held_at": 3,
            "phase": "Failed", "reason": "errors | Failed (3/3)", "since": "2026-12-04T10:00:00Z",
            "rolled_back": True, "commit": "abc1234f",
        },
    ]  # fmt: skip


def test_plan_markdown_has_a_held_table_and_escapes_the_reason() -> None:
    plan = plan_for({"champion": 4}, {"champion": 3}, FAILED)
    out = render_plan(plan, URI, "markdown")
    assert "**Held** (kept where a hold says; the alias does not move):" in out
    assert (
        "| `bikes` | `champion` | 4 | 3 | Failed | yes | 2026-12-04T10:00:00Z | "
        "errors \\| Failed (3/3) |"
    ) in out
    assert "### aliasctl plan: No changes: 1 held alias" in out


def test_an_inconclusive_hold_in_place_says_so() -> None:
    plan = plan_for({"challenger": 5}, {"challenger": 5}, INCONCLUSIVE)
    out = text(render_plan(plan, URI, "text"))
    assert "held at 5: analysis inconclusive, kept in place (the file names 5)" in out


def test_a_plan_that_lifts_a_hold_names_it_in_every_format() -> None:
    plan = plan_for({"champion": 5}, {"champion": 3}, FAILED)
    assert plan.lifted == (("bikes", "champion"),)
    out = text(render_plan(plan, URI, "text"))
    assert "Holds lifted by the file (it names another version): bikes@champion" in out
    assert "Plan: 0 to create, 1 to update, 0 to delete. Besides: 1 hold to lift." in out
    markdown = render_plan(plan, URI, "markdown")
    assert "Holds lifted by this change (apply removes them): `bikes@champion`" in markdown
    assert json.loads(render_plan(plan, URI, "json"))["lifted"] == [
        {"model": "bikes", "alias": "champion"}
    ]


def test_the_revert_lifts_a_hold_with_no_alias_to_move() -> None:
    plan = plan_for({"champion": 3}, {"champion": 3}, FAILED)
    out = text(render_plan(plan, URI, "text"))
    assert out.splitlines()[-1] == "No changes: 1 hold to lift."


def test_apply_reports_the_holds_it_lifted_and_those_it_could_not() -> None:
    plan = plan_for({"champion": 5}, {"champion": 3}, FAILED)
    change = Change("bikes", "champion", Action.UPDATE, 3, 5)
    done = ApplyResult((ChangeResult(change),))
    out = text(render_apply(plan, done, URI, "text"))
    assert "Holds lifted: bikes@champion" in out
    assert out.splitlines()[-1] == "Apply complete: 1 applied, 1 hold lifted."
    assert json.loads(render_apply(plan, done, URI, "json"))["lifted"] == [
        {"model": "bikes", "alias": "champion"}
    ]
    stuck = ApplyResult((ChangeResult(change),), ("bikes@champion: could not lift its hold: 503",))
    body = json.loads(render_apply(plan, stuck, URI, "json"))
    assert body["lifted"] == []
    assert "Holds lifted" not in text(render_apply(plan, stuck, URI, "text"))


def test_apply_with_only_a_held_alias_says_why_nothing_moved() -> None:
    plan = plan_for({"champion": 4}, {"champion": 3}, FAILED)
    out = text(render_apply(plan, ApplyResult(()), URI, "text"))
    assert "= bikes@champion" in out
    assert out.splitlines()[-1].startswith("No changes: 1 held alias kept where its hold says")
    markdown = render_apply(plan, ApplyResult(()), URI, "markdown")
    assert "| `bikes` | `champion` | 4 | 3 | Failed |" in markdown
    assert json.loads(render_apply(plan, ApplyResult(()), URI, "json"))["holds"][0]["held_at"] == 3


def test_drift_shows_a_held_alias_as_held_not_drifted() -> None:
    plan = plan_for({"champion": 4}, {"champion": 3}, FAILED)
    out = text(render_drift(plan, URI, "text"))
    assert out.startswith("No drift:")
    assert "= bikes@champion" in out
    assert "| `bikes` | `champion` | 4 | 3 |" in render_drift(plan, URI, "markdown")
    body = json.loads(render_drift(plan, URI, "json"))
    assert body["has_drift"] is False
    assert [(h["alias"], h["version"], h["held_at"]) for h in body["holds"]] == [("champion", 4, 3)]


def test_reports_without_holds_are_unchanged() -> None:
    plan = plan_for({"champion": 3}, {"champion": 3})
    assert text(render_plan(plan, URI, "text")).splitlines()[-1] == (
        "No changes. The registry matches the file."
    )
    assert "Held" not in render_plan(plan, URI, "markdown")
    assert render_drift(plan, URI, "text") == (
        f"No drift: every managed alias is where aliasctl last set it ({URI})."
    )
