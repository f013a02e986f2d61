"""Promotion windows and freezes: pure (policies, freezes, changes, now) -> verdicts.

The clock is a parameter: only the CLI reads it. A verdict is a plan problem,
unless `--break-glass` overrides it (then it is shown as overridden). Drift
healing is filtered out before this is called: see `promotions`.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from controller.core.plan import heal_keys
from controller.desired.timespec import Window, parse_local, parse_window, zone

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from zoneinfo import ZoneInfo

    from controller.core.change import Change
    from controller.core.plan import Drift
    from controller.desired.spec import Policy
    from controller.desired.timespec import Freeze, Windows


def promotions(changes: Iterable[Change], drift: Iterable[Drift]) -> list[Change]:
    """Changes that move production: all but those putting a hand-moved alias back."""
    changes = tuple(changes)
    healed = heal_keys(changes, drift)
    return [c for c in changes if c.key not in healed]


def verdicts(
    policies: Mapping[str, Policy],
    freezes: Sequence[Freeze],
    changes: Iterable[Change],
    now: datetime,
) -> list[str]:
    """Why each change (create, update, delete) inside a freeze or outside its alias's windows
    may not move now: one message each, `model@alias: ...`."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    now = now.astimezone(UTC)  # compare instants, never wall times of one zone
    active = [(f, end) for f in freezes if (end := _frozen_until(f, now)) is not None]
    # A window that opens during a freeze opens for nothing: name the first opening after.
    thaw = max([now, *(end for _, end in active)])
    found: list[str] = []
    for change in changes:
        for freeze, end in active:
            why = f" ({freeze.reason})" if freeze.reason else ""
            found.append(f"{change.key}: frozen by {freeze.name!r}{why} until {_show(end)}")
        policy = policies.get(change.alias)
        if policy is not None and policy.windows is not None:
            closed = _outside(policy.windows, now, thaw)
            if closed is not None:
                found.append(f"{change.key}: {closed}")
    return found


def _frozen_until(freeze: Freeze, now: datetime) -> datetime | None:
    """The freeze's end when `now` is inside it ([from, to) in its zone), else None."""
    where = zone(freeze.timezone)
    start = _aware(parse_local(freeze.from_), where)
    end = _aware(parse_local(freeze.to), where)
    return end if start <= now < end else None


def _outside(windows: Windows, now: datetime, thaw: datetime) -> str | None:
    """Why `now` is outside every allowed span, with when one next opens at or after `thaw`
    (the end of the freezes in force); None if inside."""
    where = zone(windows.timezone)
    spans = [parse_window(text) for text in windows.allow]
    if _inside(spans, where, now):
        return None
    listed = ", ".join(span.text for span in spans)
    opens = thaw.astimezone(where) if _inside(spans, where, thaw) else next_open(spans, where, thaw)
    return f"outside its promotion window ({listed} {windows.timezone}); next opens {_show(opens)}"


def _inside(spans: Sequence[Window], where: ZoneInfo, moment: datetime) -> bool:
    local = moment.astimezone(where)
    minute = local.hour * 60 + local.minute
    return any(span.contains(local.weekday(), minute) for span in spans)


def next_open(spans: Sequence[Window], where: ZoneInfo, now: datetime) -> datetime:
    """The first span start after `now`, in `where` (each span has a day, so a week finds it)."""
    now = now.astimezone(UTC)
    today = now.astimezone(where).date()
    starts = [
        _aware(
            datetime.combine(today + timedelta(days=ahead), time(s.start // 60, s.start % 60)),
            where,
        )
        for ahead in range(8)
        for s in spans
        if (today + timedelta(days=ahead)).weekday() in s.days
    ]
    return min(start for start in starts if start > now)


def _aware(moment: datetime, where: ZoneInfo) -> datetime:
    """A wall-clock time in `where`, normalised through UTC: a time in a DST gap
    (02:30 on the spring-forward night) becomes the real instant it names (03:30)."""
    return moment.replace(tzinfo=where).astimezone(UTC).astimezone(where)


def _show(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z")
