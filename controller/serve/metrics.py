"""Prometheus metrics of `aliasctl serve`, in a registry of their own.

Names follow Prometheus' conventions (application prefix, base units, `_total` on
counters, `_timestamp_seconds` for times, `_info` for build facts):

  aliasctl_alias_in_sync{model,alias}          gauge    1 in sync, 0 drifted, pending, blocked, held
  aliasctl_alias_held{model,alias}             gauge    1 held after a failed analysis, else 0
  aliasctl_aliases{state}                      gauge    managed aliases per AliasState (all states)
  aliasctl_drifted_aliases                     gauge    aliases moved outside aliasctl
  aliasctl_reconciles_total{result}            counter  cycles by CycleOutcome
  aliasctl_reconcile_duration_seconds          histogram  one cycle, 0.05 s .. 10 min buckets
  aliasctl_last_reconcile_timestamp_seconds    gauge    end of the last cycle, any result
  aliasctl_last_success_timestamp_seconds      gauge    end of the last successful cycle
  aliasctl_ready                               gauge    1 when /readyz answers 200
  aliasctl_reconcile_interval_seconds          gauge    --interval (for "no success in 3 intervals")
  aliasctl_webhook_deliveries_total{outcome}   counter  MLflow deliveries by what became of them
  aliasctl_notifications_total{result}         counter  notifications per URL: sent or failed
  aliasctl_events_total{kind}                  counter  events by EventKind
  aliasctl_build_info{version,instance,drift_mode}  gauge  always 1

The per-alias gauges keep only the label sets of the latest snapshot: an alias that
stops being managed is removed, so dead aliases never report and memory stays
bounded by the file. Every other label value is fixed and exported from the start
(at 0), so `increase()` sees the first event of a kind too.
"""

from __future__ import annotations

import threading
from importlib import metadata
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import Metric

from controller.serve.status import AliasState, CycleOutcome, EventKind

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from controller.serve.status import Event, Snapshot

WEBHOOK_OUTCOMES = ("accepted", "bad_signature", "stale", "replayed", "ignored", "invalid")
NOTIFICATION_RESULTS = ("sent", "failed")
# From a no-op cycle on a local registry (tens of ms) to a slow full apply (minutes).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


