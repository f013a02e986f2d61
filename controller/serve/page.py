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

from controller.serve.status import AliasState, CycleOutcome, EventKind

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

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
}
# Attention first: the counts and the attention list read worst to best.
STATE_ORDER = (AliasState.DRIFTED, AliasState.BLOCKED, AliasState.PENDING, AliasState.IN_SYNC)
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
        for state in (AliasState.IN_SYNC, *STATE_ORDER[:3])
    )
    total = len(s.aliases)
    return f'<section id=counts><h2>{total:,} aliases</h2><ul class="counts">{boxes}</ul></section>'


def _problems(problems: tuple[str, ...]) -> str:
    if not problems:
        return ""
    items = "".join(f"<li>{_e(p)}</li>" for p in problems)
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
        f"<td class=v>{_version(a.desired, 'not declared')}</td>"
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
    kind = f'<span class="word {EVENT_CLASS[e.kind]}">{_e(e.kind.replace("_", " "))}</span>'
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


CSS = """
:root{--fg:#1f2328;--mut:#59636e;--bg:#fff;--card:#f6f8fa;--line:#d1d9e0;
--ok:#1a7f37;--okb:#dafbe1;--bad:#cf222e;--badb:#ffebe9;--warn:#9a6700;--warnb:#fff8c5;
--blk:#8250df;--blkb:#fbefff;--info:#0969da;--infob:#ddf4ff}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--mut:#9198a1;--bg:#0d1117;
--card:#151b23;--line:#3d444d;--ok:#3fb950;--okb:#12261e;--bad:#f85149;--badb:#2d1214;
--warn:#d29922;--warnb:#272115;--blk:#ab7df8;--blkb:#231a35;--info:#4493f8;--infob:#121d2f}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,"Liberation Sans","DejaVu Sans",sans-serif}
main{max-width:72rem;margin:0 auto;padding:1rem}
header{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem}
h1{font-size:1.4rem;margin:0}h1 .inst{color:var(--mut);font-weight:400}
h2{font-size:1.05rem;margin:1.6rem 0 .6rem}
code{font:.9em ui-monospace,"DejaVu Sans Mono",monospace;overflow-wrap:anywhere}
.none{color:var(--mut);font-style:italic}
.badge{padding:.2rem .7rem;border-radius:2rem;font-weight:600}
.badge.ok,.word.ok,.count.in_sync{background:var(--okb);color:var(--ok)}
.badge.bad,.word.bad,.count.drifted{background:var(--badb);color:var(--bad)}
.word.warn,.count.pending{background:var(--warnb);color:var(--warn)}
.count.blocked{background:var(--blkb);color:var(--blk)}.word.info{background:var(--infob);color:var(--info)}
.word{padding:0 .4rem;border-radius:.3rem;font-weight:600;white-space:nowrap}
.error,.note{border-left:4px solid var(--bad);background:var(--badb);padding:.6rem .8rem;
margin:.8rem 0;border-radius:.3rem;overflow-wrap:anywhere}
.note{border-color:var(--warn);background:var(--warnb)}
dl.health{display:grid;grid-template-columns:repeat(auto-fill,minmax(24rem,1fr));gap:.2rem 2rem;
margin:.8rem 0 0}
dl.health div{display:flex;gap:.6rem;padding:.3rem 0;border-bottom:1px solid var(--line)}
dt{color:var(--mut);min-width:6.5rem}dd{margin:0;overflow-wrap:anywhere;min-width:0}
ul.counts{display:grid;grid-template-columns:repeat(4,1fr);gap:.5rem;list-style:none;padding:0;margin:0}
.count{border-radius:.5rem;padding:.5rem .7rem;display:flex;flex-direction:column}
.count.zero{background:var(--card);color:var(--mut)}
.count b{font-size:1.5rem;line-height:1.2}.count span{font-size:.85rem;font-weight:600}
ul.problems{margin:0;padding-left:1.2rem}ul.problems li{overflow-wrap:anywhere}
table.aliases{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
thead th{color:var(--mut);font-weight:600;font-size:.85rem;width:7rem}
thead th:first-child{width:30%}thead th:last-child{width:auto}
td.name,td.why{overflow-wrap:anywhere}td.why{color:var(--mut)}
td.v{white-space:nowrap;font-variant-numeric:tabular-nums}td.v.diff{font-weight:700}
tr.model th{background:var(--card);padding-top:.5rem}
.mname{font-weight:700;overflow-wrap:anywhere;margin-right:1rem}
.applied{color:var(--mut);font-weight:400;font-size:.85rem}
.state{display:inline-block;padding:0 .5rem;border-radius:1rem;font-weight:600;white-space:nowrap;
border:1px solid currentColor}
.state.in_sync{color:var(--ok);background:var(--okb)}.state.drifted{color:var(--bad);background:var(--badb)}
.state.pending{color:var(--warn);background:var(--warnb)}.state.blocked{color:var(--blk);background:var(--blkb)}
tr[data-state=drifted]{--s:var(--bad)}tr[data-state=blocked]{--s:var(--blk)}
tr[data-state=pending]{--s:var(--warn)}
tr.alias td.name{box-shadow:inset 3px 0 var(--s,transparent)}
ol.events{list-style:none;margin:0;padding:0}
ol.events li{padding:.4rem 0;border-bottom:1px solid var(--line);overflow-wrap:anywhere}
.meta{color:var(--mut);font-size:.85rem}ol.events .why{color:var(--mut);margin-top:.1rem}
.empty{color:var(--mut);font-style:italic}
footer{margin:2rem 0 1rem;color:var(--mut);font-size:.8rem}
@media (max-width:40rem){
main{padding:.75rem}ul.counts{grid-template-columns:repeat(2,1fr)}
dl.health{grid-template-columns:1fr}
table.aliases thead{display:none}
table.aliases,table.aliases tbody,tr.model,tr.model th{display:block}
tr.model th{border-radius:.4rem .4rem 0 0;margin-top:.8rem}.mname{display:block}
tr.alias{display:grid;grid-template-columns:minmax(7rem,max-content) 1fr auto;gap:.1rem 1rem;
padding:.45rem .6rem;border-bottom:1px solid var(--line)}
tr.alias td{border:0;padding:0}
tr.alias{box-shadow:inset 3px 0 var(--s,transparent)}
tr.alias td.name{grid-column:1/3;font-weight:600;box-shadow:none;min-width:0}
tr.alias td.st{grid-column:3;grid-row:1;justify-self:end}
tr.alias td.v{grid-row:2}tr.alias td.v::before{color:var(--mut);font-weight:400}
tr.alias td:nth-child(2)::before{content:"desired "}
tr.alias td:nth-child(3)::before{content:"live "}
tr.alias td.why{grid-column:1/4}tr.alias td.why:empty{display:none}
}
"""
