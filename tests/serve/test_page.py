"""The status page as HTML: content, escaping, empty states (the browser test renders it)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from html import unescape
from html.parser import HTMLParser

import pytest

from controller.registry.seam import ServerVersion
from controller.serve.page import EVENTS_SHOWN, render_page
from controller.serve.status import AliasState, Event, EventKind
from controller.serve.webhook_support import webhook_support
from tests.support.page_samples import HOSTILE, LONG, NOW, SHA, failing, fresh, many, realistic

ROW = re.compile(r'<tr class=alias data-state=(\w+) data-key="([^"]*)">(.*?)</tr>')


def section(html: str, name: str) -> str:
    """The text of one <section id=...> as a reader sees it (tags dropped, entities decoded)."""
    match = re.search(rf"<section id={name}\b.*?</section>", html, re.DOTALL)
    assert match, f"no section {name}"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", match[0])).split())


def rows(html: str, name: str) -> dict[str, tuple[str, str]]:
    """Alias rows of a section: key -> (state, the row's text)."""
    match = re.search(rf"<section id={name}\b.*?</section>", html, re.DOTALL)
    assert match
    found = {}
    for state, key, cells in ROW.findall(match[0]):
        found[unescape(key)] = (state, " ".join(unescape(re.sub(r"<[^>]+>", " ", cells)).split()))
    return found


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_page_is_a_phone_sized_page_with_no_script() -> None:
    html = render_page(realistic(), NOW)
    assert html.startswith("<!doctype html>")
    assert '<meta name=viewport content="width=device-width, initial-scale=1">' in html
    assert '<meta http-equiv=refresh content="30">' in html
    assert "@media (max-width:40rem)" in html  # the table turns into cards
    parser = Tags()
    parser.feed(html)
    assert "script" not in parser.tags
    assert not re.search(r"\son\w+=", html)  # no inline handlers either


def test_health_comes_first_and_says_everything_an_operator_asks() -> None:
    html = render_page(realistic(), NOW)
    order = [html.index(f"<section id={name}") for name in ("health", "counts", "aliases")]
    assert order == sorted(order)
    health = section(html, "health")
    assert 'data-ready="true"' in html
    for expected in (
        "Ready",
        "Last cycle: 1 change held back by a gate",
        "Last cycle blocked 40 s ago 18:29:20 UTC",
        "Last success 40 s ago",
        "Registry https://mlflow.example.invalid/",
        "Instance prod-eu",
        "Mode heals drift, resync every 5 min",
        f"File deploy/aliases.yaml at {SHA[:7]}",
        "Running 2 d 5 h, 612 cycles",
        "Webhooks webhooks available on MLflow 3.17.2: signed deliveries accepted, and a "
        "full reconcile every 300 s",
    ):
        assert expected in health
    assert "<title>aliasctl · ready · 1 drifted</title>" in html


@pytest.mark.parametrize(
    ("version", "secret", "word", "shown"),
    [
        (
            ServerVersion(2, 16, 2),
            True,
            '<span class="word info">polling</span>',
            "Webhooks polling not available on MLflow 2.16.2 (they need 3.3 or later): "
            "polling every 300 s",
        ),
        (
            ServerVersion(3, 17, 2),
            False,
            '<span class="word warn">deliveries refused</span>',
            "Webhooks deliveries refused available on MLflow 3.17.2, but "
            "ALIASCTL_WEBHOOK_SECRET is not set, so every delivery is refused",
        ),
    ],
)
def test_health_says_whether_webhooks_come_or_the_controller_polls(
    version: ServerVersion, secret: bool, word: str, shown: str
) -> None:
    support = webhook_support("https", True, version, secret_set=secret, interval_seconds=300)
    html = render_page(replace(realistic(), webhooks=support), NOW)
    assert word in html
    assert shown in section(html, "health")


def test_no_webhooks_row_before_the_controller_said() -> None:
    assert "Webhooks" not in section(render_page(fresh(), NOW), "health")


def test_counts_per_state() -> None:
    counts = section(render_page(realistic(), NOW), "counts")
    assert counts == "7 aliases 2 ✓ in sync 1 ≠ drifted 0 ‖ held 1 ⊘ blocked 3 → pending"


def test_every_alias_with_versions_state_and_reason() -> None:
    snapshot = realistic()
    shown = rows(render_page(snapshot, NOW), "aliases")
    assert set(shown) == {a.key for a in snapshot.aliases}
    assert shown["churn-classifier@champion"] == ("in_sync", "champion v7 v7 ✓ in sync")
    assert shown["churn-classifier@challenger"] == (
        "pending",
        "challenger v9 v8 → pending warn mode",
    )
    assert shown["fraud-detector@champion"] == (
        "drifted",
        "champion v4 v6 ≠ drifted moved outside aliasctl",
    )
    assert shown["fraud-detector@shadow"] == (
        "pending",
        "shadow not declared v2 → pending no longer declared",
    )
    assert shown["search-ranker@production"][0] == "blocked"
    assert (
        "⊘ blocked evidence: ndcg@10 0.412 below the floor 0.420"
        in (shown["search-ranker@production"][1])
    )
    assert shown[f"{HOSTILE}@prod"][1].startswith("prod v3 not set → pending")


def test_every_state_has_a_word_a_sign_and_a_class() -> None:
    html = render_page(realistic(), NOW)
    for state, word in (
        (AliasState.IN_SYNC, "✓ in sync"),
        (AliasState.DRIFTED, "≠ drifted"),
        (AliasState.PENDING, "→ pending"),
        (AliasState.BLOCKED, "⊘ blocked"),
    ):
        assert f'<span class="state {state}">{word}</span>' in html
        assert f".state.{state}{{color:" in html  # and a colour of its own


def test_attention_lists_what_is_not_in_sync_worst_first() -> None:
    shown = rows(render_page(realistic(), NOW), "attention")
    assert [state for state, _ in shown.values()] == [
        "drifted",
        "blocked",
        "pending",
        "pending",
        "pending",
    ]
    assert section(render_page(realistic(), NOW), "attention").startswith("Needs attention (5)")


def test_no_attention_section_when_all_is_in_sync() -> None:
    snapshot = realistic()
    synced = tuple(replace(a, state=AliasState.IN_SYNC, reason="") for a in snapshot.aliases)
    html = render_page(replace(snapshot, aliases=synced), NOW)
    assert "<section id=attention" not in html
    assert section(html, "counts").startswith("7 aliases 7 ✓ in sync 0")


def test_each_model_shows_its_last_applied_commit_and_when() -> None:
    aliases = section(render_page(realistic(), NOW), "aliases")
    assert f"churn-classifier applied {SHA[:7]} 12 min ago 18:18:00 UTC" in aliases
    assert "fraud-detector applied 9a8b7c6 6 d 9 h ago 2026-11-20 09:00 UTC" in aliases
    assert "search-ranker no apply recorded" in aliases
    assert f"{LONG} applied {SHA[:7]} not a time" in aliases  # a time that does not parse
    assert f'<code title="{SHA}">{SHA[:7]}</code>' in render_page(realistic(), NOW)


def test_user_data_is_escaped_everywhere() -> None:
    html = render_page(realistic(), NOW)
    assert "<script" not in html
    assert "<b>tags</b>" not in html
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;&#x27;q" in html
    parser = Tags()
    parser.feed(html)
    text = "".join(parser.text)
    assert HOSTILE in text  # shown as text, exactly
    assert 'reason with <b>tags</b> & "q"' in text
    assert f"search-ranker@production: {HOSTILE} gate refused" in text


def test_hostile_instance_registry_file_and_error_are_escaped() -> None:
    evil = '"><img src=x onerror=alert(1)>'
    snapshot = replace(
        failing(), instance=evil, registry=evil, file=evil, last_error=evil, commit=evil
    )
    html = render_page(snapshot, NOW)
    assert "<img" not in html
    assert html.count("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;") >= 5


def test_problems_the_last_plan_refused() -> None:
    html = render_page(realistic(), NOW)
    assert section(html, "problems") == (
        f"Refused by the last plan (1) search-ranker@production: {HOSTILE} gate refused"
    )
    assert "<section id=problems" not in render_page(replace(realistic(), problems=()), NOW)


def test_events_newest_first_with_times() -> None:
    snapshot = realistic()
    shuffled = replace(snapshot, events=tuple(reversed(snapshot.events)))
    events = section(render_page(shuffled, NOW), "events")
    assert events == (
        "Recent events"
        f" 40 s ago 18:29:20 UTC drift found fraud-detector@champion v4 → v6 at {SHA[:7]}"
        " moved outside aliasctl"
        f" 12 min ago 18:18:00 UTC drift healed churn-classifier@champion v6 → v7 at {SHA[:7]}"
        f" 2 h ago 16:30:00 UTC alias moved {LONG}@champion v11 → v12 at {SHA[:7]}"
        " 1 d 3 h ago 2026-11-25 15:30 UTC cycle failed registry unreachable: connection refused"
    )


def test_only_the_last_few_events() -> None:
    burst = tuple(
        Event(EventKind.ALIAS_MOVED, NOW - timedelta(minutes=i), "m", f"a{i}", 1, 2)
        for i in range(EVENTS_SHOWN + 5)
    )
    html = render_page(replace(realistic(), events=burst), NOW)
    assert html.count('<li data-kind="alias_moved">') == EVENTS_SHOWN
    events = section(html, "events")
    newest = [events.index(f"m@a{i} v1") for i in range(EVENTS_SHOWN)]
    assert newest == sorted(newest)
    assert f"m@a{EVENTS_SHOWN} v1" not in events


def test_fresh_controller_before_its_first_cycle() -> None:
    html = render_page(fresh(), NOW)
    health = section(html, "health")
    assert 'data-ready="false"' in html
    assert "Not ready" in health
    assert "Last cycle none yet; started 3 s ago" not in health  # 3 s is "just now"
    assert "Last cycle none yet; started just now 18:29:57 UTC" in health
    assert "Last success never" in health
    assert "File aliases.yaml at no commit" in health
    assert "Mode warns on drift, resync every 1 min" in health
    assert "<section id=counts" not in html
    assert section(html, "aliases") == "Aliases Waiting for the first cycle."
    assert section(html, "events") == "Events No events yet."
    assert "<section id=problems" not in html
    assert "<section id=attention" not in html


def test_a_cycle_that_found_no_aliases() -> None:
    snapshot = replace(
        realistic(), aliases=(), last_applied={}, problems=(), events=(), last_error=""
    )
    html = render_page(snapshot, NOW)
    assert section(html, "aliases") == "Aliases The file declares no aliases for this instance."


def test_failing_controller_shows_the_error_and_that_it_is_overdue() -> None:
    html = render_page(failing(), NOW)
    health = section(html, "health")
    assert 'data-ready="false"' in html
    assert "Not ready" in health
    assert "Last error: registry unreachable: <timeout> after 30 s" in health
    assert "Last cycle failed 20 min ago 18:10:00 UTC overdue" in health
    assert "Last success 3 h ago 15:30:00 UTC overdue" in health
    assert '<p class="error">' in html


def test_a_recent_failure_is_not_overdue() -> None:
    recent = NOW - timedelta(minutes=14)  # less than 3 intervals
    snapshot = replace(failing(), last_cycle_at=recent, last_success_at=recent)
    assert "overdue" not in section(render_page(snapshot, NOW), "health")


def test_cycles_that_keep_failing_make_the_last_success_overdue() -> None:
    snapshot = replace(failing(), last_cycle_at=NOW - timedelta(seconds=10))
    health = section(render_page(snapshot, NOW), "health")
    assert "Last cycle failed 10 s ago 18:29:50 UTC Last success" in health  # running...
    assert "Last success 3 h ago 15:30:00 UTC overdue" in health  # ...but not succeeding


def test_never_succeeded_since_a_start_long_ago_is_overdue() -> None:
    snapshot = replace(failing(), last_success_at=None)
    assert "Last success never overdue" in section(render_page(snapshot, NOW), "health")


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(45, "45 s"), (90, "1 min 30 s"), (300, "5 min"), (5400, "1 h 30 min"), (43200, "12 h")],
)
def test_interval_in_words(seconds: float, shown: str) -> None:
    snapshot = replace(realistic(), interval_seconds=seconds)
    assert f"Mode heals drift, resync every {shown}" in section(
        render_page(snapshot, NOW), "health"
    )