def _aliasctl_version() -> str:
    try:
        return metadata.version("aliasctl")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class Metrics:
    """The controller's metrics; `render()` is what GET /metrics returns.

    `observe_cycle` runs on the reconcile thread and `render` on HTTP threads: one
    lock makes a scrape see a whole cycle, never half of one.
    """

    def __init__(self, *, instance: str, drift_mode: str, version: str | None = None) -> None:
        self.registry = CollectorRegistry()
        self._lock = threading.Lock()
        self._in_sync_keys: set[tuple[str, str]] = set()
        self._newest_event: Event | None = None
        r = self.registry
        # process_resident_memory_bytes and friends: the operator's check that memory stays flat.
        ProcessCollector(registry=r)
        self._alias_in_sync = Gauge(
            "aliasctl_alias_in_sync",
            "1 when the alias points where the file says (in sync), else 0.",
            ["model", "alias"],
            registry=r,
        )
        self._alias_held = Gauge(
            "aliasctl_alias_held",
            "1 when a hold keeps the alias off the version the file names (failed analysis).",
            ["model", "alias"],
            registry=r,
        )
        self._aliases = Gauge(
            "aliasctl_aliases", "Managed aliases by state.", ["state"], registry=r
        )
        self._drifted = Gauge(
            "aliasctl_drifted_aliases", "Aliases moved outside aliasctl.", registry=r
        )
        self._reconciles = Counter(
            "aliasctl_reconciles_total", "Reconcile cycles by result.", ["result"], registry=r
        )
        self._duration = Histogram(
            "aliasctl_reconcile_duration_seconds",
            "Time one reconcile cycle took.",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self._last_reconcile = Gauge(
            "aliasctl_last_reconcile_timestamp_seconds",
            "Unix time the last cycle ended, whatever its result.",
            registry=r,
        )
        self._last_success = Gauge(
            "aliasctl_last_success_timestamp_seconds",
            "Unix time the last successful cycle ended (0 before the first).",
            registry=r,
        )
        self._interval = Gauge(
            "aliasctl_reconcile_interval_seconds",
            "Seconds between periodic reconciles (--interval).",
            registry=r,
        )
        self._ready = Gauge(
            "aliasctl_ready", "1 when the last cycle reached the registry.", registry=r
        )
        self._webhooks = Counter(
            "aliasctl_webhook_deliveries_total",
            "MLflow webhook deliveries by outcome.",
            ["outcome"],
            registry=r,
        )
        self._notifications = Counter(
            "aliasctl_notifications_total",
            "Notifications by result, one per event and URL after retries.",
            ["result"],
            registry=r,
        )
        self._events = Counter(
            "aliasctl_events_total",
            "Events emitted by the controller, by kind.",
            ["kind"],
            registry=r,
        )
        build = Gauge(
            "aliasctl_build_info",
            "Always 1; the labels say which aliasctl runs, for which instance, in which mode.",
            ["version", "instance", "drift_mode"],
            registry=r,
        )
        build.labels(version or _aliasctl_version(), instance, drift_mode).set(1)
        for state in AliasState:
            self._aliases.labels(str(state)).set(0)
        for result in CycleOutcome:
            self._reconciles.labels(str(result))
        for outcome in WEBHOOK_OUTCOMES:
            self._webhooks.labels(outcome)
        for ok in NOTIFICATION_RESULTS:
            self._notifications.labels(ok)
        for kind in EventKind:
            self._events.labels(str(kind))

    def observe_cycle(self, snapshot: Snapshot, duration_seconds: float) -> None:
        """Record the cycle that produced `snapshot` (call once per cycle)."""
        with self._lock:
            self._set_aliases(snapshot)
            if snapshot.last_outcome is not None:
                self._reconciles.labels(str(snapshot.last_outcome)).inc()
            self._duration.observe(max(duration_seconds, 0.0))
            if snapshot.last_cycle_at is not None:
                self._last_reconcile.set(snapshot.last_cycle_at.timestamp())
            if snapshot.last_success_at is not None:
                self._last_success.set(snapshot.last_success_at.timestamp())
            self._ready.set(1 if snapshot.ready else 0)
            self._interval.set(snapshot.interval_seconds)
            for event in self._new_events(snapshot.events):
                self._events.labels(str(event.kind)).inc()

    def webhook(self, outcome: str) -> None:
        """Count one MLflow delivery; `outcome` is one of WEBHOOK_OUTCOMES."""
        if outcome not in WEBHOOK_OUTCOMES:
            raise ValueError(f"unknown webhook outcome {outcome!r}")
        self._webhooks.labels(outcome).inc()

    def notification(self, ok: bool) -> None:
        """Count one notification's final result (the Notifier's `on_result`)."""
        self._notifications.labels("sent" if ok else "failed").inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its Content-Type."""
        with self._lock:
            return generate_latest(_WithoutCreated(self.registry)), CONTENT_TYPE_LATEST

    def _set_aliases(self, snapshot: Snapshot) -> None:
        keys = {(a.model, a.alias) for a in snapshot.aliases}
        for model, alias in self._in_sync_keys - keys:
            self._alias_in_sync.remove(model, alias)
            self._alias_held.remove(model, alias)
        self._in_sync_keys = keys
        for a in snapshot.aliases:
            self._alias_in_sync.labels(a.model, a.alias).set(
                1 if a.state is AliasState.IN_SYNC else 0
            )
            self._alias_held.labels(a.model, a.alias).set(1 if a.state is AliasState.HELD else 0)
        for state in AliasState:
            self._aliases.labels(str(state)).set(snapshot.count(state))
        self._drifted.set(snapshot.count(AliasState.DRIFTED))

    def _new_events(self, events: Sequence[Event]) -> Sequence[Event]:
        """The events this cycle added: Snapshot.events is a window, newest first, that
        carries older events over, so only those before last cycle's newest are new."""
        previous = self._newest_event
        if events:
            self._newest_event = events[0]
        if previous is None:
            return events
        for i, event in enumerate(events):
            if event == previous:
                return events[:i]
        return events  # the window rolled past it: everything in it is new


class _WithoutCreated:
    """The registry minus the `*_created` series prometheus_client adds to every counter
    and histogram: they double the page and no rule uses them. Filtered here, because
    prometheus_client's own switch is process-wide."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        for family in self._registry.collect():
            if family.type in {"counter", "histogram"}:
                kept = Metric(family.name, family.documentation, family.type, family.unit)
                kept.samples = [s for s in family.samples if not s.name.endswith("_created")]
                yield kept
            else:
                yield family
