"""Wiring of one reconcile: read the registry in bulk, plan, pre-flight the targets."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from controller.plan import Declared, Plan, check_targets, compute_plan

if TYPE_CHECKING:
    from controller.registry import Registry


def prepare_plan(declared: Declared, registry: Registry, instance: str = "default") -> Plan:
    """The plan plus every pre-flight problem; versions are read only for changes."""
    observed = registry.read_models(declared.keys())
    plan = compute_plan(declared, observed, instance)
    targets = plan.targets()
    if not targets:
        return plan
    problems = check_targets(plan, registry.read_versions(targets))
    return replace(plan, problems=plan.problems + problems)
