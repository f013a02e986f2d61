"""Plans and applies across environments: a section per environment, its copies first."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from controller.render.drift import drift_json, render_drift
from controller.render.reports import (
    FORMAT_VERSION,
    NO_CHANGES,
    apply_json,
    plan_json,
    render_apply,
    render_plan,
)

if TYPE_CHECKING:
    from controller.environments.run import EnvironmentPlan


def render_environments(plans: list[EnvironmentPlan], output: str) -> str:
    """`plan` (no results) or `apply` (with them) over several environments."""
    if output == "json":
        return json.dumps(
            {"format_version": FORMAT_VERSION, "environments": [_json(p) for p in plans]},
            indent=2,
        )
    return "\n\n".join(_section(p, output) for p in plans)


def render_environments_drift(plans: list[EnvironmentPlan], output: str) -> str:
    if output == "json":
        body = [{"name": p.name, "file": p.file, **drift_json(p.plan, p.registry)} for p in plans]
        return json.dumps({"format_version": FORMAT_VERSION, "environments": body}, indent=2)
    return "\n\n".join(
        f"{_title(p, output)}\n\n{render_drift(p.plan, p.registry, output)}" for p in plans
    )


def _title(env: EnvironmentPlan, output: str) -> str:
    return section_title(env.name, env.file, output)


def section_title(name: str, file: str, output: str, level: int = 2) -> str:
    """An environment's section: `=== Environment prod (prod.yaml) ===`, or a heading."""
    if output == "markdown":
        return f"{'#' * level} Environment `{name}` ({file})"
    return f"=== Environment {name} ({file}) ==="


def _section(env: EnvironmentPlan, output: str) -> str:
    markdown = output == "markdown"
    lines = [_title(env, output), ""]
    promotions = _promotion_lines(env)
    if promotions:
        lines += [
            "**From other environments**" if markdown else "From other environments:",
            "",
        ]
        for line in promotions:
            nested = line.startswith("    ")
            if markdown:
                lines.append(f"  - {line.strip()}" if nested else f"- {line}")
            else:
                lines.append(f"  {line}")
        lines.append("")
    if env.result is None:
        rendered = render_plan(env.plan, env.registry, output)
        if env.pending and not env.plan.problems:
            copies = len(env.pending)
            pending = (
                f"Pending: {copies} {'copy' if copies == 1 else 'copies'} from other "
                "environments; apply copies each once, then moves its alias."
            )
            rendered = rendered.replace(NO_CHANGES, pending)
        lines.append(rendered)
    else:
        lines.append(render_apply(env.plan, env.result, env.registry, output))
    return "\n".join(lines)


def _promotion_lines(env: EnvironmentPlan) -> list[str]:
    copied = {(c.model, c.alias): c for c in env.copied}
    lines = []
    for promotion in env.promotions:
        made = copied.get((promotion.model, promotion.alias))
        source = promotion.source
        if source is None:
            lines.append(f"{promotion.key}: waits: {promotion.waits_for}")
        elif made is not None:
            how = "copied now" if made.created else "copied before"
            lines.append(f"{promotion.key}: {source.describe()} is version {made.version} ({how})")
        elif promotion.copy is None:
            lines.append(
                f"{promotion.key}: + copy {source.describe()} here (apply copies it once, "
                "then moves the alias to the copy)"
            )
            if (evidence := env.evidence.get((promotion.model, promotion.alias))) is not None:
                lines.append(f"    {evidence.line()}")
        else:
            lines.append(f"{promotion.key}: {source.describe()} is version {promotion.copy}")
    return lines


def _evidence_json(env: EnvironmentPlan, model: str, alias: str) -> dict[str, Any] | None:
    found = env.evidence.get((model, alias))
    if found is None:
        return None
    return {
        "source": {"label": found.source.label, "metrics": found.source.metrics},
        "current": None
        if found.current is None
        else {"label": found.current.label, "metrics": found.current.metrics},
        "error": found.error,
    }


def _json(env: EnvironmentPlan) -> dict[str, Any]:
    copied = {(c.model, c.alias): c for c in env.copied}
    promotions = []
    for p in env.promotions:
        made = copied.get((p.model, p.alias))
        promotions.append(
            {
                "model": p.model,
                "alias": p.alias,
                "source": None
                if p.source is None
                else {
                    "environment": p.source.environment,
                    "model": p.source.model,
                    "version": p.source.version,
                },
                "version": made.version if made else p.copy,
                "copied": made.created if made else False,
                "pending": made is None and p.copy is None,
                "waits_for": p.waits_for,
                "evidence": _evidence_json(env, p.model, p.alias),
            }
        )
    body: dict[str, Any] = {
        "name": env.name,
        "file": env.file,
        "registry": env.registry,
        "has_changes": env.has_changes,
        "promotions": promotions,
    }
    if env.result is None:
        body["plan"] = plan_json(env.plan, env.registry)
    else:
        body["apply"] = apply_json(env.plan, env.result, env.registry)
    return body
