"""apply: per-change results, ownership records, faults that the next run converges from."""

from __future__ import annotations

import pytest

from controller.apply import apply_plan
from controller.core.change import Action, Declared
from controller.core.problem import messages
from controller.core.state import RECORD_TAG, Record, Stamp
from controller.reconcile import Options, prepare_plan
from controller.registry.mlflow.adapter import MlflowRegistry
from tests.conftest import client_for, live_aliases, seed
from tests.support.fake_registry import FakeRegistry


def reconcile(
    declared: Declared, registry: FakeRegistry | MlflowRegistry, *, allow_delete: bool = False
) -> bool:
    plan = prepare_plan(declared, registry, Options(allow_delete=allow_delete))
    assert not plan.problems
    return apply_plan(plan, declared, registry, stamp=Stamp(commit="c0ffee")).ok


def test_apply_creates_updates_and_records_ownership() -> None:
    registry = FakeRegistry.with_models({"bikes": 5}, {"bikes": {"champion": 1, "staging": 2}})
    declared = {"bikes": {"champion": 3, "challenger": 4}}
    assert reconcile(declared, registry)
    assert registry.aliases["bikes"] == {"champion": 3, "challenger": 4, "staging": 2}
    record = registry.records["bikes"]
    assert record.aliases == {"champion": 3, "challenger": 4}
    assert record.commit == "c0ffee"


def test_second_apply_is_a_no_op_without_writes() -> None:
    registry = FakeRegistry.with_models({"bikes": 5})
    declared = {"bikes": {"champion": 3}}
    assert reconcile(declared, registry)
    writes = len(registry.writes)
    plan = prepare_plan(declared, registry)
    assert not plan.has_changes
    assert apply_plan(plan, declared, registry).ok
    assert len(registry.writes) == writes


def test_alias_removed_from_file_is_deleted_and_unmanaged_left() -> None:
    registry = FakeRegistry.with_models({"bikes": 5}, {"bikes": {"staging": 2}})
    assert reconcile({"bikes": {"champion": 3, "canary": 4}}, registry)
    assert reconcile({"bikes": {"champion": 3}}, registry)
    assert registry.aliases["bikes"] == {"champion": 3, "staging": 2}
    assert registry.records["bikes"].aliases == {"champion": 3}


def test_model_removed_from_file_is_released() -> None:
    registry = FakeRegistry.with_models({"bikes": 5, "fraud": 2}, {"fraud": {"manual": 1}})
    assert reconcile({"bikes": {"champion": 3}, "fraud": {"champion": 2}}, registry)
    assert reconcile({"bikes": {"champion": 3}}, registry, allow_delete=True)
    assert registry.aliases["fraud"] == {"manual": 1}
    assert "fraud" not in registry.records


def test_model_removed_with_nothing_left_to_delete_is_released() -> None:
    """Found by tests/test_reconcile_property.py: its managed alias deleted by hand, the
    model leaving the file had no delete to make, so its record stayed, and a later
    hand-set alias of that name, on a model the file no longer names, was deleted."""
    registry = FakeRegistry.with_models({"bikes": 3, "fraud": 1})
    assert reconcile({"bikes": {"champion": 1}}, registry)
    del registry.aliases["bikes"]["champion"]  # by hand
    assert reconcile({"fraud": {}}, registry, allow_delete=True)
    assert "bikes" not in registry.records
    registry.aliases["bikes"]["champion"] = 2  # by hand: foreign now
    assert reconcile({"fraud": {}}, registry)
    assert registry.aliases["bikes"] == {"champion": 2}


def test_failed_change_is_reported_and_others_still_apply() -> None:
    registry = FakeRegistry.with_models({"bikes": 5})
    registry.failing_aliases.add(("bikes", "challenger"))
    declared = {"bikes": {"champion": 3, "challenger": 4}}
    plan = prepare_plan(declared, registry)
    result = apply_plan(plan, declared, registry)
    assert not result.ok
    assert [(r.change.alias, r.ok) for r in result.results] == [
        ("challenger", False),
        ("champion", True),
    ]
    assert registry.aliases["bikes"] == {"champion": 3}
    # Ownership of the failed create stays recorded, unconfirmed, so a retry may finish it.
    assert registry.records["bikes"].aliases == {"champion": 3, "challenger": None}


