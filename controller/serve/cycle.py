"""One reconcile of `aliasctl serve`: plan, apply what may move, describe the result.

A cycle never raises. Whatever goes wrong (the registry, the file, the lock)
becomes the snapshot's outcome and error, so the controller keeps running and
says why. It applies through the same lock, gates and apply as `aliasctl
apply`; one rule is its own: a change the gates hold back never stops drift
from being healed, since a heal returns an alias to a version already
reviewed and applied.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from controller.apply import DEFAULT_PARALLELISM, ApplyResult, apply_plan
from controller.core.problem import Problem
from controller.errors import ControllerError, LockError
from controller.gitops.history import pull_fast_forward
from controller.gitops.provenance import make_stamp
from controller.reconcile import DriftMode, Options, in_scope, prepare_plan
from controller.registry.lock import held, lock_name
from controller.serve.desired import Desired, read_desired
from controller.serve.holds import hold_events, mark_held
from controller.serve.status import (
    Applied,
    CycleOutcome,
    Event,
    EventKind,
    Snapshot,
)
from controller.serve.statuses import (
    alias_statuses,
    copied_event,
    cycle_events,
    merge_applied,
    merge_problems,
    merge_statuses,
    with_pending,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping
    from datetime import datetime
    from pathlib import Path

    from controller.core.plan import Plan
    from controller.core.state import Observed, Stamp
    from controller.desired.spec import LoadedSpec
    from controller.environments.resolve import Promotion
    from controller.registry.lock import RegistryLock
    from controller.registry.seam import Registry
    from controller.serve.desired import ServedEnvironment

log = logging.getLogger("aliasctl.serve")


@dataclass(frozen=True)
class Settings:
    file: Path
    instance: str
    drift: DriftMode
    interval_seconds: float
    pull: bool = False
    lock_timeout: float = 30.0
    lock_lease: float = 60.0
    parallelism: int = DEFAULT_PARALLELISM
    # After a rollback by analysis: prepare the file's revert on a branch, and push it.
    revert_branch: bool = True
    push: bool = True
    # One environment of several files (`file` is its own): promotions resolved, copied.
    served: ServedEnvironment | None = None


@dataclass(frozen=True)
class CycleReport:
    snapshot: Snapshot
    events: tuple[Event, ...]
    lock_busy: bool = False  # another apply holds the lock: try again soon
    # The aliases this cycle set, (model, alias, version): their webhooks echo them back.
    written: tuple[tuple[str, str, int], ...] = ()


def run_cycle(
    settings: Settings,
    registry: Registry,
    previous: Snapshot,
    scope: frozenset[str] | None,
    now: datetime,
    stopping: Callable[[], bool] = lambda: False,
    *,
    lock_first: bool = True,
) -> CycleReport:
    """Reconcile the file (or just the models in `scope`) once; never raises.

    `lock_first` (a scoped cycle only): take the lock before reading, and read the models
    once, under it: for a webhook that names a managed alias (likely drift to heal). Else
    the models are read first and the lock taken only for work (what mostly finds nothing:
    a full cycle, a new version, an unmanaged alias), then read again under it.
    """
    registry.forget_cached_reads()
    try:
        if settings.served is not None:
            settings.served.forget_cached_reads()
        if settings.pull:
            pull_fast_forward(settings.file)
        desired = read_desired(
            settings.file, settings.served, lambda spec: _options(settings, spec, now=now)
        )
        locked_read = lock_first and scope is not None
        return _reconcile(settings, registry, desired, previous, scope, now, stopping, locked_read)
    except ControllerError as error:
        return _failed(previous, str(error), now)
    except Exception as error:  # the controller must outlive any one cycle
        log.exception("unexpected error in a reconcile")
        return _failed(previous, f"unexpected {type(error).__name__}: {error}", now)


def _options(
    settings: Settings, loaded: LoadedSpec, *, now: datetime, desired: Desired | None = None
) -> Options:
    return replace(
        Options.for_spec(loaded),
        instance=settings.instance,
        drift=settings.drift,
        now=now,
        evidence=False,  # for reviewers of a plan; the controller reads none
        preflight_heals=False,  # a heal is applied whatever the pre-flight says (_movable)
        source_soak=desired.source_soak if desired else {},
    )


def _reconcile(
    settings: Settings,
    registry: Registry,
    desired: Desired,
    previous: Snapshot,
    scope: frozenset[str] | None,
    now: datetime,
    stopping: Callable[[], bool],
    lock_first: bool,
) -> CycleReport:
    options = replace(_options(settings, desired.loaded, now=now, desired=desired), scope=scope)
    everything = desired.loaded.spec.declared()
    declared = in_scope(everything, scope)
    blocked = in_view(desired.blocked, scope)
    to_copy = desired.ready_in(scope)
    stamp = make_stamp(settings.file, os.environ, now)
    events: list[Event] = []

    def planned(observed: Observed | None = None) -> Plan:
        plan = prepare_plan(declared, registry, options, observed)
        return replace(plan, problems=(*plan.problems, *blocked)) if blocked else plan

    plan: Plan | None = None
    if not lock_first:  # what mostly finds nothing to do: read first, lock only for work
        plan = planned()
    result: ApplyResult | None = None
    lock_problem = ""
    if plan is None or to_copy or _has_work(_movable(plan)):
        # Named from the whole file, as `apply` names it: a scoped cycle takes the same lock.
        name = lock_name(registry, settings.instance, desired.lock_models or everything)
        try:
            with held(
                registry,
                name,
                timeout_seconds=settings.lock_timeout,
                lease_seconds=settings.lock_lease,
                say=log.info,
            ) as lock:
                beside = LockBeside(registry, lock)
                if to_copy:  # copied once, under the lock; then moved to as any change
                    desired, copies = _copy(desired, to_copy, stamp.commit, now)
                    events += copies
                    declared = in_scope(desired.loaded.spec.declared(), scope)
                    blocked = in_view(desired.blocked, scope)
                # Plan (again) under the lock: what is applied is what was planned against.
                # A scoped cycle reads its models by name, and the lock with them.
                observed = None if scope is None else beside.read(scope, exact=True)
                plan = planned(observed)
                movable = _movable(plan)
                if _has_work(movable):

                    def must_stop() -> str | None:
                        return lock.lost() or ("the controller is stopping" if stopping() else None)

                    beside.forget()  # writes follow: only a read after them vouches
                    result = apply_plan(
                        movable,
                        declared,
                        registry,
                        instance=settings.instance,
                        stamp=replace(stamp, source={**stamp.source, "controller": "serve"}),
                        parallelism=settings.parallelism,
                        must_stop=must_stop,
                        reread=beside.read,
                    )
                beside.vouch()
        except LockError as busy:
            lock_problem = f"waiting for the registry lock: {busy}"
    if plan is None:  # a locked-first cycle that could not take the lock: what is there
        plan = planned()

    statuses = mark_held(alias_statuses(declared, plan, result, lock_problem), plan)
    statuses = with_pending(statuses, desired, scope, plan.problems, lock_problem)
    events += cycle_events(previous, declared, plan, result, stamp.commit, now)
    events += hold_events(previous, declared, plan, stamp.commit, now)
    error = _apply_error(result)
    problems = plan.problems
    if lock_problem:
        problems = (*problems, Problem.of_plan(lock_problem))
    outcome = _outcome(error, problems)
    seen = replace(
        previous,
        aliases=merge_statuses(previous.aliases, statuses, scope),
        last_applied=merge_applied(previous.last_applied, _applied(plan, result, stamp), scope),
        problems=merge_problems(previous.problems, problems, scope),
        commit=stamp.commit,
    )
    report = _conclude(previous, seen, now, outcome, error, events, lock_busy=bool(lock_problem))
    return replace(report, written=_written(result))


def _applied(plan: Plan, result: ApplyResult | None, stamp: Stamp) -> dict[str, Applied]:
    """Each model's last apply: from its record, or this cycle's when it wrote the model."""
    applied = {m: Applied(r.commit, r.applied_at) for m, r in plan.last_applied.items()}
    for model in {r.change.model for r in (result.applied if result else ())}:
        applied[model] = Applied(stamp.commit, stamp.applied_at)
    return applied


def _written(result: ApplyResult | None) -> tuple[tuple[str, str, int], ...]:
    """The aliases this cycle set: their webhooks echo them back."""
    return tuple(
        (r.change.model, r.change.alias, r.change.after)
        for r in (result.applied if result else ())
        if r.change.after is not None
    )


def _copy(
    desired: Desired, promotions: tuple[Promotion, ...], commit: str | None, now: datetime
) -> tuple[Desired, list[Event]]:
    desired, copied = desired.copy(promotions)
    return desired, [copied_event(c, commit, now) for c in copied]


def in_view(problems: tuple[Problem, ...], scope: frozenset[str] | None) -> tuple[Problem, ...]:
    """The problems a cycle of `scope` sees: its models', and the whole file's."""
    return tuple(p for p in problems if scope is None or p.model is None or p.model in scope)


def _outcome(error: str, problems: tuple[Problem, ...]) -> CycleOutcome:
    if error:
        return CycleOutcome.FAILED
    return CycleOutcome.BLOCKED if problems else CycleOutcome.SUCCESS


class LockBeside:
    """Reads of named models that read the registry lock in the same request (one search
    in bulk mode, one more read per model otherwise): the last such read, made after the
    cycle's last write, is also the lock's release check that it is still ours."""

    def __init__(self, registry: Registry, lock: RegistryLock) -> None:
        self._registry = registry
        self._lock = lock
        self._seen: tuple[Mapping[str, str] | None] | None = None

    def read(self, names: Collection[str], exact: bool) -> Observed:
        if not exact:  # a bulk read past a search page of names: the release reads on its own
            self._seen = None
            return self._registry.read_models(names)
        observed = self._registry.read_models({*names, self._lock.name}, exact=True)
        found = observed.models.get(self._lock.name)
        self._seen = (None if found is None else found.tags,)
        models = {n: m for n, m in observed.models.items() if n != self._lock.name}
        return replace(observed, models=models)

    def forget(self) -> None:
        self._seen = None

    def vouch(self) -> None:
        """Hand the last read's lock tags to the release, when the last request was one."""
        if self._seen is not None:
            self._lock.vouch(self._seen[0])
        self._seen = None


