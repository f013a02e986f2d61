"""Soak time: how long a version has held an alias without a break, by the file's history.

Pure: the revisions (each with its time on the branch) and `now` are parameters;
only the CLI reads the clock. A revision's time is when it landed on the branch:
git's committer time of the first-parent commit, so a merged pull request counts
from its merge commit and a squash or rebase from the commit on the branch, never
from when the change was first written (its author time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


@dataclass(frozen=True)
class Stretch:
    """The latest unbroken run of revisions in which a version held an alias."""

    start: datetime  # when the revision that gave it the alias landed
    end: datetime | None  # when a later revision took it away; None: it holds it still

    def length(self, now: datetime) -> timedelta:
        # Commit times can run ahead of the clock (skew): never a negative soak.
        return max((self.end or now) - self.start, timedelta(0))


def latest_stretch(
    revisions: Iterable[tuple[datetime, Mapping[str, int]]],
    alias: str,
    version: int,
    target: str,
) -> Stretch | None:
    """The latest stretch in which `version` held `alias`, from the oldest revision on.

    `revisions` are (time, the model's declared aliases) in branch order. Losing the
    alias for even one revision ends a stretch, and an earlier stretch never counts once
    it is regained. Revisions at the start of the stretch in which the version already
    held `target` do not count (one commit cannot make it challenger and champion at
    once); None when no revision counts.
    """
    start: datetime | None = None
    end: datetime | None = None
    holding = False
    for when, aliases in revisions:
        holds = aliases.get(alias) == version
        if holds and not holding:  # a new stretch: the earlier one no longer counts
            start, end = None, None
        if holds and start is None and aliases.get(target) != version:
            start = when
        if holding and not holds:
            end = when
        holding = holds
    return Stretch(start, end) if start is not None else None


def last_lost(
    revisions: Iterable[tuple[datetime, Mapping[str, int]]], alias: str, version: int
) -> datetime | None:
    """When a revision last took `alias` away from `version` (branch order); None if none did.

    A version that held an alias and lost it was once approved for it: moving the alias
    back to it is a rollback, whatever the file's history says since.
    """
    lost: datetime | None = None
    holding = False
    for when, aliases in revisions:
        holds = aliases.get(alias) == version
        if holding and not holds:
            lost = when
        holding = holds
    return lost


def soak_failure(
    stretch: Stretch, need: timedelta, need_text: str, alias: str, now: datetime
) -> str | None:
    """Why `stretch` is too short a soak of `need` (written `need_text`); None if long enough."""
    held = stretch.length(now)
    if held >= need:
        return None
    if stretch.end is None:
        until = format_instant(stretch.start + need)
        return (
            f"has been {alias} for {format_duration(held)}, needs {need_text} (soaks until {until})"
        )
    return (
        f"was {alias} for {format_duration(held)} until {format_instant(stretch.end)}, "
        f"needs {need_text} without a break"
    )


def format_duration(span: timedelta) -> str:
    """Whole minutes, rounded down (never more time than was held): '1d 2h', '5h 12m', '0m'."""
    minutes = max(int(span.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    return " ".join(parts) or "0m"


def format_instant(moment: datetime) -> str:
    """UTC to the minute, rounded up: at the time shown the soak is really over."""
    utc = moment.astimezone(UTC)
    if utc.second or utc.microsecond:
        utc = utc.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return utc.strftime("%Y-%m-%d %H:%M UTC")
