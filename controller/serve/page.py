"""The status page (`GET /`): one Snapshot as server-rendered HTML, no JavaScript.

Pure: the snapshot and the clock in, a string out, so the page is tested without a server.
Everything that comes from the file, the registry or an error message is escaped. Rows are
built as strings and joined once: 10,000 aliases render in linear time. Under 40rem the
alias table becomes one card per alias, so a phone never scrolls sideways.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Generic, TypeVar

from controller.serve.page_style import CSS
from controller.serve.status import AliasState, CycleOutcome, EventKind
from controller.serve.webhook_support import Availability

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from controller.core.problem import Problem
    from controller.serve.status import AliasStatus, Applied, Event, Snapshot

REFRESH_SECONDS = 30
EVENTS_SHOWN = 20
STALE_INTERVALS = 3  # as the documented alert: no successful reconcile for 3 intervals
DRIFT_MODES = {"heal": "heals drift", "warn": "warns on drift"}

# Each state has a word and a sign besides its colour: the page reads in greyscale too.
STATE_TEXT = {
    AliasState.IN_SYNC: ("in sync", "\u2713"),  # check mark
    AliasState.DRIFTED: ("drifted", "\u2260"),  # not equal: live is not what was set
    AliasState.PENDING: ("pending", "\u2192"),  # arrow: a change still to apply
    AliasState.BLOCKED: ("blocked", "\u2298"),  # circled slash: held by a gate
    AliasState.HELD: ("held", "\u2016"),  # double bar (pause): kept off a failed version
}
# Attention first: the counts and the attention list read worst to best.
STATE_ORDER = (
    AliasState.DRIFTED,
    AliasState.HELD,
    AliasState.BLOCKED,
    AliasState.PENDING,
    AliasState.IN_SYNC,
)
OUTCOME_CLASS = {
    CycleOutcome.SUCCESS: "ok",
    CycleOutcome.BLOCKED: "warn",
    CycleOutcome.FAILED: "bad",
}
EVENT_CLASS = {
    EventKind.ALIAS_MOVED: "info",
    EventKind.DRIFT_FOUND: "bad",
    EventKind.DRIFT_HEALED: "ok",
    EventKind.CYCLE_FAILED: "bad",
    EventKind.CYCLE_RECOVERED: "ok",
    EventKind.ANALYSIS_PASSED: "ok",
    EventKind.ROLLED_BACK: "bad",
    EventKind.ANALYSIS_HELD: "warn",
    EventKind.ANALYSIS_STUCK: "bad",
    EventKind.HOLD_FOUND: "bad",
    EventKind.HOLD_LIFTED: "ok",
    EventKind.VERSION_COPIED: "info",
}


def render_page(snapshot: Snapshot, now: datetime) -> str:
    """The whole page for `snapshot` as seen at `now` (aware; naive is taken as UTC)."""
    now = _utc(now)
    s = snapshot
    drifted = s.count(AliasState.DRIFTED)
    title = f"aliasctl \u00b7 {'ready' if s.ready else 'not ready'}"
    if drifted:
        title += f" \u00b7 {drifted} drifted"
    parts = [
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>",
        '<meta name=viewport content="width=device-width, initial-scale=1">',
        f'<meta http-equiv=refresh content="{REFRESH_SECONDS}">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>",
        _header(s, now),
        _counts(s),
        _problems(s.problems),
        _attention(s.aliases),
        _aliases(s, now),
        _events(s.events, now),
        f"<footer>Rendered {_clock(now, now)}; refreshes every {REFRESH_SECONDS} s.</footer>",
        "</main></body></html>\n",
    ]
    return "".join(parts)


def _header(s: Snapshot, now: datetime) -> str:
    if s.ready:
        badge = '<span class="badge ok">\u2713 Ready</span>'
    else:
        badge = '<span class="badge bad">\u2715 Not ready</span>'
    if s.last_cycle_at is None or s.last_outcome is None:
        last = f"none yet; started {_when(s.started_at, now)}"
    else:
        outcome = f'<span class="word {OUTCOME_CLASS[s.last_outcome]}">{_e(s.last_outcome)}</span>'
        last = f"{outcome} {_when(s.last_cycle_at, now)}"
        if _stale(s.last_cycle_at, s, now):  # the loop itself may be stuck
            last += ' <span class="word bad">overdue</span>'
    success = _when(s.last_success_at, now)
    if s.last_outcome is not None and _stale(s.last_success_at or s.started_at, s, now):
        success += ' <span class="word bad">overdue</span>'  # what the alert rule fires on
    mode = DRIFT_MODES.get(s.drift_mode, s.drift_mode)
    rows = [
        ("Last cycle", last),
        ("Last success", success),
        ("Registry", f"<code>{_e(s.registry)}</code>"),
        ("Instance", _e(s.instance)),
        ("Mode", f"{_e(mode)}, resync every {_duration(s.interval_seconds)}"),
        *_webhooks_row(s),
        ("File", f"<code>{_e(s.file)}</code> at {_sha(s.commit)}"),
        ("Running", f"{_duration(_age(s.started_at, now))}, {s.cycles:,} cycles"),
    ]
    error = ""
    if s.last_error and not s.ready:
        error = f'<p class="error"><b>Last error:</b> {_e(s.last_error)}</p>'
    elif s.last_error:  # a refusal by the gates: worth showing, not alarming
        error = f'<p class="note"><b>Last cycle:</b> {_e(s.last_error)}</p>'
    items = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in rows)
    ready = "true" if s.ready else "false"
    return (
        f'<section id=health data-ready="{ready}"><header><h1>aliasctl <span class=inst>'
        f"{_e(s.instance)}</span></h1>{badge}</header>{error}<dl class=health>{items}</dl>"
        "</section>"
    )


def _webhooks_row(s: Snapshot) -> list[tuple[str, str]]:
    """Webhooks, or polling alone (a way of working, not a fault); a missing secret warns."""
    w = s.webhooks
    if w is None:
        return []
    if w.worrying:
        word, cls = "deliveries refused", "warn"
    elif w.availability is Availability.AVAILABLE:
        word, cls = "webhooks", "ok"
    else:
        word, cls = "polling", "info"
    return [
        (
            "Webhooks",
            f'<span data-webhooks="{w.availability}"><span class="word {cls}">{word}</span> '
            f"{_e(w.summary)}</span>",
        )
    ]


def _stale(moment: datetime, s: Snapshot, now: datetime) -> bool:
    return _age(moment, now) > STALE_INTERVALS * s.interval_seconds


def _counts(s: Snapshot) -> str:
    if not s.aliases:
        return ""
    counts = dict.fromkeys(AliasState, 0)
    for a in s.aliases:
        counts[a.state] += 1
    boxes = "".join(
        f'<li class="count {state}{"" if counts[state] else " zero"}" data-state="{state}">'
        f"<b>{counts[state]:,}</b><span>{STATE_TEXT[state][1]} {STATE_TEXT[state][0]}</span></li>"
        for state in (AliasState.IN_SYNC, *STATE_ORDER[:-1])
    )
    total = len(s.aliases)
    return f'<section id=counts><h2>{total:,} aliases</h2><ul class="counts">{boxes}</ul></section>'


def _problems(problems: tuple[Problem, ...]) -> str:
    if not problems:
        return ""
    items = "".join(f"<li>{_e(p.text)}</li>" for p in problems)
    return (
        f"<section id=problems><h2>Refused by the last plan ({len(problems):,})</h2>"
        f'<ul class="problems">{items}</ul></section>'
    )


def _attention(aliases: tuple[AliasStatus, ...]) -> str:
    rank = {state: i for i, state in enumerate(STATE_ORDER)}
    off = sorted(
        (a for a in aliases if a.state is not AliasState.IN_SYNC), key=lambda a: rank[a.state]
    )
    if not off:
        return ""
    esc = _Memo(_e)
    rows = "".join(_row(a, esc(a.model) + "@" + esc(a.alias), esc) for a in off)
    return (
        f"<section id=attention><h2>Needs attention ({len(off):,})</h2>"
        f"<table class=aliases>{THEAD}<tbody>{rows}</tbody></table></section>"
    )


def _aliases(s: Snapshot, now: datetime) -> str:
    if not s.aliases:
        why = (
            "Waiting for the first cycle."
            if s.last_cycle_at is None
            else "The file declares no aliases for this instance."
        )
        return f'<section id=aliases><h2>Aliases</h2><p class="empty">{why}</p></section>'
    by_model: dict[str, list[AliasStatus]] = {}
    for a in s.aliases:
        by_model.setdefault(a.model, []).append(a)
    # Alias names, reasons and apply stamps repeat across models: escape and format each once.
    esc = _Memo(_e)
    stamps: _Memo[Applied | None, str] = _Memo(lambda applied: _applied(applied, now))
    groups = "".join(
        _model_group(model, rows, stamps(s.last_applied.get(model)), esc)
        for model, rows in by_model.items()
    )
    return (
        f"<section id=aliases><h2>Models and aliases ({len(by_model):,} models)</h2>"
        f"<table class=aliases>{THEAD}{groups}</table></section>"
    )


THEAD = (
    "<thead><tr><th>Alias</th><th>Desired</th><th>Live</th><th>State</th><th>Reason</th>"
    "</tr></thead>"
)
STATE_CELL = {
    state: f'<td class=st><span class="state {state}">{sign} {word}</span></td>'
    for state, (word, sign) in STATE_TEXT.items()
}


K = TypeVar("K")
V = TypeVar("V")


class _Memo(Generic[K, V]):
    """A function's results kept for one render (the dict dies with the page)."""

    def __init__(self, function: Callable[[K], V]) -> None:
        self.function = function
        self.seen: dict[K, V] = {}

    def __call__(self, key: K) -> V:
        value = self.seen.get(key)
        if value is None:
            value = self.seen[key] = self.function(key)
        return value


