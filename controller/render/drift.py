"""The drift report: aliases moved outside aliasctl since its last apply, and the held ones
(a held alias is where aliasctl keeps it on purpose, not drift)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from controller.core.problem import messages
from controller.render.holds import held_markdown, held_text, holds_json
from controller.render.markdown import md_code, md_table
from controller.render.reports import (
    FORMAT_VERSION,
    drift_line,
    drift_list_json,
    last_applied_json,
    version_text,
)

if TYPE_CHECKING:
    from controller.core.plan import Plan


def drift_json(plan: Plan, registry: str) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "registry": registry,
        "has_drift": bool(plan.drift),
        "drift": drift_list_json(plan),
        "pending_changes": len(plan.changes),
        "problems": list(messages(plan.problems)),
        "last_applied": last_applied_json(plan),
        "holds": holds_json(plan)["holds"],
    }


def render_drift(plan: Plan, registry: str, output: str) -> str:
    if output == "json":
        return json.dumps(drift_json(plan, registry), indent=2)
    markdown = output == "markdown"
    held = held_markdown(plan.holds) if markdown else held_text(plan.holds)
    if not plan.drift:
        clean = f"No drift: every managed alias is where aliasctl last set it ({registry})."
        return "\n".join([clean, "", *held]).rstrip() if held else clean
    if markdown:
        rows = (
            (md_code(d.model), md_code(d.alias), version_text(d.recorded), version_text(d.live))
            for d in plan.drift
        )
        table = md_table(("model", "alias", "last set", "live"), rows)
        head = f"### aliasctl drift: {len(plan.drift)} aliases moved"
        return "\n".join([head, "", *table, "", *held]).rstrip()
    lines = [f"Drift in {registry} (changed outside aliasctl since its last apply):"]
    lines += [drift_line(d) for d in plan.drift]
    return "\n".join([*lines, "", *held]).rstrip() if held else "\n".join(lines)
