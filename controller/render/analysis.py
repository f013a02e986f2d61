"""`aliasctl analyze`'s report: text for a terminal, markdown for CI, json for machines."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from controller.core.analysis import Act
from controller.core.times import utc_text

if TYPE_CHECKING:
    from controller.analysis.act import Outcome
    from controller.analysis.runner import Report

_VERB = {
    Act.NOTHING: "running",
    Act.VERIFY: "verified",
    Act.ROLLBACK: "rolled back and held",
    Act.HOLD: "held",
}


def render_analysis(report: Report, output: str) -> str:
    if output == "json":
        return json.dumps({"analyses": [_json(o) for o in report.outcomes]}, indent=2)
    if not report.outcomes:
        return "Nothing to analyse: every analysed alias is at a verified or held version."
    bullet = "- " if output == "markdown" else ""
    lines = ["### aliasctl analyze", ""] if output == "markdown" else []
    for outcome in report.outcomes:
        lines.append(f"{bullet}{_line(outcome)}")
        indent = "  " if output == "markdown" else "    "
        if outcome.problem:
            lines.append(
                f"{indent}{'**' if bullet else ''}{outcome.problem}{'**' if bullet else ''}"
            )
        if outcome.revert:
            lines.append(f"{indent}{outcome.revert}")
    return "\n".join(lines)


def _line(outcome: Outcome) -> str:
    text = outcome.message
    if outcome.decision.act is Act.NOTHING and outcome.next_due is not None:
        text += f"; next measurement at {utc_text(outcome.next_due)}"
    return text


def _json(outcome: Outcome) -> dict[str, Any]:
    target, decision = outcome.target, outcome.decision
    return {
        "model": target.model,
        "alias": target.alias,
        "version": target.version,
        "verified_version": target.previous,
        "phase": decision.phase.value,
        "outcome": _VERB[decision.act],
        "done": outcome.acted,
        "message": decision.message,
        "problem": outcome.problem,
        "next_measurement": utc_text(outcome.next_due) if outcome.next_due else None,
        "revert": outcome.revert,
    }
