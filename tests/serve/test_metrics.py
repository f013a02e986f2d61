"""/metrics as Prometheus reads it: parsed with prometheus_client's own parser."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.serve.metrics import WEBHOOK_OUTCOMES, Metrics
from controller.serve.status import (
    AliasState,
    AliasStatus,
    CycleOutcome,
    Event,
    EventKind,
    Snapshot,
)

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
Labels = frozenset[tuple[str, str]]


def scrape(metrics: Metrics) -> dict[tuple[str, Labels], float]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(got: dict[tuple[str, Labels], float], name: str, **labels: str) -> float:
    return got[name, frozenset(labels.items())]


def names(got: dict[tuple[str, Labels], float], name: str) -> list[dict[str, str]]:
    return sorted((dict(labels) for n, labels in got if n == name), key=lambda d: sorted(d.items()))


def alias(model: str, name: str, state: AliasState) -> AliasStatus:
    return AliasStatus(model, name, 2, 1 if state is not AliasState.IN_SYNC else 2, state)


def snapshot(
    *aliases: AliasStatus,
    outcome: CycleOutcome = CycleOutcome.SUCCESS,
    at: datetime = T0,
    events: tuple[Event, ...] = (),
) -> Snapshot:
    reached = outcome is not CycleOutcome.FAILED
    return Snapshot(
        file="aliases.yaml",
        registry="http://127.0.0.1:5000",
        instance="prod",
        drift_mode="heal",
        interval_seconds=300,
        started_at=T0,
        aliases=tuple(sorted(aliases)),
        events=events,
        cycles=1,
        last_cycle_at=at,
        last_outcome=outcome,
        last_success_at=at if reached else None,
    )


FIRST = snapshot(
    alias("churn", "champion", AliasState.IN_SYNC),
    alias("churn", "challenger", AliasState.DRIFTED),
    alias("fraud", "champion", AliasState.PENDING),
)


def test_a_fresh_registry_exports_every_fixed_label_at_zero() -> None:
    got = scrape(Metrics(instance="prod", drift_mode="warn", version="9.9"))
    assert names(got, "aliasctl_alias_in_sync") == []
    for state in AliasState:
        assert value(got, "aliasctl_aliases", state=str(state)) == 0
    for result in CycleOutcome:
        assert value(got, "aliasctl_reconciles_total", result=str(result)) == 0
    for outcome in WEBHOOK_OUTCOMES:
        assert value(got, "aliasctl_webhook_deliveries_total", outcome=outcome) == 0
    for kind in EventKind:
        assert value(got, "aliasctl_events_total", kind=str(kind)) == 0
    assert value(got, "aliasctl_notifications_total", result="sent") == 0
    assert value(got, "aliasctl_notifications_total", result="failed") == 0
    assert value(got, "aliasctl_ready") == 0
    assert value(got, "aliasctl_reconcile_duration_seconds_count") == 0
    info = {"version": "9.9", "instance": "prod", "drift_mode": "warn"}
    assert value(got, "aliasctl_build_info", **info) == 1
    assert not [n for n, _ in got if n.endswith("_created")]  # no per-series creation times


def test_alias_gauges_follow_the_snapshot() -> None:
    metrics = Metrics(instance="prod", drift_mode="heal")
    metrics.observe_cycle(FIRST, 1.5)
    got = scrape(metrics)
    assert value(got, "aliasctl_alias_in_sync", model="churn", alias="champion") == 1
    assert value(got, "aliasctl_alias_in_sync", model="churn", alias="challenger") == 0
    assert value(got, "aliasctl_alias_in_sync", model="fraud", alias="champion") == 0
    assert value(got, "aliasctl_aliases", state="in_sync") == 1
    assert value(got, "aliasctl_aliases", state="drifted") == 1
    assert value(got, "aliasctl_aliases", state="pending") == 1
    assert value(got, "aliasctl_aliases", state="blocked") == 0
    assert value(got, "aliasctl_drifted_aliases") == 1
    assert value(got, "aliasctl_ready") == 1
    assert value(got, "aliasctl_reconcile_interval_seconds") == 300
    assert value(got, "aliasctl_last_success_timestamp_seconds") == T0.timestamp()
    assert value(got, "aliasctl_last_reconcile_timestamp_seconds") == T0.timestamp()
    assert value(got, "aliasctl_reconciles_total", result="success") == 1
    assert value(got, "aliasctl_reconcile_duration_seconds_count") == 1
    assert value(got, "aliasctl_reconcile_duration_seconds_sum") == 1.5
    assert value(got, "aliasctl_reconcile_duration_seconds_bucket", le="1.0") == 0
    assert value(got, "aliasctl_reconcile_duration_seconds_bucket", le="2.5") == 1


def test_an_alias_no_longer_managed_stops_reporting() -> None:
    metrics = Metrics(instance="prod", drift_mode="heal")
    metrics.observe_cycle(FIRST, 0.2)
    metrics.observe_cycle(snapshot(alias("churn", "champion", AliasState.DRIFTED)), 0.2)
    got = scrape(metrics)
    assert names(got, "aliasctl_alias_in_sync") == [{"model": "churn", "alias": "champion"}]
    assert value(got, "aliasctl_alias_in_sync", model="churn", alias="champion") == 0
    assert value(got, "aliasctl_aliases", state="pending") == 0  # states stay, at 0
    assert value(got, "aliasctl_drifted_aliases") == 1


def test_series_stay_bounded_by_the_latest_snapshot_over_many_cycles() -> None:
    metrics = Metrics(instance="prod", drift_mode="heal")
    for cycle in range(300):
        aliases = [alias(f"model{cycle}", f"a{i}", AliasState.IN_SYNC) for i in range(3)]
        metrics.observe_cycle(snapshot(*aliases), 0.1)
    got = scrape(metrics)
    assert {d["model"] for d in names(got, "aliasctl_alias_in_sync")} == {"model299"}
    assert len(names(got, "aliasctl_alias_in_sync")) == 3
    assert value(got, "aliasctl_reconciles_total", result="success") == 300


def test_a_failed_cycle_counts_and_keeps_the_last_success_time() -> None:
    metrics = Metrics(instance="prod", drift_mode="heal")
    metrics.observe_cycle(FIRST, 0.3)
    later = T0 + timedelta(minutes=5)
    failed = snapshot(outcome=CycleOutcome.FAILED, at=later)
    metrics.observe_cycle(failed, 30.0)
    metrics.observe_cycle(snapshot(outcome=CycleOutcome.BLOCKED, at=later), 0.3)
    got = scrape(metrics)
    assert value(got, "aliasctl_reconciles_total", result="success") == 1
    assert value(got, "aliasctl_reconciles_total", result="failed") == 1
    assert value(got, "aliasctl_reconciles_total", result="blocked") == 1
    assert value(got, "aliasctl_reconcile_duration_seconds_count") == 3
    assert value(got, "aliasctl_ready") == 1  # blocked by a gate still reached the registry
    assert value(got, "aliasctl_last_success_timestamp_seconds") == later.timestamp()
    metrics.observe_cycle(snapshot(outcome=CycleOutcome.FAILED, at=later + timedelta(1)), 1.0)
    got = scrape(metrics)
    assert value(got, "aliasctl_ready") == 0
    assert value(got, "aliasctl_last_success_timestamp_seconds") == later.timestamp()
    assert (
        value(got, "aliasctl_last_reconcile_timestamp_seconds")
        == (later + timedelta(1)).timestamp()
    )


def test_events_are_counted_once_though_the_snapshot_keeps_them() -> None:
    found = Event(EventKind.DRIFT_FOUND, T0, "churn", "champion", 2, 1)
    healed = Event(EventKind.DRIFT_HEALED, T0 + timedelta(seconds=1), "churn", "champion", 1, 2)
    failed = Event(EventKind.CYCLE_FAILED, T0 + timedelta(seconds=9), reason="registry down")
    metrics = Metrics(instance="prod", drift_mode="heal")
    metrics.observe_cycle(snapshot(events=(healed, found)), 0.1)
    metrics.observe_cycle(snapshot(events=(healed, found)), 0.1)  # nothing new this cycle
    metrics.observe_cycle(snapshot(events=(failed, healed, found)), 0.1)
    got = scrape(metrics)
    assert value(got, "aliasctl_events_total", kind="drift_found") == 1
    assert value(got, "aliasctl_events_total", kind="drift_healed") == 1
    assert value(got, "aliasctl_events_total", kind="cycle_failed") == 1
    assert value(got, "aliasctl_events_total", kind="alias_moved") == 0


def test_webhook_and_notification_counters_increase() -> None:
    metrics = Metrics(instance="prod", drift_mode="heal")
    metrics.webhook("accepted")
    metrics.webhook("accepted")
    metrics.webhook("bad_signature")
    metrics.notification(True)
    metrics.notification(False)
    metrics.notification(True)
    got = scrape(metrics)
    assert value(got, "aliasctl_webhook_deliveries_total", outcome="accepted") == 2
    assert value(got, "aliasctl_webhook_deliveries_total", outcome="bad_signature") == 1
    assert value(got, "aliasctl_webhook_deliveries_total", outcome="replayed") == 0
    assert value(got, "aliasctl_notifications_total", result="sent") == 2
    assert value(got, "aliasctl_notifications_total", result="failed") == 1
    with pytest.raises(ValueError, match="unknown webhook outcome 'forged'"):
        metrics.webhook("forged")


def test_each_instance_has_a_registry_of_its_own() -> None:
    one, two = Metrics(instance="a", drift_mode="heal"), Metrics(instance="b", drift_mode="heal")
    one.webhook("accepted")
    assert value(scrape(two), "aliasctl_webhook_deliveries_total", outcome="accepted") == 0
    assert [d["instance"] for d in names(scrape(two), "aliasctl_build_info")] == ["b"]
    assert "process_resident_memory_bytes" in {n for n, _ in scrape(one)}


def test_the_docs_table_lists_exactly_the_exported_metrics() -> None:
    page = (Path(__file__).parents[2] / "docs" / "serve.md").read_text()
    documented = set(re.findall(r"^\| `(aliasctl_\w+)` \|", page, flags=re.MULTILINE))
    families = text_string_to_metric_families(
        Metrics(instance="i", drift_mode="heal").render()[0].decode()
    )
    exported = {f.name + ("_total" if f.type == "counter" else "") for f in families}
    assert documented == {n for n in exported if n.startswith("aliasctl_")}


def test_a_held_alias_is_1_on_the_held_gauge_until_it_goes() -> None:
    metrics = Metrics(instance="prod", drift_mode="heal")
    held, other = (
        alias("churn", "champion", AliasState.HELD),
        alias("churn", "shadow", AliasState.IN_SYNC),
    )
    metrics.observe_cycle(snapshot(held, other), 0.2)
    got = scrape(metrics)
    assert value(got, "aliasctl_alias_held", model="churn", alias="champion") == 1
    assert value(got, "aliasctl_alias_held", model="churn", alias="shadow") == 0
    assert value(got, "aliasctl_alias_in_sync", model="churn", alias="champion") == 0
    assert value(got, "aliasctl_aliases", state="held") == 1
    metrics.observe_cycle(snapshot(alias("churn", "champion", AliasState.IN_SYNC)), 0.2)
    got = scrape(metrics)
    assert value(got, "aliasctl_alias_held", model="churn", alias="champion") == 0
    assert names(got, "aliasctl_alias_held") == [{"model": "churn", "alias": "champion"}]
    assert value(got, "aliasctl_aliases", state="held") == 0
