"""What the controller knows between cycles: one immutable snapshot, replaced whole.

The cycle builds a new Snapshot after every reconcile; the status page, the
metrics and `/readyz` only ever read the latest one, so no reader sees half a
cycle. Events are produced once per change of condition (a drift found once,
not every cycle while it lasts); notifications and the page consume them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from controller.core.problem import Problem, messages
from controller.render.holds import hold_json

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from controller.core.holds import Hold
    from controller.serve.webhook_support import WebhookSupport


class AliasState(StrEnum):
    IN_SYNC = "in_sync"  # live == desired
    DRIFTED = "drifted"  # moved outside aliasctl since it last set it
    PENDING = "pending"  # the file asks for a change not applied yet (warn mode, or mid-cycle)
    BLOCKED = "blocked"  # a change held back by a gate, a window or a freeze
    HELD = "held"  # kept off a version that failed its analysis while the file names it


@dataclass(frozen=True, order=True)
class AliasStatus:
    model: str
    alias: str
    desired: int | None  # None: not declared (to be deleted), or a promotion not copied yet
    live: int | None  # None: not set in the registry
    state: AliasState
    reason: str = ""  # why drifted, blocked or held, one line
    # The hold that keeps it (HELD only): the version that failed, where it stays, why.
    hold: Hold | None = field(default=None, compare=False)
    # A promotion from another environment not copied here yet: where from.
    promoted: str | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.model}@{self.alias}"


class EventKind(StrEnum):
    ALIAS_MOVED = "alias_moved"  # the controller set or deleted an alias
    DRIFT_FOUND = "drift_found"  # an alias was moved outside aliasctl
    DRIFT_HEALED = "drift_healed"  # ...and the controller put it back
    CYCLE_FAILED = "cycle_failed"  # a reconcile could not finish (registry, file, lock)
    CYCLE_RECOVERED = "cycle_recovered"  # ...and the next one did: the all-clear for a failure
    ANALYSIS_PASSED = "analysis_passed"  # a version passed its analysis: now the verified one
    ROLLED_BACK = "rolled_back"  # a version failed its analysis: moved back and held
    ANALYSIS_HELD = "analysis_held"  # inconclusive, an error, or nothing to go back to: held
    ANALYSIS_STUCK = "analysis_stuck"  # a result could not be acted on (a refused rollback)
    HOLD_FOUND = "hold_found"  # a hold keeps an alias off the version the file names
    HOLD_LIFTED = "hold_lifted"  # ...and it is gone: the file moved on, or it was released
    VERSION_COPIED = "version_copied"  # a promoted version was copied into this environment


@dataclass(frozen=True)
class Event:
    kind: EventKind
    time: datetime  # aware, UTC
    model: str | None = None
    alias: str | None = None
    before: int | None = None
    after: int | None = None
    commit: str | None = None
    reason: str = ""

    def to_json(self) -> dict[str, object]:
        """The notification body: the same keys for every kind (null where not known)."""
        return {
            "kind": str(self.kind),
            "model": self.model,
            "alias": self.alias,
            "from": self.before,
            "to": self.after,
            "commit": self.commit,
            "reason": self.reason,
            "time": self.time.isoformat(timespec="seconds"),
        }

    def describe(self) -> str:
        """One line for people: the Slack text, the status page, the log."""
        what = self.kind.replace("_", " ")
        if self.model:
            where = f"{self.model}@{self.alias}" if self.alias else self.model
            what += f" {where} {_v(self.before)} -> {_v(self.after)}"
        return f"{what}: {self.reason}" if self.reason else what


def _v(version: int | None) -> str:
    return "(none)" if version is None else str(version)


class CycleOutcome(StrEnum):
    SUCCESS = "success"  # reached the registry; everything that may move moved
    BLOCKED = "blocked"  # reached the registry; gates, windows or freezes held changes back
    FAILED = "failed"  # did not finish: registry unreachable, file invalid, lock held, write failed


@dataclass(frozen=True, order=True)
class RunningAnalysis:
    """An alias's analysis in progress (for the status page and `/status.json`)."""

    model: str
    alias: str
    version: int
    summary: str
    next_at: datetime | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "alias": self.alias,
            "version": self.version,
            "summary": self.summary,
            "next_measurement": _iso(self.next_at),
        }


@dataclass(frozen=True)
class Applied:
    """The last apply recorded on a model (from aliasctl's record on it)."""

    commit: str | None
    applied_at: str | None


RECENT_EVENTS = 50  # kept for the status page


@dataclass(frozen=True)
class Snapshot:
    file: str
    registry: str  # the display URI: credentials never appear
    instance: str
    drift_mode: str  # "heal" or "warn"
    interval_seconds: float
    started_at: datetime
    aliases: tuple[AliasStatus, ...] = ()  # every managed alias, sorted
    last_applied: dict[str, Applied] = field(default_factory=dict)  # per model
    problems: tuple[Problem, ...] = ()  # what the last full plan refused
    events: tuple[Event, ...] = ()  # the most recent, newest first
    commit: str | None = None  # the file's checkout at the last cycle
    cycles: int = 0
    last_cycle_at: datetime | None = None
    last_outcome: CycleOutcome | None = None
    last_error: str = ""
    last_success_at: datetime | None = None
    webhooks: WebhookSupport | None = None  # told once at start: webhooks, or polling alone
    # Analyses after a promotion still running, as the last analysis pass left them.
    analyses: tuple[RunningAnalysis, ...] = ()

    @property
    def ready(self) -> bool:
        """The last cycle reached the registry (a refusal by the gates still counts)."""
        return self.last_outcome in {CycleOutcome.SUCCESS, CycleOutcome.BLOCKED}

    def count(self, state: AliasState) -> int:
        return sum(1 for a in self.aliases if a.state is state)

    def recent_events(self, new: Sequence[Event]) -> tuple[Event, ...]:
        """The events to keep after `new` (oldest first): newest first, at most 50."""
        return (*reversed(new), *self.events)[:RECENT_EVENTS]

    def to_json(self) -> dict[str, object]:
        """`GET /status.json`: the status page's content for scripts (drift as data)."""
        return {
            "format_version": 1,
            "ready": self.ready,
            "instance": self.instance,
            "registry": self.registry,
            "file": self.file,
            "commit": self.commit,
            "drift_mode": self.drift_mode,
            "interval_seconds": self.interval_seconds,
            "started_at": _iso(self.started_at),
            "cycles": self.cycles,
            "last_cycle": {
                "at": _iso(self.last_cycle_at),
                "outcome": None if self.last_outcome is None else str(self.last_outcome),
                "error": self.last_error or None,
            },
            "last_success_at": _iso(self.last_success_at),
            "counts": {str(state): self.count(state) for state in AliasState},
            "aliases": [
                {
                    "model": a.model,
                    "alias": a.alias,
                    "desired": a.desired,
                    "live": a.live,
                    "state": str(a.state),
                    "reason": a.reason or None,
                    "hold": None if a.hold is None else hold_json(a.model, a.alias, a.hold),
                    "promoted_from": a.promoted,
                }
                for a in self.aliases
            ],
            "last_applied": {
                model: {"commit": applied.commit, "applied_at": applied.applied_at}
                for model, applied in sorted(self.last_applied.items())
            },
            "problems": list(messages(self.problems)),
            "events": [event.to_json() for event in self.events],
            "webhooks": None if self.webhooks is None else self.webhooks.to_json(),
            "analyses": [analysis.to_json() for analysis in self.analyses],
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")