def _failed(previous: Snapshot, error: str, now: datetime) -> CycleReport:
    """A cycle that never reached a plan: the last known state stays, with the error."""
    return _conclude(previous, previous, now, CycleOutcome.FAILED, error, [])


def _conclude(
    previous: Snapshot,
    seen: Snapshot,
    now: datetime,
    outcome: CycleOutcome,
    error: str,
    events: list[Event],
    *,
    lock_busy: bool = False,
) -> CycleReport:
    """Close a cycle: a new failure or a recovery is an event (once), then the bookkeeping."""
    failed = outcome is CycleOutcome.FAILED
    if failed and _newly_failed(previous, error):
        events.append(Event(EventKind.CYCLE_FAILED, now, commit=seen.commit, reason=error))
    elif not failed and previous.last_outcome is CycleOutcome.FAILED:
        was = f"after: {previous.last_error}" if previous.last_error else ""
        events.append(Event(EventKind.CYCLE_RECOVERED, now, commit=seen.commit, reason=was))
    snapshot = replace(
        seen,
        events=previous.recent_events(events),
        cycles=previous.cycles + 1,
        last_cycle_at=now,
        last_outcome=outcome,
        last_error=error,
        last_success_at=previous.last_success_at if failed else now,
    )
    return CycleReport(snapshot, tuple(events), lock_busy=lock_busy)