def test_naive_now_is_taken_as_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert render_page(realistic(), naive) == render_page(realistic(), NOW)


def test_ten_thousand_aliases_all_on_the_page() -> None:
    snapshot = many(10_000)
    html = render_page(snapshot, NOW)
    assert len(rows(html, "aliases")) == 10_000
    off = sum(1 for a in snapshot.aliases if a.state is not AliasState.IN_SYNC)
    assert len(rows(html, "attention")) == off == 600
    assert html.count("<tbody data-model=") == 5_000


def test_every_kind_of_event_renders_with_a_colour() -> None:
    """Analysis events reach the snapshot too (serve/analysis.py): none may break the page."""
    every = tuple(
        Event(kind, NOW - timedelta(minutes=i), "m", "a", 1, 2) for i, kind in enumerate(EventKind)
    )
    html = render_page(replace(realistic(), events=every), NOW)
    for kind in EventKind:
        assert re.search(rf'<li data-kind="{kind}">.*?<span class="word (ok|bad|warn|info)">', html)


def test_a_held_alias_shows_its_hold() -> None:
    held = replace(
        realistic().aliases[0],
        desired=4,
        live=3,
        state=AliasState.HELD,
        reason="held at 3: version 4 failed analysis, rolled back",
    )
    html = render_page(replace(realistic(), aliases=(held,)), NOW)
    assert rows(html, "attention")[held.key] == (
        "held",
        f"{held.key} v4 v3 ‖ held held at 3: version 4 failed analysis, rolled back",
    )
    assert section(html, "counts").startswith("1 aliases 0 ✓ in sync 0 ≠ drifted 1 ‖ held")
