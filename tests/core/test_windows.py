"""Promotion windows and freezes at fixed instants: the clock is a parameter, never read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from controller.core.change import Action, Change
from controller.core.plan import Drift
from controller.core.windows import promotions, verdicts
from controller.desired.spec import Policy
from controller.desired.timespec import Freeze, parse_days, parse_window

BERLIN_WEEK = {"allow": ["mon-thu 09:00-16:00"], "timezone": "Europe/Berlin"}
CHAMPION = Change("bikes", "champion", Action.UPDATE, 2, 3)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def policies(**windows: Any) -> dict[str, Policy]:
    return {alias: Policy.model_validate({"windows": spec}) for alias, spec in windows.items()}


def freeze(**fields: Any) -> Freeze:
    return Freeze.model_validate({"name": "year-end", **fields})


def messages(
    now: str, *, windows: Any = None, freezes: tuple[Freeze, ...] = (), change: Change = CHAMPION
) -> list[str]:
    rules = policies(champion=windows) if windows else {}
    return verdicts(rules, freezes, [change], utc(now))


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon", {0}),
        ("mon-thu", {0, 1, 2, 3}),
        ("fri-mon", {4, 5, 6, 0}),  # a range wraps over the weekend
        ("sat,sun", {5, 6}),
        ("Mon-Wed,FRI", {0, 1, 2, 4}),
        ("sun-sun", {6}),
    ],
)
def test_day_ranges(text: str, days: set[int]) -> None:
    assert parse_days(text) == days


def test_a_window_runs_to_the_end_of_the_day_with_24_00() -> None:
    window = parse_window("sat 22:00-24:00")
    assert window.contains(5, 23 * 60 + 59)
    assert not window.contains(6, 0)


# 2026-11-26 is a Thursday; Berlin is on CET (UTC+1) in November.
@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-26T08:00", []),  # 09:00 CET: the start is inside
        ("2026-11-26T14:59", []),  # 15:59 CET
        (
            "2026-11-26T15:00",  # 16:00 CET: the end is outside; Friday to Sunday are closed
            [
                "bikes@champion: outside its promotion window (mon-thu 09:00-16:00 "
                "Europe/Berlin); next opens 2026-11-30 09:00 CET"
            ],
        ),
        (
            "2026-11-23T07:59",  # Monday 08:59 CET: opens the same day
            [
                "bikes@champion: outside its promotion window (mon-thu 09:00-16:00 "
                "Europe/Berlin); next opens 2026-11-23 09:00 CET"
            ],
        ),
    ],
)
def test_window_in_berlin(now: str, expected: list[str]) -> None:
    assert messages(now, windows=BERLIN_WEEK) == expected


def test_next_opening_a_week_ahead_when_the_only_window_just_closed() -> None:
    weekly = {"allow": ["mon 09:00-10:00"]}  # UTC by default
    assert messages("2026-11-30T10:00", windows=weekly) == [
        "bikes@champion: outside its promotion window (mon 09:00-10:00 UTC); "
        "next opens 2026-12-07 09:00 UTC"
    ]


def test_wrapping_window_opens_on_friday_and_covers_the_weekend() -> None:
    weekend = {"allow": ["fri-mon 10:00-11:00"]}
    assert messages("2026-11-24T12:00", windows=weekend) == [  # a Tuesday
        "bikes@champion: outside its promotion window (fri-mon 10:00-11:00 UTC); "
        "next opens 2026-11-27 10:00 UTC"
    ]
    assert messages("2026-11-29T10:30", windows=weekend) == []  # Sunday


def test_the_earliest_of_several_windows_is_named() -> None:
    two = {"allow": ["mon-thu 09:00-16:00", "fri 09:00-12:00"], "timezone": "Europe/Berlin"}
    assert messages("2026-11-27T10:00", windows=two) == []  # Friday 11:00 CET
    assert messages("2026-11-26T15:30", windows=two) == [
        "bikes@champion: outside its promotion window (mon-thu 09:00-16:00, fri 09:00-12:00 "
        "Europe/Berlin); next opens 2026-11-27 09:00 CET"
    ]


# Europe/Berlin in 2026: CET -> CEST on 29 March at 02:00, CEST -> CET on 25 October at 03:00.
def test_next_opening_across_spring_forward_is_in_summer_time() -> None:
    weekdays = {"allow": ["mon-fri 09:00-16:00"], "timezone": "Europe/Berlin"}
    assert messages("2026-03-27T15:30", windows=weekdays) == [  # Friday 16:30 CET
        "bikes@champion: outside its promotion window (mon-fri 09:00-16:00 Europe/Berlin); "
        "next opens 2026-03-30 09:00 CEST"
    ]
    assert messages("2026-03-30T07:00", windows=weekdays) == []  # 09:00 CEST
    assert messages("2026-03-30T14:30", windows=weekdays) != []  # 16:30 CEST (15:30 in CET)


def test_a_window_starting_in_the_spring_forward_gap_opens_when_the_clock_jumps() -> None:
    night = {"allow": ["sun 02:30-04:00"], "timezone": "Europe/Berlin"}
    assert messages("2026-03-29T00:00", windows=night) == [  # 01:00 CET
        "bikes@champion: outside its promotion window (sun 02:30-04:00 Europe/Berlin); "
        "next opens 2026-03-29 03:30 CEST"
    ]
    assert messages("2026-03-29T01:30", windows=night) == []  # 03:30 CEST


def test_next_opening_across_fall_back_is_in_winter_time() -> None:
    weekdays = {"allow": ["mon-fri 09:00-16:00"], "timezone": "Europe/Berlin"}
    assert messages("2026-10-23T14:30", windows=weekdays) == [  # Friday 16:30 CEST
        "bikes@champion: outside its promotion window (mon-fri 09:00-16:00 Europe/Berlin); "
        "next opens 2026-10-26 09:00 CET"
    ]
    assert messages("2026-10-26T08:00", windows=weekdays) == []  # 09:00 CET


def test_a_window_in_the_repeated_hour_opens_at_its_first_occurrence() -> None:
    night = {"allow": ["sun 02:00-03:00"], "timezone": "Europe/Berlin"}
    assert messages("2026-10-24T12:00", windows=night) == [
        "bikes@champion: outside its promotion window (sun 02:00-03:00 Europe/Berlin); "
        "next opens 2026-10-25 02:00 CEST"
    ]


YEAR_END = freeze(
    **{"from": "2026-12-20T00:00", "to": "2027-01-05T00:00"},
    timezone="Europe/Berlin",
    reason="holiday code freeze",
)


@pytest.mark.parametrize(
    ("now", "frozen"),
    [
        ("2026-12-19T22:59", False),  # 23:59 CET, the day before
        ("2026-12-19T23:00", True),  # 00:00 CET: `from` is inside
        ("2027-01-04T22:59", True),
        ("2027-01-04T23:00", False),  # 00:00 CET: `to` is outside
    ],
)
def test_freeze_in_its_time_zone(now: str, frozen: bool) -> None:
    expected = [
        "bikes@champion: frozen by 'year-end' (holiday code freeze) until 2027-01-05 00:00 CET"
    ]
    assert messages(now, freezes=(YEAR_END,)) == (expected if frozen else [])


def test_freeze_without_time_zone_is_utc_and_without_reason_says_only_its_name() -> None:
    plain = freeze(**{"from": "2026-12-20", "to": "2027-01-05 00:00"})
    assert messages("2026-12-19T23:30", freezes=(plain,)) == []
    assert messages("2026-12-20T00:00", freezes=(plain,)) == [
        "bikes@champion: frozen by 'year-end' until 2027-01-05 00:00 UTC"
    ]


def test_a_freeze_stops_aliases_without_a_policy_and_deletes() -> None:
    delete = Change("bikes", "shadow", Action.DELETE, 2, None)
    assert messages("2026-12-24T12:00", freezes=(YEAR_END,), change=delete) == [
        "bikes@shadow: frozen by 'year-end' (holiday code freeze) until 2027-01-05 00:00 CET"
    ]


def test_frozen_and_outside_the_window_reports_both() -> None:
    found = messages("2026-12-26T12:00", windows=BERLIN_WEEK, freezes=(YEAR_END,))  # Saturday
    assert [m.split(": ", 1)[1].split(" ", 2)[:2] for m in found] == [
        ["frozen", "by"],
        ["outside", "its"],
    ]


def test_delete_of_a_windowed_alias_is_blocked_outside_the_window() -> None:
    delete = Change("bikes", "champion", Action.DELETE, 2, None)
    assert messages("2026-11-28T12:00", windows=BERLIN_WEEK, change=delete) != []


def test_an_alias_without_windows_may_move_any_time() -> None:
    other = Change("bikes", "challenger", Action.CREATE, None, 4)
    assert messages("2026-11-28T12:00", windows=BERLIN_WEEK, change=other) == []


def test_healing_drift_is_not_a_promotion() -> None:
    healed = Change("bikes", "champion", Action.UPDATE, 5, 3)  # moved by hand to 5, back to 3
    promoted = Change("bikes", "champion", Action.UPDATE, 5, 4)  # and the file now says 4
    drift = [Drift("bikes", "champion", recorded=3, live=5)]
    assert promotions([healed], drift) == []
    assert promotions([promoted], drift) == [promoted]
    recreated = Change("bikes", "champion", Action.CREATE, None, 3)  # deleted by hand
    assert promotions([recreated], [Drift("bikes", "champion", recorded=3, live=None)]) == []


def test_now_must_carry_a_time_zone() -> None:
    with pytest.raises(ValueError, match="aware"):
        verdicts({}, (YEAR_END,), [CHAMPION], datetime(2026, 12, 24, 12))


def test_during_a_freeze_the_window_names_its_first_opening_after_the_thaw() -> None:
    two = {"allow": ["mon-thu 09:00-16:00", "fri 09:00-12:00"], "timezone": "Europe/Berlin"}
    found = messages("2027-01-02T12:00", windows=two, freezes=(YEAR_END,))  # a Saturday
    assert found[1].endswith("next opens 2027-01-05 09:00 CET")  # not Monday the 4th, frozen
    whole_day = {"allow": ["mon-sun 00:00-24:00"], "timezone": "Europe/Berlin"}
    # Open all day, and so at the thaw itself: no window problem then, but the freeze.
    assert len(messages("2027-01-02T12:00", windows=whole_day, freezes=(YEAR_END,))) == 1


def test_a_freeze_ending_inside_a_window_reopens_at_its_end() -> None:
    short = freeze(
        **{"from": "2027-01-02T00:00", "to": "2027-01-05T10:00"}, timezone="Europe/Berlin"
    )
    found = messages("2027-01-02T12:00", windows=BERLIN_WEEK, freezes=(short,))
    assert found[1].endswith("next opens 2027-01-05 10:00 CET")
