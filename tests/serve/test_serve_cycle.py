"""The controller's cycle and loop logic, at our own registry seam (the fake registry)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from controller.reconcile import DriftMode
from controller.registry.lock import EXPIRES_TAG, HOLDER_TAG, TOKEN_TAG, lock_name
from controller.serve.cycle import Settings, run_cycle
from controller.serve.loop import (
    ECHO_SECONDS,
    MAX_SCOPED_MODELS,
    Controller,
    Echoes,
    Work,
    WorkQueue,
)
from controller.serve.status import AliasState, CycleOutcome, Snapshot
from tests.support.fake_registry import FakeRegistry
from tests.support.gitrepo import GitRepo

if TYPE_CHECKING:
    from pathlib import Path

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SPEC = """\
models:
  bikes:
    aliases:
      champion: 2
      challenger: 3
  taxis:
    aliases:
      champion: 1
"""


def settings(file: Path, drift: DriftMode = DriftMode.HEAL) -> Settings:
    return Settings(file=file, instance="default", drift=drift, interval_seconds=300)


def empty(file: Path) -> Snapshot:
    return Snapshot(
        file=str(file),
        registry="fake://registry",
        instance="default",
        drift_mode="heal",
        interval_seconds=300,
        started_at=NOW,
    )


def states(snapshot: Snapshot) -> dict[str, tuple[AliasState, int | None]]:
    return {a.key: (a.state, a.live) for a in snapshot.aliases}


def kinds(events: tuple[object, ...]) -> list[tuple[str, str | None]]:
    return [(str(e.kind), e.model and f"{e.model}@{e.alias}") for e in events]  # type: ignore[attr-defined]


def test_first_cycle_applies_the_file_and_reports_each_move(tmp_path: Path) -> None:
    file = tmp_path / "aliases.yaml"
    file.write_text(SPEC)
    fake = FakeRegistry.with_models({"bikes": 3, "taxis": 1})
    report = run_cycle(settings(file), fake, empty(file), None, NOW)
    assert report.snapshot.last_outcome is CycleOutcome.SUCCESS
    assert fake.aliases == {"bikes": {"champion": 2, "challenger": 3}, "taxis": {"champion": 1}}
    assert all(state is AliasState.IN_SYNC for state, _ in states(report.snapshot).values())
    assert sorted(kinds(report.events)) == [
        ("alias_moved", "bikes@challenger"),
        ("alias_moved", "bikes@champion"),
        ("alias_moved", "taxis@champion"),
    ]
    assert fake.records["bikes"].source["controller"] == "serve"
    assert report.snapshot.ready


def test_drift_is_found_and_healed_once_each(tmp_path: Path) -> None:
    file = tmp_path / "aliases.yaml"
    file.write_text(SPEC)
    fake = FakeRegistry.with_models({"bikes": 3, "taxis": 1})
    first = run_cycle(settings(file), fake, empty(file), None, NOW).snapshot
    fake.aliases["bikes"]["champion"] = 1  # moved by hand in the UI
    report = run_cycle(settings(file), fake, first, None, NOW)
    assert fake.aliases["bikes"]["champion"] == 2
    assert kinds(report.events) == [
        ("drift_found", "bikes@champion"),
        ("drift_healed", "bikes@champion"),
    ]
    found, healed = report.events
    assert (found.before, found.after) == (2, 1)
    assert (healed.before, healed.after) == (1, 2)
    again = run_cycle(settings(file), fake, report.snapshot, None, NOW)
    assert again.events == ()


def test_warn_mode_reports_a_lasting_drift_once_and_leaves_it(tmp_path: Path) -> None:
    file = tmp_path / "aliases.yaml"
    file.write_text(SPEC)
    fake = FakeRegistry.with_models({"bikes": 3, "taxis": 1})
    first = run_cycle(settings(file), fake, empty(file), None, NOW).snapshot
    fake.aliases["bikes"]["champion"] = 1
    warn = settings(file, DriftMode.WARN)
    report = run_cycle(warn, fake, first, None, NOW)
    assert fake.aliases["bikes"]["champion"] == 1
    assert kinds(report.events) == [("drift_found", "bikes@champion")]
    assert states(report.snapshot)["bikes@champion"] == (AliasState.DRIFTED, 1)
    assert run_cycle(warn, fake, report.snapshot, None, NOW).events == ()
    fake.aliases["bikes"]["champion"] = 3  # moved again: a new condition, reported again
    moved = run_cycle(warn, fake, report.snapshot, None, NOW)
    assert kinds(moved.events) == [("drift_found", "bikes@champion")]


def test_a_blocked_promotion_never_stops_drift_from_being_healed(tmp_path: Path) -> None:
    file = tmp_path / "aliases.yaml"
    file.write_text(SPEC)
    fake = FakeRegistry.with_models({"bikes": 3, "taxis": 2})
    first = run_cycle(settings(file), fake, empty(file), None, NOW).snapshot
    fake.aliases["bikes"]["champion"] = 1  # drift
    file.write_text(
        SPEC.replace("champion: 1", "champion: 2")
        + "freezes:\n  - name: year-end\n    from: 2026-11-20T00:00\n    to: 2026-12-01T00:00\n"
    )
    report = run_cycle(settings(file), fake, first, None, NOW)
    assert fake.aliases["bikes"]["champion"] == 2  # healed
    assert fake.aliases["taxis"]["champion"] == 1  # the promotion waits for the freeze
    assert report.snapshot.last_outcome is CycleOutcome.BLOCKED
    state, live = states(report.snapshot)["taxis@champion"]
    assert (state, live) == (AliasState.BLOCKED, 1)
    assert any("year-end" in p.text for p in report.snapshot.problems)
    assert fake.records["taxis"].aliases["champion"] == 1  # the record does not claim it


def test_a_hand_move_never_carries_a_held_back_promotion_past_a_freeze(tmp_path: Path) -> None:
    file = tmp_path / "aliases.yaml"
    file.write_text(SPEC)
    fake = FakeRegistry.with_models({"bikes": 3, "taxis": 3})
    first = run_cycle(settings(file), fake, empty(file), None, NOW).snapshot
    file.write_text(
        SPEC.replace("champion: 1", "champion: 3")
        + "freezes:\n  - name: year-end\n    from: 2026-11-20T00:00\n    to: 2026-12-01T00:00\n"
    )
    held = run_cycle(settings(file), fake, first, None, NOW)
    assert fake.aliases["taxis"]["champion"] == 1  # the promotion waits for the freeze
    fake.aliases["taxis"]["champion"] = 2  # then someone moves it by hand

    report = run_cycle(settings(file), fake, held.snapshot, None, NOW)
    # Moving it to 3 would be the promotion, not a heal: it still waits for the freeze.
    assert fake.aliases["taxis"]["champion"] == 2
    assert states(report.snapshot)["taxis@champion"] == (AliasState.BLOCKED, 2)
    assert kinds(report.events) == [("drift_found", "taxis@champion")]
    assert fake.records["taxis"].aliases["champion"] == 1


def test_an_invalid_file_fails_the_cycle_once_and_recovery_follows(tmp_path: Path) -> None:
    file = tmp_path / "aliases.yaml"
    file.write_text(SPEC)
    fake = FakeRegistry.with_models({"bikes": 3, "taxis": 1})
    good = run_cycle(settings(file), fake, empty(file), None, NOW).snapshot
    file.write_text("models:\n  bikes:\n    aliases:\n      champion: two\n")
    bad = run_cycle(settings(file), fake, good, None, NOW)
    assert bad.snapshot.last_outcome is CycleOutcome.FAILED
    assert not bad.snapshot.ready
    assert "aliases.yaml" in bad.snapshot.last_error
    assert kinds(bad.events) == [("cycle_failed", None)]
    assert bad.snapshot.aliases == good.aliases  # the last known state stays on the page
    still_bad = run_cycle(settings(file), fake, bad.snapshot, None, NOW)
    assert still_bad.events == ()
    file.write_text(SPEC)
    recovered = run_cycle(settings(file), fake, still_bad.snapshot, None, NOW)
    assert recovered.snapshot.ready
    assert recovered.snapshot.last_error == ""
    assert kinds(recovered.events) == [("cycle_recovered", None)]
    assert "aliases.yaml" in recovered.events[0].reason  # the all-clear names what it clears
    assert run_cycle(settings(file), fake, recovered.snapshot, None, NOW).events == ()


def test_failed_writes_fail_the_cycle_and_leave_the_alias_pending(tmp_path: Path) -> None:
    file = tmp_path / "aliases.yaml"
    file.write_text(SPEC)
    fake = FakeRegistry.with_models({"bikes": 3, "taxis": 1})
    fake.failing_aliases = {("taxis", "champion")}
    report = run_cycle(settings(file), fake, empty(file), None, NOW)
    assert report.snapshot.last_outcome is CycleOutcome.FAILED
    assert "taxis@champion" in report.snapshot.last_error
    assert states(report.snapshot)["taxis@champion"] == (AliasState.PENDING, None)
    assert states(report.snapshot)["bikes@champion"] == (AliasState.IN_SYNC, 2)


def test_a_scoped_cycle_reads_and_changes_only_its_models(tmp_path: Path) -> None:
    file = tmp_path / "aliases.yaml"
    file.write_text(SPEC)
    fake = FakeRegistry.with_models({"bikes": 3, "taxis": 1})
    first = run_cycle(settings(file), fake, empty(file), None, NOW).snapshot
    fake.aliases["bikes"]["champion"] = 1
    fake.aliases["taxis"]["champion"] = 1  # not drift: unchanged
    fake.aliases["taxis"]["shadow"] = 1  # unmanaged: listed by the plan, untouched
    report = run_cycle(settings(file), fake, first, frozenset({"taxis"}), NOW)
    assert fake.aliases["bikes"]["champion"] == 1  # out of scope: left for its own event
    assert report.events == ()
    assert {a.key for a in report.snapshot.aliases} == {a.key for a in first.aliases}
    healed = run_cycle(settings(file), fake, report.snapshot, frozenset({"bikes"}), NOW)
    assert fake.aliases["bikes"]["champion"] == 2
    assert kinds(healed.events)[-1] == ("drift_healed", "bikes@champion")


def test_a_model_leaving_the_file_is_released_by_a_scoped_cycle(tmp_path: Path) -> None:
    file = tmp_path / "aliases.yaml"
    file.write_text(SPEC)
    fake = FakeRegistry.with_models({"bikes": 3, "taxis": 1})
    first = run_cycle(settings(file), fake, empty(file), None, NOW).snapshot
    file.write_text(SPEC.split("  taxis:", maxsplit=1)[0] + "removals: [taxis@champion]\n")
    report = run_cycle(settings(file), fake, first, frozenset({"taxis"}), NOW)
    assert fake.aliases["taxis"] == {}
    assert "taxis" not in fake.records
    assert "taxis@champion" not in {a.key for a in report.snapshot.aliases}


def test_a_held_lock_makes_the_cycle_wait_not_fail(tmp_path: Path) -> None:
    file = tmp_path / "aliases.yaml"
    file.write_text(SPEC)
    fake = FakeRegistry.with_models({"bikes": 3, "taxis": 1})
    name = lock_name(fake, "default", ["bikes", "taxis"])
    fake.state_models[name] = {  # a CI apply on another host, its lease far from over
        TOKEN_TAG: "ci-token",
        HOLDER_TAG: json.dumps({"host": "ci-runner", "user": "ci", "pid": "1"}),
        EXPIRES_TAG: "32503680000",
    }
    quick = Settings(file, "default", DriftMode.HEAL, 300, lock_timeout=0)
    report = run_cycle(quick, fake, empty(file), None, NOW)
    assert report.lock_busy
    assert report.snapshot.last_outcome is CycleOutcome.BLOCKED
    assert fake.aliases["bikes"] == {}
    assert states(report.snapshot)["bikes@champion"] == (AliasState.PENDING, None)


def test_a_burst_of_webhooks_is_one_scoped_reconcile() -> None:
    now = [100.0]
    queue = WorkQueue(debounce_seconds=2, clock=lambda: now[0])
    for model in ["bikes", "taxis", "bikes"]:
        queue.request(model)
    now[0] = 102.5
    work = queue.next(full_due_at=1000)
    assert work is not None
    assert work.scope == frozenset({"bikes", "taxis"})
    now[0] = 1000.0
    full = queue.next(full_due_at=1000)
    assert full is not None
    assert full.scope is None


def test_a_queue_keeps_what_alias_events_reported_until_another_event_names_the_model() -> None:
    now = [100.0]
    queue = WorkQueue(debounce_seconds=2, clock=lambda: now[0])
    queue.request("bikes", ("champion", 2))
    queue.request("bikes", ("challenger", 3))
    queue.request("taxis", ("champion", 1))
    queue.request("taxis")  # a delete, or a new version: taxis is reconciled whatever came before
    queue.request("taxis", ("champion", 1))
    now[0] = 102.5
    work = queue.next(full_due_at=1000)
    assert work is not None
    assert work.scope == frozenset({"bikes", "taxis"})
    assert work.sightings == {"bikes": frozenset({("champion", 2), ("challenger", 3)})}


def test_a_webhook_naming_a_managed_alias_locks_first_and_others_read_first() -> None:
    """Likely drift takes the lock before its one read; a new version or an alias aliasctl
    does not manage mostly finds nothing to do: one read, and the lock only for work."""
    managed = {("bikes", "champion"), ("bikes", "challenger")}
    now = [100.0]
    queue = WorkQueue(debounce_seconds=1, clock=lambda: now[0])

    def work(*events: tuple[str, tuple[str, int | None] | None]) -> Work:
        for model, seen in events:
            queue.request(model, seen)
        now[0] += 2
        taken = queue.next(full_due_at=float("inf"))
        assert taken is not None
        return taken

    assert work(("bikes", ("champion", 1))).names_managed_alias(managed)
    assert work(("bikes", ("challenger", None))).names_managed_alias(managed)  # deleted
    assert not work(("bikes", ("staging", 4))).names_managed_alias(managed)
    assert not work(("bikes", None)).names_managed_alias(managed)  # a new version
    assert not work(("taxis", ("champion", 1))).names_managed_alias(managed)


def _echo_work(*seen: tuple[str, str, int]) -> Work:
    sightings: dict[str, set[tuple[str, int]]] = {}
    for model, alias, version in seen:
        sightings.setdefault(model, set()).add((alias, version))
    return Work(frozenset(sightings), sightings={m: frozenset(s) for m, s in sightings.items()})


def test_a_webhook_that_echoes_our_own_write_starts_no_reconcile(tmp_path: Path) -> None:
    file = tmp_path / "aliases.yaml"
    file.write_text(SPEC)
    fake = FakeRegistry.with_models({"bikes": 3, "taxis": 1})
    first = run_cycle(settings(file), fake, empty(file), None, NOW)
    assert sorted(first.written) == [
        ("bikes", "challenger", 3),
        ("bikes", "champion", 2),
        ("taxis", "champion", 1),
    ]
    clock = [0.0]
    echoes = Echoes(clock=lambda: clock[0])
    echoes.remember(None, first.written)
    # MLflow's events about the three writes: nothing to reconcile.
    assert (
        echoes.take(_echo_work(("bikes", "champion", 2), ("bikes", "challenger", 3))) == frozenset()
    )
    # Each echo is taken once: the same report again is someone's write (a re-set by hand).
    assert echoes.take(_echo_work(("bikes", "champion", 2))) == frozenset({"bikes"})

    fake.aliases["bikes"]["champion"] = 1  # by hand; its event reports version 1
    assert echoes.take(_echo_work(("taxis", "champion", 1), ("bikes", "champion", 1))) == frozenset(
        {"bikes"}
    )
    healed = run_cycle(settings(file), fake, first.snapshot, frozenset({"bikes"}), NOW)
    assert healed.written == (("bikes", "champion", 2),)
    echoes.remember(frozenset({"bikes"}), healed.written)
    assert echoes.take(_echo_work(("bikes", "champion", 2))) == frozenset()  # the heal's echo


def test_an_echo_counts_only_while_our_write_is_the_last_word_on_its_model() -> None:
    clock = [0.0]
    echoes = Echoes(clock=lambda: clock[0])
    ours = (("bikes", "champion", 2), ("taxis", "champion", 1))
    echoes.remember(None, ours)
    # A cycle over bikes that set nothing makes our write history: its echo reconciles.
    echoes.remember(frozenset({"bikes"}), ())
    assert echoes.take(_echo_work(("bikes", "champion", 2))) == frozenset({"bikes"})
    echoes.remember(None, ours)
    echoes.forget({"taxis"})  # an analysis acted on taxis (a rollback moves its alias)
    assert echoes.take(_echo_work(("taxis", "champion", 1))) == frozenset({"taxis"})
    echoes.remember(None, ours)
    clock[0] = ECHO_SECONDS + 1  # a delivery that never came: the write is old news
    assert echoes.take(_echo_work(("bikes", "champion", 2))) == frozenset({"bikes"})
    # A model named by any other event is reconciled whatever its alias events said.
    echoes.remember(None, ours)
    assert echoes.take(Work(frozenset({"taxis"}))) == frozenset({"taxis"})
    assert echoes.take(Work(None)) is None


def test_a_flood_of_models_becomes_one_full_reconcile() -> None:
    queue = WorkQueue(debounce_seconds=60)
    for index in range(MAX_SCOPED_MODELS + 1):
        queue.request(f"m{index}")
    work = queue.next(full_due_at=float("inf"))
    assert work is not None
    assert work.scope is None
    assert queue.pending() == 0


def test_stop_wakes_a_waiting_loop() -> None:
    queue = WorkQueue(debounce_seconds=1)
    results: list[object] = []
    waiter = threading.Thread(target=lambda: results.append(queue.next(float("inf"))))
    waiter.start()
    queue.stop()
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert results == [None]


def test_the_controller_backs_off_after_failures_and_resets_on_success(tmp_path: Path) -> None:
    file = tmp_path / "aliases.yaml"
    file.write_text("not: [valid")
    fake = FakeRegistry.with_models({"bikes": 3, "taxis": 1})
    controller = Controller(
        settings(file),
        fake,
        debounce_seconds=1,
        wall_clock=lambda: NOW,
    )
    delays = []
    for _ in range(3):
        report = controller.run_once(None)
        delays.append(controller._delay(report))
    assert delays == [5.0, 10.0, 20.0]
    file.write_text(SPEC)
    report = controller.run_once(None)
    assert controller._delay(report) == 300
    assert controller.snapshot.ready


def test_pull_brings_in_a_merged_change_and_a_failed_pull_fails_the_cycle(
    repo: GitRepo, tmp_path: Path
) -> None:
    """`--pull` on a VM: the checkout follows its remote fast-forward; a broken remote is named."""
    repo.write("aliases.yaml", SPEC)
    repo.commit("start")
    checkout = GitRepo(tmp_path / "checkout")
    repo.git("clone", "--quiet", str(repo.root), str(checkout.root))
    file = checkout.path("aliases.yaml")
    fake = FakeRegistry.with_models({"bikes": 3, "taxis": 1})
    pulling = Settings(file, "default", DriftMode.HEAL, 300, pull=True)
    first = run_cycle(pulling, fake, empty(file), None, NOW)
    assert first.snapshot.commit == repo.head()
    repo.write("aliases.yaml", SPEC.replace("champion: 2", "champion: 3"))
    merged = repo.commit("promote bikes v3")
    report = run_cycle(pulling, fake, first.snapshot, None, NOW)
    assert fake.aliases["bikes"]["champion"] == 3
    assert report.snapshot.commit == merged
    assert fake.records["bikes"].commit == merged
    checkout.git("remote", "set-url", "origin", "https://user:s3cret@127.0.0.1:9/gone.git")
    failed = run_cycle(pulling, fake, report.snapshot, None, NOW)
    assert failed.snapshot.last_outcome is CycleOutcome.FAILED
    assert failed.snapshot.last_error.startswith("git pull --ff-only failed")
    assert "s3cret" not in failed.snapshot.last_error


def test_the_status_json_holds_every_alias_event_and_count() -> None:
    from tests.support.page_samples import realistic  # noqa: PLC0415

    snapshot = realistic()
    report = json.loads(json.dumps(snapshot.to_json()))  # plain JSON all the way down
    assert [(a["model"], a["alias"], a["state"]) for a in report["aliases"]] == [
        (a.model, a.alias, str(a.state)) for a in snapshot.aliases
    ]
    assert sum(report["counts"].values()) == len(snapshot.aliases)
    assert report["last_cycle"]["outcome"] == str(snapshot.last_outcome)
    assert [e["kind"] for e in report["events"]] == [str(e.kind) for e in snapshot.events]
    assert report["ready"] is snapshot.ready


def test_a_scoped_cycle_takes_the_same_lock_as_apply_on_unity_catalog(tmp_path: Path) -> None:
    """The lock sits beside the file's first model: a webhook for another schema's model
    must still wait for it, not lock a model of its own beside that schema."""
    file = tmp_path / "aliases.yaml"
    file.write_text(
        "models:\n  main.a.bikes:\n    aliases:\n      champion: 1\n"
        "  main.b.taxis:\n    aliases:\n      champion: 1\n"
    )
    fake = FakeRegistry.with_models({"main.a.bikes": 1, "main.b.taxis": 1})
    fake.display_uri = "databricks-uc"
    name = lock_name(fake, "default", ["main.a.bikes", "main.b.taxis"])
    assert name == "main.a.aliasctl_lock_default"
    fake.state_models[name] = {  # CI's apply holds it
        TOKEN_TAG: "ci-token",
        HOLDER_TAG: json.dumps({"host": "ci-runner", "user": "ci", "pid": "1"}),
        EXPIRES_TAG: "32503680000",
    }
    quick = Settings(file, "default", DriftMode.HEAL, 300, lock_timeout=0)
    report = run_cycle(quick, fake, empty(file), frozenset({"main.b.taxis"}), NOW)
    assert report.lock_busy
    assert fake.aliases["main.b.taxis"] == {}


def test_serve_in_an_environment_takes_apply_s_lock_while_a_model_waits_for_its_copy(
    tmp_path: Path,
) -> None:
    """main.a.bikes waits for its first copy: the lock still sits beside it, as `apply
    staging.yaml prod.yaml` names it, not beside the next model."""
    from controller.serve.desired import ServedEnvironment  # noqa: PLC0415

    staging, prod = tmp_path / "staging.yaml", tmp_path / "prod.yaml"
    staging.write_text("environment: {name: staging}\nmodels:\n  main.s.bikes:\n"
                       "    aliases: {champion: 1}\n")  # fmt: skip
    prod.write_text(
        "environment: {name: prod}\nmodels:\n"
        "  main.a.bikes:\n    aliases:\n      champion: {from: staging, model: main.s.bikes, "
        "alias: champion}\n  main.b.taxis:\n    aliases:\n      champion: 1\n"
    )
    fake = FakeRegistry.with_models({"main.s.bikes": 1, "main.b.taxis": 1})
    fake.display_uri = "databricks-uc"
    name = lock_name(fake, "prod", ["main.a.bikes", "main.b.taxis"])  # as apply names it
    fake.state_models[name] = {  # CI's apply holds it
        TOKEN_TAG: "ci-token",
        HOLDER_TAG: json.dumps({"host": "ci-runner", "user": "ci", "pid": "1"}),
        EXPIRES_TAG: "32503680000",
    }
    served = ServedEnvironment((staging, prod), "prod", lambda _uri, _instance: fake)
    quick = Settings(prod, "prod", DriftMode.HEAL, 300, lock_timeout=0, served=served)

    report = run_cycle(quick, fake, empty(prod), None, NOW)

    assert report.lock_busy  # it waited for CI's lock, not one of its own beside main.b
    assert fake.aliases["main.b.taxis"] == {}
    assert "main.a.bikes" not in fake.versions  # nothing copied without the lock
