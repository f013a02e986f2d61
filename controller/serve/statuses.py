"""What a serve cycle reports: every alias's state, and the events it raised.

Pure: the plan, the apply's result and the previous snapshot in, statuses and events
out. A scoped cycle (a webhook's models) merges its part into the last full picture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.core.plan import heal_keys
from controller.serve.status import AliasState, AliasStatus, Event, EventKind

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

    from controller.apply import ApplyResult
    from controller.core.change import Change, Declared
    from controller.core.plan import Plan
    from controller.core.problem import Problem
    from controller.environments.run import Copied
    from controller.serve.desired import Desired
    from controller.serve.status import Applied, Snapshot


def with_pending(
    statuses: list[AliasStatus],
    desired: Desired,
    scope: frozenset[str] | None,
    problems: tuple[Problem, ...],
    lock_problem: str,
) -> list[AliasStatus]:
    """A promotion not copied yet is never in sync, whatever its alias holds now: blocked
    with the reason its copy waits, or pending (the lock, another problem in the file)."""
    pending = {(p.model, p.alias): p for p in desired.pending if scope is None or p.model in scope}
    if not pending:
        return statuses
    live = {(s.model, s.alias): s.live for s in statuses}
    kept = [s for s in statuses if (s.model, s.alias) not in pending]
    for key, promotion in pending.items():
        reason = next((p.text for p in problems if (p.model, p.alias) == key), "")
        state = AliasState.BLOCKED if reason or problems else AliasState.PENDING
        waiting = f"{promotion.source.describe()} not copied yet" if promotion.source else ""
        reason = reason or (problems[0].text if problems else lock_problem) or waiting
        where = promotion.source.describe() if promotion.source else "another environment"
        status = AliasStatus(
            promotion.model, promotion.alias, None, live.get(key), state, reason,
            promoted=f"from {where}",
        )  # fmt: skip
        kept.append(status)
    return sorted(kept)


def copied_event(copied: Copied, commit: str | None, now: datetime) -> Event:
    made = "copied" if copied.created else "found, copied before"
    reason = f"{copied.source.describe()} {made} as version {copied.version}"
    return Event(
        EventKind.VERSION_COPIED, now, copied.model, copied.alias, None, copied.version,
        commit, reason,
    )  # fmt: skip


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


def merge_statuses(
    old: tuple[AliasStatus, ...], new: list[AliasStatus], scope: frozenset[str] | None
) -> tuple[AliasStatus, ...]:
    if scope is None:
        return tuple(new)
    return tuple(sorted([a for a in old if a.model not in scope] + new))


def merge_applied(
    old: Mapping[str, Applied], new: Mapping[str, Applied], scope: frozenset[str] | None
) -> dict[str, Applied]:
    if scope is None:
        return dict(new)
    return {m: a for m, a in old.items() if m not in scope} | dict(new)


def merge_problems(
    old: tuple[Problem, ...], new: tuple[Problem, ...], scope: frozenset[str] | None
) -> tuple[Problem, ...]:
    if scope is None:
        return new
    return tuple(p for p in old if p.model not in scope) + new