def test_unreachable_registry_stops_sending_writes() -> None:
    registry = FakeRegistry.with_models({f"m{i}": 2 for i in range(50)})
    declared = {f"m{i}": {"champion": 2} for i in range(50)}
    registry.fail_after_writes = 10
    plan = prepare_plan(declared, registry)
    result = apply_plan(plan, declared, registry, parallelism=4)
    assert not result.ok
    not_attempted = [r for r in result.failed if (r.error or "").startswith("not attempted")]
    assert len(not_attempted) >= 40 - 4


@pytest.mark.parametrize("writes_before_crash", [0, 1, 5, 17, 33, 49])
def test_apply_interrupted_anywhere_converges_on_rerun(writes_before_crash: int) -> None:
    models = {f"m{i}": 3 for i in range(8)}
    registry = FakeRegistry.with_models(models, {f"m{i}": {"champion": 1} for i in range(8)})
    declared_1 = {f"m{i}": {"champion": 2, "challenger": 3} for i in range(8)}
    assert reconcile(declared_1, registry)
    declared_2 = {f"m{i}": {"champion": 3, "canary": 1} for i in range(8)}
    before = {m: dict(a) for m, a in registry.aliases.items()}

    registry.fail_after_writes = len(registry.writes) + writes_before_crash
    plan = prepare_plan(declared_2, registry, Options(allow_delete=True))
    apply_plan(plan, declared_2, registry, parallelism=3)
    for model, aliases in registry.aliases.items():
        for alias, version in aliases.items():
            # Every alias is at its old or its new value, never anything else.
            assert version in {before[model].get(alias), declared_2[model].get(alias)}

    registry.fail_after_writes = None
    assert reconcile(declared_2, registry, allow_delete=True)
    assert registry.aliases == declared_2
    assert not prepare_plan(declared_2, registry).has_changes


def test_apply_against_sqlite_registry(sqlite_uri: str) -> None:
    seed(sqlite_uri, {"bikes": 4}, {"bikes": {"staging": 1}})
    registry = MlflowRegistry(sqlite_uri)
    assert reconcile({"bikes": {"champion": 3, "challenger": 4}}, registry)
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 3, "challenger": 4, "staging": 1}
    tags = client_for(sqlite_uri).get_registered_model("bikes").tags
    record = Record.decode(tags[RECORD_TAG])
    assert record is not None
    assert record.aliases == {"champion": 3, "challenger": 4}

    assert reconcile({"bikes": {"champion": 4}}, registry)
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 4, "staging": 1}
    assert not prepare_plan({"bikes": {"champion": 4}}, registry).has_changes


def test_preflight_finds_missing_models_and_versions_in_sqlite(sqlite_uri: str) -> None:
    client = seed(sqlite_uri, {"bikes": 2})
    client.create_registered_model("fraud")
    plan = prepare_plan(
        {"bikes": {"champion": 2, "challenger": 7}, "fraud": {"champion": 1}, "ghost": {"a": 1}},
        MlflowRegistry(sqlite_uri),
    )
    assert messages(plan.problems) == (
        "ghost: registered model does not exist",
        "bikes@challenger: version 7 does not exist",
        "fraud@champion: version 1 does not exist",
    )
    assert plan.count(Action.CREATE) == 3


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "left-the-file"])
def test_an_unreadable_record_is_a_problem_not_a_stranger(sqlite_uri: str, declared: bool) -> None:
    seed(sqlite_uri, {"bikes": 2, "taxis": 1})
    registry = MlflowRegistry(sqlite_uri)
    first: Declared = {"bikes": {"champion": 2, "shadow": 1}, "taxis": {"champion": 1}}
    assert apply_plan(prepare_plan(first, registry), first, registry).ok
    # The record is mangled (a hand edit, a bug): which aliases are aliasctl's is unknown.
    client_for(sqlite_uri).set_registered_model_tag("bikes", RECORD_TAG, '{"aliases": [')

    later: dict[str, dict[str, int]] = {"taxis": {"champion": 1}}
    if declared:
        later["bikes"] = {"champion": 2}
    plan = prepare_plan(later, MlflowRegistry(sqlite_uri))

    assert messages(plan.problems) == (
        "bikes: aliasctl's record (tag aliasctl.managed) cannot be read, so which of its "
        "aliases aliasctl owns is unknown; restore the tag, or delete it and its "
        "aliasctl.managed.* parts so that the next apply adopts what the file declares",
    )
    assert not [c for c in plan.changes if c.model == "bikes"]  # nothing released blindly
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 2, "shadow": 1}
