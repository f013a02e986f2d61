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
from controller.core.plan import heal_keys
from controller.core.problem import Problem
from controller.desired.spec import load_spec
from controller.errors import ControllerError, LockError
from controller.gitops.history import pull_fast_forward
from controller.gitops.provenance import make_stamp
from controller.reconcile import DriftMode, Options, in_scope, prepare_plan
from controller.registry.lock import held, lock_name
from controller.serve.holds import hold_events, mark_held
from controller.serve.status import (
    AliasState,
    AliasStatus,
    Applied,
    CycleOutcome,
    Event,
    EventKind,
    Snapshot,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Mapping
    from datetime import datetime
    from pathlib import Path

    from controller.core.change import Change, Declared
    from controller.core.plan import Plan
    from controller.core.state import Observed
    from controller.desired.spec import LoadedSpec
    from controller.registry.lock import RegistryLock
    from controller.registry.seam import Registry

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
        if settings.pull:
            pull_fast_forward(settings.file)
        loaded = load_spec(settings.file)
        locked_read = lock_first and scope is not None
        return _reconcile(settings, registry, loaded, previous, scope, now, stopping, locked_read)
    except ControllerError as error:
        return _failed(previous, str(error), now)
    except Exception as error:  # the controller must outlive any one cycle
        log.exception("unexpected error in a reconcile")
        return _failed(previous, f"unexpected {type(error).__name__}: {error}", now)


def _reconcile(
    settings: Settings,
    registry: Registry,
    loaded: LoadedSpec,
    previous: Snapshot,
    scope: frozenset[str] | None,
    now: datetime,
    stopping: Callable[[], bool],
    lock_first: bool,
) -> CycleReport:
    options = replace(
        Options.for_spec(loaded),
        instance=settings.instance,
        drift=settings.drift,
        now=now,
        evidence=False,  # for reviewers of a plan; the controller reads none
        scope=scope,
        preflight_heals=False,  # a heal is applied whatever the pre-flight says (_movable)
    )
    everything = loaded.spec.declared()
    declared = in_scope(everything, scope)
    stamp = make_stamp(settings.file, os.environ, now)
    plan: Plan | None = None
    if not lock_first:  # what mostly finds nothing to do: read first, lock only for work
        plan = prepare_plan(declared, registry, options)
    result: ApplyResult | None = None
    lock_problem = ""
    if plan is None or _has_work(_movable(plan)):
        # Named from the whole file, as `apply` names it: a scoped cycle takes the same lock.
        name = lock_name(registry, settings.instance, everything)
        try:
            with held(
                registry,
                name,
                timeout_seconds=settings.lock_timeout,
                lease_seconds=settings.lock_lease,
                say=log.info,
            ) as lock:
                beside = LockBeside(registry, lock)
                # Plan (again) under the lock: what is applied is what was planned against.
                # A scoped cycle reads its models by name, and the lock with them.
                observed = None if scope is None else beside.read(scope, exact=True)
                plan = prepare_plan(declared, registry, options, observed)
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
        plan = prepare_plan(declared, registry, options)

    statuses = mark_held(alias_statuses(declared, plan, result, lock_problem), plan)
    events = cycle_events(previous, declared, plan, result, stamp.commit, now)
    events += hold_events(previous, declared, plan, stamp.commit, now)
    error = _apply_error(result)
    problems = plan.problems
    if lock_problem:
        problems = (*problems, Problem.of_plan(lock_problem))
    if error:
        outcome = CycleOutcome.FAILED
    elif problems:
        outcome = CycleOutcome.BLOCKED
    else:
        outcome = CycleOutcome.SUCCESS
    applied = {m: Applied(r.commit, r.applied_at) for m, r in plan.last_applied.items()}
    if result is not None:
        for model in {r.change.model for r in result.applied}:
            applied[model] = Applied(stamp.commit, stamp.applied_at)
    seen = replace(
        previous,
        aliases=_merge(previous.aliases, statuses, scope),
        last_applied=_merge_applied(previous.last_applied, applied, scope),
        problems=_merge_problems(previous.problems, problems, scope),
        commit=stamp.commit,
    )
    written = tuple(
        (r.change.model, r.change.alias, r.change.after)
        for r in (result.applied if result else ())
        if r.change.after is not None
    )
    report = _conclude(previous, seen, now, outcome, error, events, lock_busy=bool(lock_problem))
    return replace(report, written=written)


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


def alias_statuses(
    declared: Declared, plan: Plan, result: ApplyResult | None, lock_problem: str = ""
) -> list[AliasStatus]:
    """Every alias the file declares or aliasctl still owns, with its state after the cycle."""
    done = {r.change.key for r in result.applied} if result else set()
    failed = {r.change.key: r.error or "" for r in result.failed} if result else {}
    attempted = {r.change.key for r in result.results} if result else set()
    outstanding = {c.key: c for c in (*plan.changes, *plan.held_back) if c.key not in done}
    # Heals held back too (--drift warn): such an alias is drifted, not blocked.
    heals = heal_keys(outstanding.values(), plan.drift)
    statuses = []
    for model, aliases in declared.items():
        model_problem = _problem_of(plan.problems, model)
        for alias, version in aliases.items():
            key = f"{model}@{alias}"
            change = outstanding.get(key)
            if change is None and model_problem:
                statuses.append(
                    AliasStatus(model, alias, version, None, AliasState.BLOCKED, model_problem)
                )
            elif change is None:
                statuses.append(AliasStatus(model, alias, version, version, AliasState.IN_SYNC))
            else:
                statuses.append(
                    _outstanding(change, key, heals, failed, attempted, plan, lock_problem)
                )
    for key, change in outstanding.items():
        if change.after is None:  # an owned alias the file dropped, not deleted yet
            statuses.append(_outstanding(change, key, heals, failed, attempted, plan, lock_problem))
    return sorted(statuses)


def _outstanding(
    change: Change,
    key: str,
    heals: frozenset[str],
    failed: Mapping[str, str],
    attempted: set[str],
    plan: Plan,
    lock_problem: str,
) -> AliasStatus:
    if key in failed:
        state, reason = AliasState.PENDING, failed[key]
    elif key in heals:
        state, reason = AliasState.DRIFTED, "moved outside aliasctl"
    elif plan.problems and key not in attempted:
        problem = _problem_of(plan.problems, change.model) or plan.problems[0].text
        state, reason = AliasState.BLOCKED, problem
    else:
        state, reason = AliasState.PENDING, lock_problem
    return AliasStatus(change.model, change.alias, change.after, change.before, state, reason)


def _problem_of(problems: Iterable[Problem], model: str) -> str:
    """The first problem about `model` (any of its aliases), as shown; "" if none."""
    return next((p.text for p in problems if p.model == model), "")


def cycle_events(
    previous: Snapshot,
    declared: Declared,
    plan: Plan,
    result: ApplyResult | None,
    commit: str | None,
    now: datetime,
) -> list[Event]:
    """What happened this cycle, each condition once (a lasting drift is not re-announced)."""
    before = {a.key: a for a in previous.aliases}
    done = {r.change.key: r.change for r in result.applied} if result else {}
    events = []
    heals = plan.heals
    for drift in plan.drift:
        known = before.get(drift.key)
        if known is None or known.state is not AliasState.DRIFTED or known.live != drift.live:
            events.append(
                Event(
                    EventKind.DRIFT_FOUND,
                    now,
                    drift.model,
                    drift.alias,
                    drift.recorded,
                    drift.live,
                    commit,
                    "moved outside aliasctl",
                )
            )
        if drift.key in done and drift.key in heals:
            wanted = declared.get(drift.model, {}).get(drift.alias)
            events.append(
                Event(
                    EventKind.DRIFT_HEALED,
                    now,
                    drift.model,
                    drift.alias,
                    drift.live,
                    wanted,
                    commit,
                )
            )
    for key, change in done.items():
        if key not in heals:
            events.append(
                Event(
                    EventKind.ALIAS_MOVED,
                    now,
                    change.model,
                    change.alias,
                    change.before,
                    change.after,
                    commit,
                )
            )
    return events


def _merge(
    old: tuple[AliasStatus, ...], new: list[AliasStatus], scope: frozenset[str] | None
) -> tuple[AliasStatus, ...]:
    if scope is None:
        return tuple(new)
    return tuple(sorted([a for a in old if a.model not in scope] + new))


def _merge_applied(
    old: Mapping[str, Applied], new: Mapping[str, Applied], scope: frozenset[str] | None
) -> dict[str, Applied]:
    if scope is None:
        return dict(new)
    return {m: a for m, a in old.items() if m not in scope} | dict(new)


def _merge_problems(
    old: tuple[Problem, ...], new: tuple[Problem, ...], scope: frozenset[str] | None
) -> tuple[Problem, ...]:
    if scope is None:
        return new
    return tuple(p for p in old if p.model not in scope) + new
