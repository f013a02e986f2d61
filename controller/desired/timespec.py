"""Time in aliases.yaml: `freezes:` and a policy's `windows:`, their parsing and checks.

Shared by the spec (whose validators turn a ValueError into a located error)
and by windows.py, which judges them at a given instant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from controller.desired.spec_errors import describe_kind
from controller.errors import SpecIssue

if TYPE_CHECKING:
    from collections.abc import Sequence

    from controller.desired.yamlsource import SourceMap

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_A_DAY = 24 * 60
_WINDOW = re.compile(r"^\s*(\S+)\s+(\S+?)\s*-\s*(\S+)\s*$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
# A date, optionally with a time (T or one space between), never with an offset:
# the zone is the freeze's `timezone`, so the file says it once.
_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?$")
WINDOW_EXAMPLE = "'mon-fri 09:00-17:00'"


@dataclass(frozen=True)
class Window:
    """Days of the week (0 = Monday) and a [start, end) span of local minutes."""

    days: frozenset[int]
    start: int
    end: int
    text: str

    def contains(self, weekday: int, minute: int) -> bool:
        return weekday in self.days and self.start <= minute < self.end


def parse_days(text: str) -> frozenset[int]:
    """'mon-thu', 'fri', 'sat,sun' or 'fri-mon' (a range wraps over the weekend)."""
    days: set[int] = set()
    for part in text.lower().split(","):
        first, dash, last = part.partition("-")
        start = _day(first)
        end = _day(last) if dash else start
        days.update((start + step) % 7 for step in range((end - start) % 7 + 1))
    return frozenset(days)


def _day(name: str) -> int:
    if name not in DAYS:
        raise ValueError(f"{name!r} is not a day: use {', '.join(DAYS)}")
    return DAYS.index(name)


def parse_clock(text: str, *, end: bool = False) -> int:
    """HH:MM as minutes after midnight; 24:00 only as the end of a span."""
    match = _CLOCK.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a time: write HH:MM, like 09:00")
    hours, minutes = int(match.group(1)), int(match.group(2))
    total = hours * 60 + minutes
    if minutes > 59 or total > MINUTES_A_DAY or (total == MINUTES_A_DAY and not end):
        raise ValueError(f"{text!r} is not a time of day (00:00 to 23:59, or 24:00 as an end)")
    return total


def parse_window(text: str) -> Window:
    match = _WINDOW.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a window: write days and times, like {WINDOW_EXAMPLE}")
    days = parse_days(match.group(1))
    start, end = parse_clock(match.group(2)), parse_clock(match.group(3), end=True)
    if end <= start:
        raise ValueError(
            f"{text!r} ends at or before it starts: a window is one span within a day "
            "(list two windows for one that runs past midnight)"
        )
    return Window(days, start, end, text.strip())


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from None


def parse_local(text: str) -> datetime:
    """A wall-clock date-time without zone: 2026-12-20T00:00, 2026-12-20 00:00 or 2026-12-20."""
    if not _LOCAL.match(text):
        raise ValueError(
            f"{text!r} is not a date and time: write YYYY-MM-DDTHH:MM, like 2026-12-20T00:00 "
            "(no offset: set the freeze's `timezone`)"
        )
    try:
        return datetime.fromisoformat(text)
    except ValueError as error:
        raise ValueError(f"{text!r} is not a real date and time: {error}") from None


_STRICT = ConfigDict(strict=True, frozen=True, extra="forbid")


def check_window(text: str) -> str:
    parse_window(text)
    return text


def check_allow(windows: list[str]) -> list[str]:
    if not windows:
        raise ValueError(
            "allow lists no window, so the alias could never move: list at least one, "
            "like 'mon-fri 09:00-17:00' (to stop every move for a while, declare a freeze)"
        )
    return windows


def check_timezone(name: str) -> str:
    zone(name)
    return name


def check_local_time(text: str) -> str:
    parse_local(text)
    return text


TimeZoneName = Annotated[
    str,
    AfterValidator(check_timezone),
    Field(description="An IANA time zone, such as Europe/Berlin; default UTC."),
]
LocalTime = Annotated[
    str,
    AfterValidator(check_local_time),
    Field(description="Wall-clock date and time in the freeze's timezone: 2026-12-20T00:00."),
]


class Windows(BaseModel):
    """When this alias may move: local weekly spans, [start, end)."""

    model_config = _STRICT
    allow: Annotated[
        list[Annotated[str, AfterValidator(check_window)]], AfterValidator(check_allow)
    ]
    timezone: TimeZoneName = "UTC"


class Freeze(BaseModel):
    """A span of time in which no alias may move (drift healing excepted)."""

    model_config = _STRICT
    name: str = Field(min_length=1, description="Named in the plan's problem.")
    from_: LocalTime = Field(alias="from")
    to: LocalTime = Field(description="The end, exclusive: moves may resume at this time.")
    timezone: TimeZoneName = "UTC"
    reason: str | None = Field(default=None, description="Shown beside the freeze's name.")


def freeze_issues(freezes: Sequence[Freeze], source: SourceMap) -> list[SpecIssue]:
    """A freeze must end after it starts; two freezes of one name make its problems ambiguous."""
    issues = []
    first: dict[str, int] = {}
    for index, freeze in enumerate(freezes):
        start, end = parse_local(freeze.from_), parse_local(freeze.to)
        if end <= start:
            issues.append(
                SpecIssue(
                    source.locate(("freezes", index, "to")),
                    f"freeze {freeze.name!r} ends ({freeze.to}) at or before it starts "
                    f"({freeze.from_}): `to` must be after `from`",
                )
            )
        if freeze.name in first:
            line = source.locate(("freezes", first[freeze.name], "name")).line
            where = source.locate(("freezes", index, "name"))
            issues.append(
                SpecIssue(where, f"freeze {freeze.name!r} is declared twice (first at line {line})")
            )
        first.setdefault(freeze.name, index)
    return issues


# A soak time: a whole number and a unit. Months and weeks are left out on purpose
# ("1M" reads as a minute to some and a month to others).
DURATION_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_DURATION = re.compile(r"\s*([-+]?[0-9.]+)\s*([A-Za-z]*)\s*")
_DURATION_HINT = "write a whole number and a unit (m, h or d), like 90m, 36h or 2d"


def check_duration(value: object) -> str:
    """A soak time as written (`24h`), checked; `duration()` reads it."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {str(value).lower()}: {_DURATION_HINT}")
    if not isinstance(value, int | float | str):
        raise ValueError(f"expected a duration, got {describe_kind(value)}: {_DURATION_HINT}")
    if not isinstance(value, str):
        raise ValueError(f"{value!r} has no unit: {_DURATION_HINT}")
    match = _DURATION.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not a duration: {_DURATION_HINT}")
    number, unit = match.groups()
    if not unit:
        raise ValueError(f"{value!r} has no unit: {_DURATION_HINT}")
    if unit not in DURATION_UNITS:
        raise ValueError(
            f"unknown unit {unit!r} in {value!r}: use m (minutes), h (hours) or d (days)"
        )
    if not re.fullmatch(r"[-+]?[0-9]+", number):
        raise ValueError(f"{value!r} is not a whole number: {_DURATION_HINT}")
    if int(number) <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return value.strip()


def duration(text: str) -> timedelta:
    match = _DURATION.fullmatch(text)
    if match is None:  # check_duration already refused it
        raise ValueError(f"not a duration: {text!r}")
    return int(match.group(1)) * DURATION_UNITS[match.group(2)]
