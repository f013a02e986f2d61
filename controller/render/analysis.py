"""`aliasctl analyze`'s report: text for a terminal, markdown for CI, json for machines."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from controller.core.analysis import Act
from controller.core.times import utc_text
from controller.render.environments import section_title

if TYPE_CHECKING:
    from controller.analysis.act import Outcome
    from controller.analysis.runner import Report

NOTHING = "Nothing to analyse: every analysed alias is at a verified or held version."
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
        return NOTHING
    heading = ["### aliasctl analyze", ""] if output == "markdown" else []
    return "\n".join(heading + _lines(report, output))


def render_environments_analysis(sections: list[tuple[str, str, Report]], output: str) -> str:
    """A section per environment (name, file, report), in the order the files are applied."""
    if output == "json":
        body = [
            {"name": name, "file": file, "analyses": [_json(o) for o in report.outcomes]}
            for name, file, report in sections
        ]
        return json.dumps({"environments": body}, indent=2)
    parts = ["### aliasctl analyze"] if output == "markdown" else []
    for name, file, report in sections:
        title = section_title(name, file, output, level=4)
        lines = "\n".join(_lines(report, output)) if report.outcomes else NOTHING
        parts.append(f"{title}\n\n{lines}")
    return "\n\n".join(parts)


def _lines(report: Report, output: str) -> list[str]:
    bullet = "- " if output == "markdown" else ""
    lines = []
    for outcome in report.outcomes:
        lines.append(f"{bullet}{_line(outcome)}")
        indent = "  " if output == "markdown" else "    "
        if outcome.problem:
            lines.append(
                f"{indent}{'**' if bullet else ''}{outcome.problem}{'**' if bullet else ''}"
            )
        if outcome.revert:
            lines.append(f"{indent}{outcome.revert}")
    return lines


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
