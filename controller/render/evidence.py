"""The plan's evidence as text (two lines under a change), markdown (a table a change), JSON.

The JSON shape is part of the plan's public contract (docs/reference/output.md):
fields are only ever added.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from controller.core.evidence import clip

if TYPE_CHECKING:
    from controller.core.evidence import ChangeEvidence, MetricRow, VersionEvidence

INDENT = " " * 6
# Past this many promotions a pull request comment folds their tables (GitHub caps a comment).
MAX_OPEN_TABLES = 5
VERDICT_MARK = {"better": "✅ better", "worse": "❌ worse", "same": "= same"}


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _short(text: str | None, length: int = 7) -> str | None:
    return None if text is None else text[:length]


# -- JSON --------------------------------------------------------------------------------------


def version_json(version: VersionEvidence | None) -> dict[str, Any] | None:
    if version is None:
        return None
    run = version.run
    signature = version.signature
    return {
        "version": version.version,
        "gone": version.gone,
        "created_at": version.created_at,
        "user": version.user,
        "description": version.description,
        "run_id": version.run_id,
        "run_gone": version.run_gone,
        "run_name": run.name if run else None,
        "run_start_time": run.start_time if run else None,
        "source_commit": run.source_commit if run else None,
        "datasets": list(run.datasets) if run else [],
        "metrics": dict(version.metrics),
        "signature": (
            {"inputs": signature.inputs, "outputs": signature.outputs}
            if signature is not None and signature.present
            else None
        ),
        "signature_error": version.signature_error,
    }


def evidence_json(evidence: ChangeEvidence) -> dict[str, Any]:
    return {
        "before": version_json(evidence.before),
        "after": version_json(evidence.after),
        "metrics": [
            {
                "name": row.name,
                "before": row.before,
                "after": row.after,
                "change": row.delta,
                "direction": row.direction,
                "verdict": row.verdict,
            }
            for row in evidence.metrics
        ],
        "signature_changed": evidence.signature_changed,
    }


# -- text --------------------------------------------------------------------------------------


def _origin(version: VersionEvidence) -> str:
    """Where a version came from, in a few words."""
    if version.gone:
        return f"{version.version}: version gone"
    parts = []
    if version.run_gone:
        parts.append(f"run {_short(version.run_id, 8)} (gone)")
    elif version.run is not None:
        run = version.run
        parts.append(f"run {run.name or '?'!r} ({_short(run.run_id, 8)})")
        if run.source_commit:
            parts.append(f"commit {_short(run.source_commit)}")
        if run.datasets:
            parts.append("data " + ", ".join(clip(d, 40) for d in run.datasets))
    else:
        parts.append("no source run")
    if version.user or version.created_at:
        who = f" by {version.user}" if version.user else ""
        parts.append(f"registered {version.created_at or '?'}{who}")
    return f"{version.version}: " + ", ".join(parts)


def _metric_text(row: MetricRow) -> str:
    if row.after is None and row.before is None:
        return f"{row.name} not logged"
    delta = row.delta
    if delta is None:
        side = "after" if row.after is not None else "before"
        return (
            f"{row.name} {_num(row.after if row.after is not None else row.before)} ({side} only)"
        )
    verdict = f", {row.verdict}" if row.verdict else ""
    if row.before is None:
        return f"{row.name} {_num(row.after)}"
    return f"{row.name} {_num(row.before)} -> {_num(row.after)} ({delta:+.4g}{verdict})"


def _signature_text(evidence: ChangeEvidence) -> str:
    after = evidence.after.signature
    if evidence.after.signature_error:
        return "signature unreadable"
    if after is None or not after.present:
        return "no signature"
    changed = evidence.signature_changed
    if changed is None:
        return f"signature {clip(after.inputs or '-', 60)} -> {clip(after.outputs or '-', 30)}"
    if changed:
        return f"signature CHANGED: inputs now {clip(after.inputs or '-', 60)}"
    return "signature unchanged"


def evidence_text(evidence: ChangeEvidence) -> list[str]:
    """Two lines: where the versions come from; metrics and the signature."""
    first = _origin(evidence.after)
    if evidence.before is not None:
        first += f"  (was {_origin(evidence.before)})"
    second = [_metric_text(row) for row in evidence.metrics]
    if not evidence.after.gone:
        second.append(_signature_text(evidence))
    lines = [INDENT + first]
    if second:
        lines.append(INDENT + "; ".join(second))
    return lines


# -- markdown ----------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _facts(version: VersionEvidence) -> dict[str, str]:
    if version.gone:
        return {"version": f"{version.version} (gone)"}
    run = version.run
    return {
        "registered": _cell(
            (version.created_at or "-") + (f" by {version.user}" if version.user else "")
        ),
        "run": (
            f"{_code(version.run_id or '')} (gone)"
            if version.run_gone
            else "no source run"
            if run is None
            else f"{_cell(run.name or '?')} ({_code(run.run_id[:8])})"
        ),
        "run started": (run.start_time or "-") if run else "-",
        "code commit": _code(run.source_commit[:12]) if run and run.source_commit else "-",
        "datasets": ", ".join(_code(d) for d in run.datasets) if run and run.datasets else "-",
    }


def _signature_cell(version: VersionEvidence) -> str:
    if version.signature_error:
        return "unreadable"
    if version.signature is None or not version.signature.present:
        return "none"
    return "present"


def evidence_markdown(evidence: ChangeEvidence) -> list[str]:
    """One table: the replaced version (if any) beside the new one, then folded details."""
    after, before = evidence.after, evidence.before
    title = f"#### {_code(f'{evidence.model}@{evidence.alias}')}: "
    if before is None:
        title += f"version {after.version}"
        header = ["", f"version {after.version}"]
    else:
        title += f"version {before.version} → {after.version}"
        header = ["", f"before: {before.version}", f"after: {after.version}", "change"]
    rows: list[list[str]] = []
    after_facts = _facts(after)
    before_facts = _facts(before) if before else {}
    for key in dict.fromkeys([*before_facts, *after_facts]):
        row = [key, after_facts.get(key, "-")]
        rows.append(row if before is None else [key, before_facts.get(key, "-"), row[1], ""])
    for metric in evidence.metrics:
        cells = [_code(metric.name), _num(metric.after)]
        if before is not None:
            delta = "-" if metric.delta is None else f"{metric.delta:+.4g}"
            verdict = VERDICT_MARK.get(metric.verdict or "", "")
            cells = [cells[0], _num(metric.before), cells[1], f"{delta} {verdict}".strip()]
        rows.append(cells)
    signature = ["signature", _signature_cell(after)]
    if before is not None:
        changed = evidence.signature_changed
        note = "-" if changed is None else "⚠️ changed" if changed else "unchanged"
        signature = ["signature", _signature_cell(before), signature[1], note]
    rows.append(signature)
    lines = [title, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines.append("")
    return lines + _details(evidence)


def _details(evidence: ChangeEvidence) -> list[str]:
    """Descriptions and full signatures: long, so folded."""
    body: list[str] = []
    for label, version in (("before", evidence.before), ("after", evidence.after)):
        if version is None or version.gone:
            continue
        if version.description:
            body += [
                f"**Version {version.version} ({label}) description:**",
                "",
                version.description,
                "",
            ]
        if version.signature is not None and version.signature.present:
            body += [
                f"**Version {version.version} ({label}) signature:**",
                "",
                "```",
                f"inputs:  {version.signature.inputs or '-'}",
                f"outputs: {version.signature.outputs or '-'}",
                "```",
                "",
            ]
        if version.signature_error:
            body += [f"Version {version.version}: {version.signature_error}", ""]
    if not body:
        return []
    return ["<details><summary>Descriptions and signatures</summary>", "", *body, "</details>", ""]


def evidence_section(evidence: tuple[ChangeEvidence, ...]) -> list[str]:
    """Every promotion's table; many of them folded so the plan's summary stays in view."""
    lines = [line for e in evidence for line in evidence_markdown(e)]
    if len(evidence) <= MAX_OPEN_TABLES:
        return lines
    summary = f"<details><summary>Evidence for {len(evidence)} promotions</summary>"
    return [summary, "", *lines, "</details>", ""]
