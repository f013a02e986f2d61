"""The controller loop: when to reconcile, and what.

A full reconcile every interval; a webhook asks for one model, and a burst of
events is debounced into one reconcile of the models they named. An alias event
that only reports a write this controller made itself (MLflow sends one for each)
starts no reconcile. A failed cycle is retried with backoff (5 s, 10 s, ... up to
the interval), so the controller recovers by itself once the registry is back.
Stopping lets the current write finish and then ends the loop: never half an apply.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from controller.serve.analysis import analysis_pass
from controller.serve.cycle import CycleReport, Settings, run_cycle
from controller.serve.status import CycleOutcome, Snapshot

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Mapping

    from controller.registry.seam import Registry
    from controller.serve.status import Event
    from controller.serve.webhook_support import WebhookSupport

log = logging.getLogger("aliasctl.serve")

# More models than this waiting from webhooks: one full reconcile is cheaper than naming them.
MAX_SCOPED_MODELS = 200
FIRST_RETRY_SECONDS = 5.0
LOCK_RETRY_SECONDS = 15.0
MAX_WAIT_SECONDS = 3600.0  # Condition.wait refuses huge timeouts; waking hourly costs nothing
# How long a write of ours waits for its echo: MLflow delivers within seconds, retrying a
# failed delivery 3 times with backoff, each try bounded by 30 s.
ECHO_SECONDS = 300.0

# An alias event as a webhook reports it: (alias, the version set; None: deleted).
Sighting = tuple[str, int | None]


@dataclass(frozen=True)
class Work:
    scope: frozenset[str] | None  # None: the whole file
    analysis_only: bool = False  # a measurement is due: no reconcile, only an analysis pass
    # Models of the scope named only by alias events, with what each event reported.
    sightings: Mapping[str, frozenset[Sighting]] = field(default_factory=dict)

    def names_managed_alias(self, managed: Collection[tuple[str, str]]) -> bool:
        """Whether an alias event named one of these (model, alias): likely drift to heal."""
        return any((m, a) in managed for m, seen in self.sightings.items() for a, _ in seen)


class WorkQueue:
    """Models named by webhooks, debounced; full reconciles when due; the stop request."""

    def __init__(self, debounce_seconds: float, clock: Callable[[], float] = time.monotonic):
        self._debounce = debounce_seconds
        self._clock = clock
        self._changed = threading.Condition()
        # Model -> the alias sets its events reported; None once any other event named it.
        self._models: dict[str, set[Sighting] | None] = {}
        self._first_at: float | None = None  # when the oldest waiting model arrived
        self._full = False
        self._stopped = False

    def request(self, model: str | None = None, seen: Sighting | None = None) -> None:
        """Ask for a reconcile of `model`, or of everything (None); `seen`: the event was
        about that alias, set to that version (perhaps our own write coming back) or
        deleted (None)."""
        with self._changed:
            if model is None:
                self._full = True
            else:
                known = self._models.get(model, set())
                if seen is None or known is None:
                    self._models[model] = None
                else:
                    self._models[model] = known | {seen}
                if self._first_at is None:
                    self._first_at = self._clock()
            self._changed.notify()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def pending(self) -> int:
        with self._changed:
            return len(self._models) + int(self._full)

    def next(self, full_due_at: float, analysis_due_at: float | None = None) -> Work | None:
        """Block until there is work; None once stopped."""
        with self._changed:
            while True:
                if self._stopped:
                    return None
                now = self._clock()
                if self._full or now >= full_due_at or len(self._models) > MAX_SCOPED_MODELS:
                    self._full, self._models, self._first_at = False, {}, None
                    return Work(None)
                if self._first_at is not None and now >= self._first_at + self._debounce:
                    scope = frozenset(self._models)
                    seen = {m: frozenset(s) for m, s in self._models.items() if s is not None}
                    self._models, self._first_at = {}, None
                    return Work(scope, sightings=seen)
                if analysis_due_at is not None and now >= analysis_due_at:
                    return Work(None, analysis_only=True)
                wake = full_due_at
                if self._first_at is not None:
                    wake = min(wake, self._first_at + self._debounce)
                if analysis_due_at is not None:
                    wake = min(wake, analysis_due_at)
                self._changed.wait(min(max(0.0, wake - now), MAX_WAIT_SECONDS))


class Echoes:
    """The aliases our cycles set, until MLflow's webhook about each write comes back.

    MLflow sends `model_version_alias.created` for every alias write, ours too: without
    this, each heal or promotion would start a second reconcile that finds nothing to do.
    Only an event reporting exactly what our last cycle on that model set is an echo, and
    each is taken once: a hand move elsewhere, a delete, a new version or a file change
    always reconciles, and so does anything after a write of ours was made history (a
    later cycle or analysis on the model, or ECHO_SECONDS). Skipping never writes: the
    worst a lost race costs is a heal left to the next full reconcile.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # (model, alias) -> the version our last cycle set it to, and when.
        self._set: dict[tuple[str, str], tuple[int, float]] = {}

    def remember(
        self, scope: frozenset[str] | None, written: Iterable[tuple[str, str, int]]
    ) -> None:
        """After a cycle over `scope` (None: all): what it set replaces what came before."""
        if scope is None:
            self._set.clear()
        else:
            self.forget(scope)
        at = self._clock()
        for model, alias, version in written:
            self._set[(model, alias)] = (version, at)

    def forget(self, models: Iterable[str]) -> None:
        gone = set(models)
        self._set = {k: v for k, v in self._set.items() if k[0] not in gone}

    def take(self, work: Work) -> frozenset[str] | None:
        """The work's scope less the models whose every event was an echo of ours."""
        if work.scope is None:
            return None
        oldest = self._clock() - ECHO_SECONDS
        self._set = {k: v for k, v in self._set.items() if v[1] >= oldest}
        echoes = {
            model
            for model, seen in work.sightings.items()
            if seen
            and all(v is not None and self._set.get((model, a), (None,))[0] == v for a, v in seen)
        }
        self.forget(work.scope)  # taken, or made history by the cycle that follows
        if echoes:
            log.info("webhook echoes of aliasctl's own writes, no reconcile: %s", sorted(echoes))
        return work.scope - echoes


