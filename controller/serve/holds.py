"""Holds in `aliasctl serve`: the HELD state of an alias, and the events when a hold appears
or goes.

A held alias (core/plan.py HeldAlias) is kept off the version the file names, which
failed its analysis; without this it would read as in sync, its live version wrong. A
hold is announced once when first seen (HOLD_FOUND) and once when it is gone (HOLD_LIFTED:
the file named another version, or `aliasctl hold release`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from controller.render.holds import kept_where
from controller.serve.status import AliasState, AliasStatus, Event, EventKind

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from controller.core.change import Declared
    from controller.core.holds import Hold
    from controller.core.plan import Plan
    from controller.serve.status import Snapshot


def hold_reason(hold: Hold) -> str:
    """One line for the status page and `/status.json`."""
    why = f"{hold.phase} since {hold.since or '?'}"
    return f"{kept_where(hold)} ({why}: {hold.reason})" if hold.reason else f"{kept_where(hold)}"


def mark_held(statuses: Iterable[AliasStatus], plan: Plan) -> list[AliasStatus]:
    """The statuses with each held alias HELD: desired is the version the file names, live
    where it is (the held-at version once any rollback is done)."""
    held = {h.key: h.hold for h in plan.holds}
    marked = []
    for status in statuses:
        hold = held.get(status.key)
        if hold is None:
            marked.append(status)
            continue
        # In sync with the hold: it stands where the hold keeps it. Otherwise the move back
        # is still to come (refused by a gate, or failed): live is what the cycle left.
        live = hold.held_at if status.state is AliasState.IN_SYNC else status.live
        reason = hold_reason(hold)
        if status.state is not AliasState.IN_SYNC and status.reason:
            reason += f"; moving it back: {status.reason}"
        marked.append(
            replace(
                status,
                desired=hold.version,
                live=live,
                state=AliasState.HELD,
                reason=reason,
                hold=hold,
            )
        )
    return marked


def hold_events(
    previous: Snapshot, declared: Declared, plan: Plan, commit: str | None, now: datetime
) -> list[Event]:
    """HOLD_FOUND for a hold not seen before (or on another version), HOLD_LIFTED for one
    seen last time that is gone; nothing for a model the plan could not judge."""
    before = {a.key: a for a in previous.aliases}
    events = []
    current = set()
    for h in plan.holds:
        current.add(h.key)
        known = before.get(h.key)
        if known is None or known.hold is None or known.hold.version != h.hold.version:
            events.append(
                Event(
                    EventKind.HOLD_FOUND,
                    now,
                    h.model,
                    h.alias,
                    h.hold.version,
                    h.hold.held_at,
                    commit,
                    hold_reason(h.hold),
                )
            )
    covered = set(declared) | set(plan.released) | {m for m, _ in plan.lifted}
    lifted = set(plan.lifted)
    for key, known in before.items():
        if known.hold is None or key in current or known.model not in covered:
            continue  # not held, held still, or not part of this cycle
        wanted = declared.get(known.model, {}).get(known.alias)
        if (known.model, known.alias) in lifted:
            why = f"the file names version {wanted}" if wanted else "the file dropped the alias"
        elif _unjudged(plan, known.model, known.alias):
            continue  # the model could not be read as a whole, or its hold tag cannot be read
        else:
            why = "the hold was released (aliasctl hold release)"
        events.append(
            Event(
                EventKind.HOLD_LIFTED,
                now,
                known.model,
                known.alias,
                known.hold.version,
                wanted,
                commit,
                why,
            )
        )
    return events


def _unjudged(plan: Plan, model: str, alias: str) -> bool:
    """Whether the plan cannot tell that the alias's hold is gone: a problem with the whole
    model (unreadable, missing) or with this alias (its hold tag unreadable, or a refusal
    that keeps the alias where it is) says nothing either way."""
    return any(p.model == model and p.alias in (None, alias) for p in plan.problems)