def _applied(applied: Applied | None, now: datetime) -> str:
    if applied is None or (applied.commit is None and applied.applied_at is None):
        return "no apply recorded"
    return f"applied {_sha(applied.commit)} {_stamp_when(applied.applied_at, now)}"


def _model_group(model: str, rows: list[AliasStatus], stamp: str, esc: _Memo[str, str]) -> str:
    name = _e(model)
    head = (
        f"<tr class=model><th colspan=5><span class=mname>{name}</span>"
        f"<span class=applied>{stamp}</span></th></tr>"
    )
    body = "".join(_row(a, esc(a.alias), esc, name) for a in rows)
    return f'<tbody data-model="{name}">{head}{body}</tbody>'


def _row(a: AliasStatus, label: str, esc: _Memo[str, str], model: str = "") -> str:
    """One alias; `label` and `model` come escaped (the key is built from escaped parts)."""
    key = f"{model or esc(a.model)}@{esc(a.alias)}"
    live = "v diff" if a.desired != a.live else "v"
    return (
        f'<tr class=alias data-state={a.state} data-key="{key}"><td class=name>{label}</td>'
        f"<td class=v>{_version(a.desired, esc(a.promoted or 'not declared'))}</td>"
        f'<td class="{live}">{_version(a.live, "not set")}</td>'
        f"{STATE_CELL[a.state]}<td class=why>{esc(a.reason)}</td></tr>"
    )


