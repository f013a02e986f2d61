"""Execute a plan against a registry and report per change.

Order per model, so that a run killed at any point leaves a state the next run
converges from:
1. record new aliases as owned-but-unconfirmed (only when the plan creates some),
2. move aliases (in parallel, bounded),
3. record what was actually done, with the provenance stamp,
then re-read everything and verify it matches the file.
A set or delete is atomic in MLflow, so an alias only ever points at its old or
its new version.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from controller.core.change import Action, Change, Declared
from controller.core.holds import hold_tag
from controller.core.plan import (
    Plan,
    compute_plan,
    pending_record,
    settled_aliases,
    with_holds,
)
from controller.core.state import DEFAULT_INSTANCE, Record, Stamp
from controller.errors import Fault, RegistryError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from controller.core.state import Observed
    from controller.registry.seam import Registry

    # Reads the models written again to check the writes: (names, exact) -> what is there.
    Reread = Callable[[Collection[str], bool], Observed]

# Measured on a 2-core MLflow server: throughput rises up to about 16 writers (bench/).
DEFAULT_PARALLELISM = 16
# Consecutive failed writes (each after its own retries), across models, that stop an apply.
FAILURES_IN_ROW_TO_STOP = 5
# Re-read by name up to this many written models (about one search page of names).
EXACT_REREAD_MAX = 1000
_STOPPING = frozenset({Fault.UNREACHABLE, Fault.AUTH, Fault.PERMISSION})


@dataclass(frozen=True)
class ChangeResult:
    change: Change
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class ApplyResult:
    results: tuple[ChangeResult, ...]
    record_errors: tuple[str, ...] = ()
    # Aliases that still differ from the file after the apply, found by re-reading.
    unconverged: tuple[Change, ...] = ()
    # Why the remaining writes were not attempted ("" when none were skipped).
    stopped: str = ""
    # Transient write failures that were retried (and then succeeded or not).
    retries: int = 0

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results) and not self.record_errors and not self.unconverged

    @property
    def applied(self) -> tuple[ChangeResult, ...]:
        return tuple(r for r in self.results if r.ok)

    @property
    def failed(self) -> tuple[ChangeResult, ...]:
        return tuple(r for r in self.results if not r.ok)


class _Breaker:
    """Stops sending writes once the registry cannot take them, instead of failing each one.

    It trips on what will not get better by trying the next write: refused
    connections, missing credentials or permissions, or several writes in a row
    to different models failing transiently after their own retries. One bad
    answer (a 503 that outlasted its retries, a refused request) does not.
    """

    def __init__(self, must_stop: Callable[[], str | None] = lambda: None) -> None:
        self._must_stop = must_stop
        self._tripped = threading.Event()
        self._lock = threading.Lock()
        self._failed_in_row: list[str] = []  # models of consecutive transient failures
        self.reason = ""

    def run(self, model: str, write: Callable[[], None]) -> str | None:
        stop = self._must_stop()
        if stop:
            with self._lock:
                self._trip(stop)
        if self._tripped.is_set():
            return f"not attempted: {self.reason}"
        try:
            write()
        except RegistryError as error:
            self._failed(model, error)
            return error.detail
        with self._lock:
            self._failed_in_row.clear()
        return None

    def _failed(self, model: str, error: RegistryError) -> None:
        with self._lock:
            if error.fault in _STOPPING:
                self._trip(error.detail)
            elif error.transient:
                self._failed_in_row.append(model)
                models = len(set(self._failed_in_row))
                if len(self._failed_in_row) >= FAILURES_IN_ROW_TO_STOP and models > 1:
                    self._trip(
                        f"{len(self._failed_in_row)} writes failed in a row ({error.detail})"
                    )
            else:
                self._failed_in_row.clear()

    def _trip(self, reason: str) -> None:
        if not self._tripped.is_set():
            self.reason = reason
            self._tripped.set()


def apply_plan(
    plan: Plan,
    declared: Declared,
    registry: Registry,
    *,
    instance: str = DEFAULT_INSTANCE,
    stamp: Stamp | None = None,
    parallelism: int = DEFAULT_PARALLELISM,
    must_stop: Callable[[], str | None] = lambda: None,
    reread: Reread | None = None,
) -> ApplyResult:
    """Apply `plan`; `must_stop` says why to stop writing (a lost lock), None to go on.

    `reread` reads the written models again for the check that the writes stuck
    (`registry.read_models` when None; the serve cycle reads its lock in the same request).
    """
    stamp = stamp or Stamp()
    # A held alias stays where its hold keeps it: that is what its record says, too.
    declared = with_holds(declared, plan.holds)
    # Parallel writes help a server; on a local database they only contend for its lock.
    workers = max(1, parallelism) if registry.is_remote else 1
    breaker = _Breaker(must_stop)
    by_model: dict[str, list[Change]] = defaultdict(list)
    for change in plan.changes:
        by_model[change.model].append(change)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aliasctl") as pool:
        # 1. Own new aliases before creating them.
        needs_pending = [
            m for m, cs in by_model.items() if any(c.action is Action.CREATE for c in cs)
        ]
        pending_errors = dict(
            zip(
                needs_pending,
                pool.map(
                    lambda m: breaker.run(
                        m,
                        lambda: registry.write_record(
                            m, pending_record(plan.last_applied.get(m), by_model[m], instance)
                        ),
                    ),
                    needs_pending,
                ),
                strict=True,
            )
        )

        # 2. Move aliases: deletes first, since they need more permission (MANAGE under
        # MLflow's basic-auth) than sets (EDIT); a bot lacking it stops before any alias moves.
        def move(change: Change) -> ChangeResult:
            blocked = pending_errors.get(change.model)
            if blocked:
                return ChangeResult(change, f"not attempted: could not record ownership: {blocked}")
            model, alias, target = change.model, change.alias, change.after
            if target is None:
                error = breaker.run(model, lambda: registry.delete_alias(model, alias))
            else:
                error = breaker.run(model, lambda: registry.set_alias(model, alias, target))
            return ChangeResult(change, error)

        deletes = [c for c in plan.changes if c.after is None]
        sets = [c for c in plan.changes if c.after is not None]
        deleted = list(pool.map(move, deletes))  # every delete ends before any set starts
        moved = list(pool.map(move, sets))
        done = {r.change: r for r in deleted + moved}
        results = tuple(done[c] for c in plan.changes)

        # 3. Record what was done.
        not_done: dict[str, list[Change]] = defaultdict(list)
        for change in [r.change for r in results if not r.ok] + list(plan.held_back):
            not_done[change.model].append(change)

        def record(model: str) -> str | None:
            previous = plan.last_applied.get(model)
            wanted = declared.get(model, {})
            aliases = settled_aliases(previous, wanted, not_done[model])
            new: Record | None = Record(
                aliases, instance, stamp.commit, stamp.applied_at, dict(stamp.source)
            )
            if model in plan.released and not aliases:
                new = None  # the model left the file and nothing of ours is left on it
            error = breaker.run(model, lambda: registry.write_record(model, new))
            if error:
                return f"{model}: could not write inventory record: {error}"
            return _lift(model)

        def _lift(model: str) -> str | None:
            """Drop the holds the file lifted, once what it names now is in place."""
            failed = {c.alias for c in not_done[model]}
            for alias in sorted(a for m, a in plan.lifted if m == model and a not in failed):
                error = breaker.run(
                    model, partial(registry.delete_model_tag, model, hold_tag(alias))
                )
                if error:
                    return f"{model}@{alias}: could not lift its hold: {error}"
            return None

        # A released model is touched even with nothing left to delete: its record goes.
        lifting = {m for m, _ in plan.lifted}
        touched = sorted(by_model.keys() | set(plan.stale_records) | set(plan.released) | lifting)
        record_errors = tuple(e for e in pool.map(record, touched) if e)

    unconverged: tuple[Change, ...] = ()
    if not breaker.reason:
        read = reread or (lambda names, exact: registry.read_models(names, exact=exact))
        unconverged = _verify(plan, declared, read, instance, results)
    return ApplyResult(results, record_errors, unconverged, breaker.reason, registry.retries)


def _verify(
    plan: Plan,
    declared: Declared,
    reread: Reread,
    instance: str,
    results: tuple[ChangeResult, ...],
) -> tuple[Change, ...]:
    """Re-read and re-plan: any change reported done that still shows up did not stick.

    Only the models written are re-read, by name, so that healing one alias re-reads one
    model, not the registry; past a search page of them, the bulk read is fewer requests.
    """
    written = {r.change.model for r in results if r.ok}
    exact = len(written) <= EXACT_REREAD_MAX
    observed = reread(written if exact else set(declared) | set(plan.released), exact)
    wanted = {m: a for m, a in declared.items() if m in written} if exact else declared
    remaining = compute_plan(wanted, observed, instance).changes
    reported_done = {(r.change.model, r.change.alias) for r in results if r.ok}
    return tuple(c for c in remaining if (c.model, c.alias) in reported_done)
