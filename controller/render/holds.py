"""Holds in the reports: each alias kept where a hold says, and each hold the file lifts.

A hold (core/holds.py) keeps an alias off a version that failed its analysis while the
file still names that version, so a plan may show no change where the file asks for one:
these lines say why. They serve plan, apply and drift, in text, markdown and JSON, and
`aliasctl hold list`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from controller.core.holds import released_tag
from controller.render.markdown import md_cell, md_code, md_table

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from controller.apply import ApplyResult
    from controller.core.holds import Hold, Released
    from controller.core.plan import HeldAlias, Plan
    from controller.registry.holds import FoundHold

HELD_SYMBOL = "="
LIFT_HINT = (
    "A held alias moves again once the file names another version (the fix, or the revert), "
    "or after `aliasctl hold release MODEL@ALIAS --reason TEXT`."
)


def hold_json(model: str, alias: str, hold: Hold) -> dict[str, Any]:
    """One hold as data: the version that failed, where the alias is kept, and why."""
    return {
        "model": model,
        "alias": alias,
        "version": hold.version,
        "held_at": hold.held_at,
        "phase": hold.phase,
        "reason": hold.reason,
        "since": hold.since,
        "rolled_back": hold.rolled_back,
        "commit": hold.commit,
    }


def holds_json(plan: Plan, result: ApplyResult | None = None) -> dict[str, Any]:
    """The `holds` and `lifted` keys of the plan and apply reports (`lifted` of an apply:
    the holds it did lift)."""
    return {
        "holds": [hold_json(h.model, h.alias, h.hold) for h in plan.holds],
        "lifted": [{"model": model, "alias": alias} for model, alias in lifted_pairs(plan, result)],
    }


def kept_where(hold: Hold) -> str:
    """Where the alias stays and why, in a few words: `held at 3: version 4 failed analysis`."""
    if hold.rolled_back:
        return f"held at {hold.held_at}: version {hold.version} failed analysis, rolled back"
    if hold.in_place:
        return f"held at {hold.held_at}: analysis {hold.phase.lower()}, kept in place"
    return f"held at {hold.held_at}: version {hold.version} analysis {hold.phase.lower()}"


def _since(hold: Hold) -> str:
    commit = f", commit {hold.commit[:7]}" if hold.commit else ""
    return f"since {hold.since or '?'}{commit}"


def held_text(held: Sequence[HeldAlias]) -> list[str]:
    """The held aliases for a terminal, each with its hold and how to lift it."""
    if not held:
        return []
    lines = [click.style("Held (kept where a hold says; the alias does not move):", bold=True)]
    for h in held:
        line = f"  {HELD_SYMBOL} {h.key:<40} {kept_where(h.hold)} (the file names {h.hold.version})"
        lines.append(click.style(line, fg="magenta"))
        lines.append(f"      {h.hold.phase} {_since(h.hold)}: {h.hold.reason or 'no reason given'}")
    lines += [f"  {LIFT_HINT}", ""]
    return lines


def lifted_pairs(plan: Plan, result: ApplyResult | None = None) -> list[tuple[str, str]]:
    """The holds the file lifts (a plan), or those an apply did lift (its result given):
    as apply.py's `_lift` decides, not where the alias's change failed or was held back,
    nor where its model's record or the lift itself failed."""
    if result is None:
        return list(plan.lifted)
    failed = {r.change.key for r in result.failed} | {c.key for c in plan.held_back}
    return [
        (model, alias)
        for model, alias in plan.lifted
        if f"{model}@{alias}" not in failed
        and not any(_about(error, model, alias) for error in result.record_errors)
    ]


def _about(error: str, model: str, alias: str) -> bool:
    """Whether a record error stopped a lift: apply.py words them `MODEL: could not write
    inventory record: ...` and `MODEL@ALIAS: could not lift its hold: ...`."""
    return error.startswith((f"{model}@{alias}: ", f"{model}: "))


def lifted_text(pairs: Iterable[tuple[str, str]], *, done: bool = False) -> list[str]:
    keys = [f"{model}@{alias}" for model, alias in pairs]
    if not keys:
        return []
    head = "Holds lifted" if done else "Holds lifted by the file (it names another version)"
    return [f"{head}: {', '.join(keys)}", ""]


def held_markdown(held: Sequence[HeldAlias]) -> list[str]:
    if not held:
        return []
    rows = (
        (
            md_code(h.model),
            md_code(h.alias),
            h.hold.version,
            h.hold.held_at,
            h.hold.phase,
            "yes" if h.hold.rolled_back else "no",
            h.hold.since or "?",
            md_cell(h.hold.reason),
        )
        for h in held
    )
    header = ("model", "alias", "file names", "held at", "phase", "rolled back", "since", "reason")
    return [
        "**Held** (kept where a hold says; the alias does not move):",
        "",
        *md_table(header, rows),
        "",
        LIFT_HINT,
        "",
    ]


def lifted_markdown(pairs: Iterable[tuple[str, str]], *, done: bool = False) -> list[str]:
    keys = [f"{model}@{alias}" for model, alias in pairs]
    if not keys:
        return []
    head = "Holds lifted" if done else "Holds lifted by this change (apply removes them)"
    return [f"{head}: {', '.join(md_code(k) for k in keys)}", ""]


def no_change_reason(plan: Plan) -> str:
    """Why a plan without changes still does something, or why an alias does not move."""
    parts = []
    if held := len(plan.holds):
        many = held > 1
        parts.append(
            f"{held} held alias{'es' if many else ''} kept where {'their' if many else 'its'} "
            "hold says (the file names a version that failed analysis)"
        )
    if lifted := len(plan.lifted):
        parts.append(f"{lifted} hold{'s' if lifted > 1 else ''} to lift")
    return "; ".join(parts)


def hold_list_json(found: Sequence[FoundHold], registry: str) -> dict[str, Any]:
    """`aliasctl hold list --format json`; an unreadable hold has `readable: false`."""
    holds = []
    for f in found:
        if f.hold is None:
            holds.append({"model": f.model, "alias": f.alias, "readable": False})
        else:
            holds.append({**hold_json(f.model, f.alias, f.hold), "readable": True})
    return {"format_version": 1, "registry": registry, "holds": holds}


def hold_list_text(found: Sequence[FoundHold], registry: str) -> str:
    if not found:
        return f"No holds in {registry} on the file's models."
    header = ("ALIAS", "VERSION", "HELD AT", "PHASE", "SINCE", "ROLLED BACK", "REASON")
    rows = [
        (f.key, "?", "?", "unreadable", "?", "?", f"tag {f.alias} cannot be read")
        if f.hold is None
        else (
            f.key,
            str(f.hold.version),
            str(f.hold.held_at),
            f.hold.phase,
            f.hold.since or "?",
            "yes" if f.hold.rolled_back else "no",
            " ".join(f.hold.reason.split()),
        )
        for f in found
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in [header, *rows]
    ]
    noun = "hold" if len(found) == 1 else "holds"
    release = "Release one with `aliasctl hold release MODEL@ALIAS --reason TEXT`."
    return "\n".join([f"{len(found)} {noun} in {registry}:", "", *lines, "", release])


def released_text(found: FoundHold, released: Released, registry: str) -> str:
    """What `hold release` did, and what happens next."""
    hold = found.hold
    what = kept_where(hold) if hold else "its hold could not be read"
    return "\n".join(
        [
            f"Released the hold on {found.key} ({what}) in {registry}.",
            f"Recorded in tag {released_tag(found.alias)}: by {released.by} at {released.at}: "
            f"{released.reason}",
            "The next apply (or serve) moves the alias to what the file names.",
        ]
    )
