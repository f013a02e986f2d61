"""Plans and apply results as text (terminal), markdown (PR comments) and JSON (machines).

The JSON shapes are a public contract, versioned by `format_version`:
see docs/reference/output.md before changing them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from controller.core.change import Action, Change
from controller.core.problem import messages
from controller.render.evidence import evidence_json, evidence_section, evidence_text
from controller.render.holds import (
    held_markdown,
    held_text,
    holds_json,
    lifted_markdown,
    lifted_pairs,
    lifted_text,
    no_change_reason,
)
from controller.render.markdown import md_code, md_table

if TYPE_CHECKING:
    from controller.apply import ApplyResult, ChangeResult
    from controller.core.plan import Drift, Plan

FORMAT_VERSION = 1
SYMBOL = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-"}
COLOUR = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red"}
_MARKDOWN_MARKER = "<!-- aliasctl-plan -->"


def version_text(value: int | None) -> str:
    return "-" if value is None else str(value)


NO_CHANGES = "No changes. The registry matches the file."


def summary_line(plan: Plan) -> str:
    if plan.problems:
        noun = "problem" if len(plan.problems) == 1 else "problems"
        return f"Plan cannot be applied: {len(plan.problems)} {noun}, nothing will be written."
    held = no_change_reason(plan)
    if not plan.changes:
        return f"No changes: {held}." if held else NO_CHANGES
    counts = ", ".join(
        f"{plan.count(action)} to {action.value}"
        for action in (Action.CREATE, Action.UPDATE, Action.DELETE)
    )
    return f"Plan: {counts}." + (f" Besides: {held}." if held else "")


def change_json(change: Change) -> dict[str, Any]:
    return {
        "model": change.model,
        "alias": change.alias,
        "action": change.action.value,
        "before": change.before,
        "after": change.after,
    }


def drift_list_json(plan: Plan) -> list[dict[str, Any]]:
    return [
        {"model": d.model, "alias": d.alias, "recorded": d.recorded, "live": d.live}
        for d in plan.drift
    ]


def last_applied_json(plan: Plan) -> dict[str, dict[str, str | None]]:
    return {
        model: {
            "commit": record.commit,
            "applied_at": record.applied_at,
            "break_glass": record.source.get("break_glass"),
        }
        for model, record in sorted(plan.last_applied.items())
    }


def plan_json(plan: Plan, registry: str) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "registry": registry,
        "has_changes": plan.has_changes,
        "summary": {a.value: plan.count(a) for a in Action},
        "changes": [_change_with_evidence(plan, c) for c in plan.changes],
        "problems": list(messages(plan.problems)),
        "notes": list(plan.notes),
        # Creates and updates listed without evidence (past --evidence-limit).
        "evidence_omitted": plan.evidence_omitted,
        "drift": drift_list_json(plan),
        "unmanaged": [
            {"model": u.model, "alias": u.alias, "version": u.version} for u in plan.unmanaged
        ],
        "last_applied": last_applied_json(plan),
        "removals": {
            "declared": [c.key for c in plan.changes if plan.declared_removal(c)],
            "unmatched": list(plan.unmatched_removals()),
        },
        "break_glass": break_glass_json(plan),
        **holds_json(plan),
    }


def _change_with_evidence(plan: Plan, change: Change) -> dict[str, Any]:
    body = change_json(change)
    if (evidence := plan.evidence_for(change)) is not None:
        body["evidence"] = evidence_json(evidence)
    return body


def break_glass_json(plan: Plan) -> dict[str, Any] | None:
    if plan.break_glass is None:
        return None
    return {"reason": plan.break_glass, "overridden": list(messages(plan.overridden))}


def break_glass_lines(plan: Plan, *, markdown: bool = False) -> list[str]:
    """The override, and what it let through: a reviewer sees both before approving."""
    if plan.break_glass is None:
        return []
    reason = md_code(plan.break_glass) if markdown else repr(plan.break_glass)
    head = f"Break glass: {reason} overrides promotion windows and freezes"
    if not plan.overridden:
        return [f"{head} (none applies now).", ""]
    if markdown:
        return [f"**{head}:**", "", *[f"- ⚠️ {o}" for o in plan.overridden], ""]
    lines = [click.style(f"{head}:", fg="yellow", bold=True)]
    return [*lines, *[click.style(f"  ! {o}", fg="yellow") for o in plan.overridden], ""]


def _change_text(change: Change, *, declared_removal: bool = False) -> str:
    symbol = SYMBOL[change.action]
    if change.action is Action.UPDATE:
        detail = f"{change.before} -> {change.after}"
    elif change.action is Action.CREATE:
        detail = f"-> {change.after}"
    else:
        detail = f"{change.before} -> (deleted)"
        detail += " [declared in removals]" if declared_removal else ""
    line = f"  {symbol} {change.key:<40} {detail}"
    return click.style(line, fg=COLOUR[change.action])


def drift_line(d: Drift) -> str:
    return f"  ! {d.key}: set to {version_text(d.recorded)}, now {version_text(d.live)}"


def _drift_lines(plan: Plan, healed: frozenset[tuple[str, str]] | None = None) -> list[str]:
    """Drifted aliases; after an apply, whether each was put back or left in place."""
    if not plan.drift:
        return []
    lines = [click.style("Drift (changed outside aliasctl since its last apply):", bold=True)]
    for d in plan.drift:
        line = drift_line(d)
        if healed is not None:
            line += " (healed)" if (d.model, d.alias) in healed else " (left in place)"
        lines.append(line)
    return [*lines, ""]


def _last_applied_lines(plan: Plan) -> list[str]:
    by_commit: dict[tuple[str, str, str], list[str]] = {}
    for model, record in sorted(plan.last_applied.items()):
        # Cut a hash to git's short form, never the placeholder (outside git there is no hash).
        commit = record.commit[:7] if record.commit else "no commit"
        glass = record.source.get("break_glass")
        note = f" (break glass: {glass!r})" if glass else ""
        by_commit.setdefault((commit, record.applied_at or "?", note), []).append(model)
    if not by_commit:
        return []
    lines = ["Last applied:"]
    for (commit, when, note), models in sorted(by_commit.items(), key=lambda item: item[0][1]):
        names = ", ".join(models[:5]) + (f" and {len(models) - 5} more" if len(models) > 5 else "")
        lines.append(f"    {commit} at {when}{note}: {names}")
    return [*lines, ""]


def plan_text(plan: Plan, registry: str) -> str:
    lines = [f"Registry: {registry}", ""]
    for change in plan.changes:
        lines.append(_change_text(change, declared_removal=plan.declared_removal(change)))
        if (evidence := plan.evidence_for(change)) is not None:
            lines += evidence_text(evidence)
    if plan.changes:
        lines.append("")
    lines += held_text(plan.holds)
    lines += lifted_text(lifted_pairs(plan))
    if unmatched := plan.unmatched_removals():
        lines += [
            f"Removals with nothing to delete (tidy them from the file): {', '.join(unmatched)}"
        ]
        lines.append("")
    if plan.notes:
        lines += ["Notes:", *[f"  - {n}" for n in plan.notes], ""]
    lines += _last_applied_lines(plan)
    lines += _drift_lines(plan)
    lines += break_glass_lines(plan)
    if plan.problems:
        lines.append(click.style("Problems (nothing can be applied):", fg="red", bold=True))
        lines += [click.style(f"  x {p}", fg="red") for p in plan.problems]
        lines += [f"  {hint}" for hint in _removals_hint(plan)]
        lines.append("")
    if plan.unmanaged:
        lines.append("Unmanaged aliases (not in the file, never touched):")
        lines += [f"    {u.model}@{u.alias} -> {u.version}" for u in plan.unmanaged]
        lines.append("")
    lines.append(click.style(summary_line(plan), bold=True))
    return "\n".join(lines)


def _removals_hint(plan: Plan) -> list[str]:
    """How to make a refused delete pass in review rather than by a flag at apply time."""
    if not any("--allow-delete" in p.text for p in plan.problems):
        return []
    return [
        "Deletes this change intends can be declared in the file under `removals:` "
        "(MODEL@ALIAS or MODEL), reviewed with it, instead of --allow-delete."
    ]


def plan_markdown(plan: Plan, registry: str) -> str:
    status = ("❌ " if plan.problems else "") + summary_line(plan)
    lines = [_MARKDOWN_MARKER, f"### aliasctl plan: {status}", ""]
    if plan.problems:
        lines += [f"- ❌ {p}" for p in plan.problems]
        if hint := _removals_hint(plan):
            lines += ["", *hint]
        lines.append("")
    lines += break_glass_lines(plan, markdown=True)
    if plan.changes:
        rows = (
            (
                f"{SYMBOL[c.action]} {c.action.value}"
                + (" (declared in `removals`)" if plan.declared_removal(c) else ""),
                md_code(c.model),
                md_code(c.alias),
                version_text(c.before),
                version_text(c.after),
            )
            for c in plan.changes
        )
        lines += md_table(("action", "model", "alias", "before", "after"), rows)
        lines.append("")
    lines += held_markdown(plan.holds)
    lines += lifted_markdown(lifted_pairs(plan))
    lines += evidence_section(plan.evidence)
    if unmatched := plan.unmatched_removals():
        listed = ", ".join(md_code(e) for e in unmatched)
        lines += [f"Removals with nothing to delete (tidy them from the file): {listed}", ""]
    if plan.notes:
        lines += ["**Notes:**", "", *[f"- {n}" for n in plan.notes], ""]
    if plan.drift:
        lines.append("**Drift** (changed outside aliasctl since its last apply):")
        lines.append("")
        drift_rows = (
            (md_code(d.model), md_code(d.alias), version_text(d.recorded), version_text(d.live))
            for d in plan.drift
        )
        lines += md_table(("model", "alias", "last set", "live"), drift_rows)
        lines.append("")
    if plan.unmanaged:
        listed = ", ".join(md_code(f"{u.model}@{u.alias}") for u in plan.unmanaged)
        lines += [
            f"<details><summary>Unmanaged aliases (left alone): {len(plan.unmanaged)}</summary>",
            "",
            listed,
            "",
            "</details>",
            "",
        ]
    lines.append(f"<sub>registry: {md_code(registry)}</sub>")
    return "\n".join(lines)


def render_plan(plan: Plan, registry: str, output: str) -> str:
    if output == "json":
        return json.dumps(plan_json(plan, registry), indent=2)
    if output == "markdown":
        return plan_markdown(plan, registry)
    return plan_text(plan, registry)


def _result_json(result: ChangeResult) -> dict[str, Any]:
    body = change_json(result.change)
    body["status"] = "applied" if result.ok else "failed"
    body["error"] = result.error
    return body


def apply_json(plan: Plan, result: ApplyResult, registry: str) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "registry": registry,
        "ok": result.ok,
        "has_changes": plan.has_changes,
        "summary": {"applied": len(result.applied), "failed": len(result.failed)},
        "changes": [_result_json(r) for r in result.results],
        "record_errors": list(result.record_errors),
        "unconverged": [change_json(c) for c in result.unconverged],
        "stopped": result.stopped or None,
        "retries": result.retries,
        "drift": drift_list_json(plan),
        "break_glass": break_glass_json(plan),
        **holds_json(plan, result),
    }


def _outcome_line(plan: Plan, result: ApplyResult) -> str:
    applied, failed = len(result.applied), len(result.failed)
    lifted = len(lifted_pairs(plan, result))
    if result.ok and not result.results and not lifted:
        held = no_change_reason(plan)
        return f"No changes: {held}." if held else NO_CHANGES
    retried = f" ({result.retries} transient failures retried)" if result.retries else ""
    if lifted:
        retried = f", {lifted} hold{'s' if lifted > 1 else ''} lifted{retried}"
    if result.ok:
        return f"Apply complete: {applied} applied{retried}."
    stopped = f"Stopped early: {result.stopped}. " if result.stopped else ""
    return (
        f"{stopped}Apply FAILED: {applied} applied, {failed} failed, "
        f"{len(result.unconverged)} not converged, {len(result.record_errors)} record errors"
        f"{retried}. Re-run apply to converge."
    )


def apply_text(plan: Plan, result: ApplyResult, registry: str) -> str:
    lines = [f"Registry: {registry}", ""]
    for r in result.results:
        mark = click.style("ok  ", fg="green") if r.ok else click.style("FAIL", fg="red")
        line = f"  {mark} {_change_text(r.change).strip()}"
        lines.append(line if r.ok else f"{line}\n         {r.error}")
    lines += [click.style(f"  FAIL {e}", fg="red") for e in result.record_errors]
    lines += [
        click.style(f"  FAIL {c.key}: reported applied but the registry still differs", fg="red")
        for c in result.unconverged
    ]
    if result.results or result.record_errors:
        lines.append("")
    lines += held_text(plan.holds)
    lines += lifted_text(lifted_pairs(plan, result), done=True)
    healed = frozenset((r.change.model, r.change.alias) for r in result.applied)
    lines += _drift_lines(plan, healed)
    lines += break_glass_lines(plan)
    outcome = _outcome_line(plan, result)
    lines.append(click.style(outcome, bold=True, fg=None if result.ok else "red"))
    return "\n".join(lines)


def apply_markdown(plan: Plan, result: ApplyResult, registry: str) -> str:
    lines = [f"### aliasctl apply: {_outcome_line(plan, result)}", ""]
    if result.results:
        rows = (
            (
                "✅" if r.ok else "❌",
                f"{SYMBOL[r.change.action]} {r.change.action.value}",
                md_code(r.change.model),
                md_code(r.change.alias),
                version_text(r.change.before),
                version_text(r.change.after),
                r.error or "",
            )
            for r in result.results
        )
        lines += md_table(("", "action", "model", "alias", "before", "after", "error"), rows)
        lines.append("")
    lines += [f"- ❌ {e}" for e in result.record_errors]
    lines += [f"- ❌ {md_code(c.key)} did not converge" for c in result.unconverged]
    lines += held_markdown(plan.holds)
    lines += lifted_markdown(lifted_pairs(plan, result), done=True)
    lines += break_glass_lines(plan, markdown=True)
    lines.append(f"<sub>registry: {md_code(registry)}</sub>")
    return "\n".join(lines)


def render_apply(plan: Plan, result: ApplyResult, registry: str, output: str) -> str:
    if output == "json":
        return json.dumps(apply_json(plan, result, registry), indent=2)
    if output == "markdown":
        return apply_markdown(plan, result, registry)
    return apply_text(plan, result, registry)