def _events(events: Iterable[Event], now: datetime) -> str:
    newest = sorted(events, key=lambda e: _utc(e.time), reverse=True)[:EVENTS_SHOWN]
    if not newest:
        return '<section id=events><h2>Events</h2><p class="empty">No events yet.</p></section>'
    items = "".join(_event(e, now) for e in newest)
    return f'<section id=events><h2>Recent events</h2><ol class="events">{items}</ol></section>'


def _event(e: Event, now: datetime) -> str:
    what = ""
    if e.model:
        where = f"{e.model}@{e.alias}" if e.alias else e.model
        what = f" <b>{_e(where)}</b>"
        if e.before is not None or e.after is not None:
            what += f" {_version(e.before, 'none')} \u2192 {_version(e.after, 'none')}"
    commit = f" <span class=meta>at {_sha(e.commit)}</span>" if e.commit else ""
    why = f'<div class="why">{_e(e.reason)}</div>' if e.reason else ""
    word = _e(e.kind.replace("_", " "))
    kind = f'<span class="word {EVENT_CLASS[e.kind]}">{word}</span>'
    return (
        f'<li data-kind="{e.kind}"><span class="meta">{_when(e.time, now)}</span> '
        f"{kind}{what}{commit}{why}</li>"
    )


def _e(text: str) -> str:
    return escape(text, quote=True)


def _version(version: int | None, missing: str) -> str:
    return f'<span class="none">{missing}</span>' if version is None else f"v{version}"


def _sha(commit: str | None) -> str:
    if not commit:
        return '<span class="none">no commit</span>'
    return f'<code title="{_e(commit)}">{_e(commit[:7])}</code>'


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _clock(moment: datetime, now: datetime) -> str:
    """A <time>: the time of day when it is today, else the date too; UTC always."""
    moment = _utc(moment)
    shown = moment.strftime("%H:%M:%S" if moment.date() == now.date() else "%Y-%m-%d %H:%M")
    stamp = moment.isoformat(timespec="seconds")
    return f'<time datetime="{stamp}" title="{stamp}">{shown} UTC</time>'


def _when(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return '<span class="none">never</span>'
    return f"{_ago(moment, now)} <span class=meta>{_clock(moment, now)}</span>"


def _stamp_when(applied_at: str | None, now: datetime) -> str:
    """aliasctl's record keeps its time as text; show it as it is if it does not parse."""
    if not applied_at:
        return ""
    try:
        moment = datetime.fromisoformat(applied_at)
    except ValueError:
        return _e(applied_at)
    return _when(moment, now)


def _age(moment: datetime, now: datetime) -> float:
    return (now - _utc(moment)).total_seconds()


def _ago(moment: datetime, now: datetime) -> str:
    seconds = _age(moment, now)
    if seconds < 5:  # includes a little clock skew between machines
        return "just now"
    return f"{_duration(seconds)} ago"


def _duration(seconds: float) -> str:
    """A span in its largest unit and the next one down: `5 min`, `1 h 30 min`, `12 d`."""
    whole = int(seconds)
    for big, size, small, step in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "min", 60),
        ("min", 60, "s", 1),
    ):
        if whole >= size:
            count, rest = divmod(whole, size)
            rest //= step
            return f"{count} {big}" + (f" {rest} {small}" if rest and count < 10 else "")
    return f"{whole} s"
