"""Histories from git (`aliasctl history`, `--at`) as text, markdown and JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from controller.core.change import Action, Change
from controller.render.markdown import md_code, md_table
from controller.render.reports import COLOUR, FORMAT_VERSION, SYMBOL, change_json

if TYPE_CHECKING:
    from datetime import datetime

    from controller.gitops.history import Entry, Promotion, Timeline


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _change_phrase(change: Change) -> str:
    if change.action is Action.CREATE:
        return f"{change.key}: set to {change.after}"
    if change.action is Action.DELETE:
        return f"{change.key}: removed (was {change.before})"
    return f"{change.key}: {change.before} → {change.after}"


def _promotion_phrase(moved: Promotion) -> str:
    if moved.before is None:
        return f"{moved.key}: set to {moved.after}"
    if moved.after is None:
        return f"{moved.key}: removed (was {moved.before})"
    return f"{moved.key}: {moved.before} → {moved.after}"


def _promotion_action(moved: Promotion) -> Action:
    if moved.before is None:
        return Action.CREATE
    return Action.DELETE if moved.after is None else Action.UPDATE


def _lines(entry: Entry) -> list[tuple[Action, str]]:
    """Every alias change of a revision: this registry's numbers, then promotions."""
    return [(c.action, _change_phrase(c)) for c in entry.changes] + [
        (_promotion_action(p), _promotion_phrase(p)) for p in entry.promotions
    ]


def _entry_json(entry: Entry) -> dict[str, Any]:
    revision = entry.revision
    return {
        "commit": revision.sha,
        "time": revision.time.isoformat(),
        "author": revision.author,
        "email": revision.email,
        "subject": revision.subject,
        "pull_request": revision.pull_request,
        "path": revision.path,
        "invalid": entry.invalid,
        "changes": [change_json(c) for c in entry.changes],
        # Either side promoted from another environment: where from, as a string.
        "promotions": [
            {"model": p.model, "alias": p.alias, "from": p.before, "to": p.after}
            for p in entry.promotions
        ],
    }


def history_json(timeline: Timeline) -> dict[str, Any]:
    body: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "path": timeline.path,
        "shallow": timeline.shallow,
        "notes": list(timeline.notes),
        "entries": [_entry_json(e) for e in timeline.entries],
    }
    return body


def history_text(timeline: Timeline) -> str:
    lines = []
    for entry in timeline.entries:
        revision = entry.revision
        pr = f"  PR #{revision.pull_request}" if revision.pull_request else ""
        head = (
            f"{_when(revision.time)}  {revision.short}  {revision.author}{pr}  {revision.subject}"
        )
        lines.append(click.style(head, bold=True))
        if entry.invalid:
            first = entry.invalid.splitlines()
            lines.append(click.style(f"    invalid file, skipped: {' '.join(first[:2])}", fg="red"))
        changed = _lines(entry)
        lines += [
            click.style(f"    {SYMBOL[action]} {phrase}", fg=COLOUR[action])
            for action, phrase in changed
        ]
        if not changed and not entry.invalid:
            lines.append("    (no alias changes)")
    lines += [click.style(f"note: {n}", fg="yellow") for n in timeline.notes]
    return "\n".join(lines) if lines else "No alias changes in the history."


def history_markdown(timeline: Timeline) -> str:
    rows = []
    for entry in timeline.entries:
        revision = entry.revision
        pr = f"#{revision.pull_request}" if revision.pull_request else ""
        what = "<br>".join(md_code(phrase) for _, phrase in _lines(entry))
        if entry.invalid:
            what = "❌ invalid file"
        rows.append((_when(revision.time), md_code(revision.short), revision.author, pr, what))
    lines = md_table(("when", "commit", "author", "PR", "changes"), rows)
    lines += [f"\n> {n}" for n in timeline.notes]
    return "\n".join(lines)


Pointer = tuple[str, str, "int | str"]  # model, alias, version (or where it was promoted from)


def _pointers(entry: Entry, model: str | None, alias: str | None) -> list[Pointer]:
    both: dict[str, dict[str, int | str]] = {}
    for source in (entry.state, entry.promoted):
        for name, aliases in source.items():
            both.setdefault(name, {}).update(aliases)
    return [
        (name, alias_name, version)
        for name, aliases in sorted(both.items())
        if model is None or name == model
        for alias_name, version in sorted(aliases.items())
        if alias is None or alias_name == alias
    ]


def _nested(pointers: list[Pointer]) -> dict[str, dict[str, int | str]]:
    """{model: {alias: version}}: the shape of aliases.yaml itself."""
    nested: dict[str, dict[str, int | str]] = {}
    for model, alias, version in pointers:
        nested.setdefault(model, {})[alias] = version
    return nested


def render_at(
    timeline: Timeline,
    entry: Entry | None,
    moment: str,
    target: tuple[str | None, str | None],
    output: str,
) -> str:
    """Which version each alias pointed to at `moment` (`history --at`)."""
    model, alias = target
    pointers = _pointers(entry, model, alias) if entry else []
    if output == "json":
        body = history_json(timeline)
        body["at"] = None
        if entry is not None:
            body["at"] = {
                "moment": moment,
                "commit": entry.revision.sha,
                "time": entry.revision.time.isoformat(),
                "aliases": _nested(pointers),
            }
        return json.dumps(body, indent=2)
    if entry is None:
        return f"No revision of the file existed at {moment}."
    revision = entry.revision
    head = f"{revision.short} ({_when(revision.time)}, {revision.subject})"
    if output == "markdown":
        rows = ((md_code(m), md_code(a), v) for m, a, v in pointers)
        return "\n".join(
            [f"At {md_code(moment)}: {head}", "", *md_table(("model", "alias", "version"), rows)]
        )
    return "\n".join([f"At {moment}: {head}", *(f"  {m}@{a} -> {v}" for m, a, v in pointers)])


def render_history(timeline: Timeline, output: str) -> str:
    if output == "json":
        return json.dumps(history_json(timeline), indent=2)
    if output == "markdown":
        return history_markdown(timeline)
    return history_text(timeline)