class Controller:
    """Runs cycles on the calling thread; the HTTP server reads `snapshot` from others."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        *,
        debounce_seconds: float,
        on_cycle: Callable[[Snapshot, float], None] = lambda _s, _d: None,
        on_events: Callable[[Iterable[Event]], None] = lambda _e: None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        webhooks: WebhookSupport | None = None,
    ) -> None:
        self.settings = settings
        self.queue = WorkQueue(debounce_seconds)
        self._registry = registry
        self._on_cycle = on_cycle
        self._on_events = on_events
        self._wall_clock = wall_clock
        self._failures_in_row = 0
        self.echoes = Echoes()
        self._snapshot = Snapshot(
            file=str(settings.file),
            registry=registry.display_uri,
            instance=settings.instance,
            drift_mode=str(settings.drift),
            interval_seconds=settings.interval_seconds,
            started_at=wall_clock(),
            webhooks=webhooks,
        )

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot  # replaced whole, never mutated: a reader sees one cycle

    def stop(self) -> None:
        self.queue.stop()

    def run(self) -> None:
        """Reconcile until stopped; the first full reconcile starts at once. An analysis
        pass follows each reconcile, and runs on its own whenever a measurement is due."""
        full_due_at = time.monotonic()
        analysis_due_at: float | None = None
        while (work := self.queue.next(full_due_at, analysis_due_at)) is not None:
            if not work.analysis_only:
                scope = self.echoes.take(work)
                if scope is not None and not scope:
                    continue  # nothing but our own writes coming back: no reconcile
                managed = {(a.model, a.alias) for a in self._snapshot.aliases}
                report = self.run_once(scope, lock_first=work.names_managed_alias(managed))
                if work.scope is None or report.snapshot.last_outcome is CycleOutcome.FAILED:
                    full_due_at = time.monotonic() + self._delay(report)
            if self.queue.stopped:
                break
            analysis_due_at = self.analyse(work.scope)

    def analyse(self, scope: frozenset[str] | None) -> float | None:
        """One analysis pass; the monotonic time the next measurement is due (None: none)."""
        report = analysis_pass(
            self.settings, self._registry, self._snapshot, scope, self._wall_clock()
        )
        self._snapshot = report.snapshot
        if report.events:
            # An analysis that moved an alias (a rollback) makes our earlier writes history.
            self.echoes.forget({e.model for e in report.events if e.model})
            self._on_events(report.events)
        if report.next_due is None:
            return None
        wait = (report.next_due - self._wall_clock()).total_seconds()
        return time.monotonic() + max(0.0, wait)

    def run_once(self, scope: frozenset[str] | None, *, lock_first: bool = False) -> CycleReport:
        started = time.monotonic()
        report = run_cycle(
            self.settings,
            self._registry,
            self._snapshot,
            scope,
            self._wall_clock(),
            stopping=lambda: self.queue.stopped,
            lock_first=lock_first,
        )
        duration = time.monotonic() - started
        self._snapshot = report.snapshot
        self.echoes.remember(scope, report.written)
        outcome = report.snapshot.last_outcome
        what = "all models" if scope is None else ", ".join(sorted(scope))
        error = f": {report.snapshot.last_error}" if report.snapshot.last_error else ""
        log.info("reconciled %s in %.2f s: %s%s", what, duration, outcome, error)
        self._failures_in_row = self._failures_in_row + 1 if outcome is CycleOutcome.FAILED else 0
        self._on_cycle(report.snapshot, duration)
        if report.events:
            self._on_events(report.events)
        return report

    def _delay(self, report: CycleReport) -> float:
        interval = self.settings.interval_seconds
        if self._failures_in_row:
            backoff: float = FIRST_RETRY_SECONDS * 2 ** (self._failures_in_row - 1)
            return min(interval, backoff)
        if report.lock_busy:
            return min(interval, LOCK_RETRY_SECONDS)
        return interval