def _newly_failed(previous: Snapshot, error: str) -> bool:
    """One notification per failure, not one per cycle while it lasts."""
    return previous.last_outcome is not CycleOutcome.FAILED or previous.last_error != error


def _movable(plan: Plan) -> Plan:
    """What may be applied: everything, or when the plan has problems, only drift heals.

    A heal restores what aliasctl last set; a drifted alias whose file version has moved on
    is a promotion held back with the rest (never carried past a freeze or gate by a heal).
    """
    if not plan.problems:
        return plan
    kept = tuple(c for c in plan.changes if c.key in plan.heals and c.after is not None)
    held_back = tuple(c for c in plan.changes if c not in kept) + plan.held_back
    return replace(plan, changes=kept, held_back=held_back, stale_records=(), released=())


def _has_work(plan: Plan) -> bool:
    return bool(plan.changes or plan.stale_records or plan.released or plan.lifted)


def _apply_error(result: ApplyResult | None) -> str:
    if result is None or result.ok:
        return ""
    if result.stopped:
        return f"apply stopped: {result.stopped}"
    failures = [f"{r.change.key}: {r.error}" for r in result.failed]
    failures += list(result.record_errors)
    failures += [f"{c.key}: did not stick (re-read differs)" for c in result.unconverged]
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    return f"apply failed: {failures[0]}{more}" if failures else "apply failed"
