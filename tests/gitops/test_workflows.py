"""Invariants of the GitHub workflows, the composite action and the pre-commit hook.

zizmor audits the workflows for known weaknesses; these tests pin down what is ours to
decide: which events run what, who may write, and that an apply is never cut short.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTION = ROOT / ".github" / "actions" / "aliasctl" / "action.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
WORKFLOW_NAMES = ("ci.yml", "plan.yml", "reconcile.yml")

SHA_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
SAME_REPO_PR = "github.event.pull_request.head.repo.full_name == github.repository"
FORK_PR = "github.event.pull_request.head.repo.full_name != github.repository"

# The only write scopes a job may hold; any job not listed may write nothing.
ALLOWED_WRITES: dict[tuple[str, str], frozenset[str]] = {
    ("plan.yml", "plan"): frozenset({"pull-requests"}),  # the sticky plan comment
    ("reconcile.yml", "alert"): frozenset({"issues"}),  # the "reconcile is failing" issue
    # A rollback's revert: its branch pushed and a pull request opened from it.
    ("reconcile.yml", "analyze"): frozenset({"contents", "pull-requests"}),
}


@cache
def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def workflow(name: str) -> dict[Any, Any]:
    return load(WORKFLOWS / name)


def triggers(wf: dict[Any, Any]) -> dict[str, Any]:
    """The `on:` section as a mapping. PyYAML reads the bare key `on` as boolean True."""
    on = wf[True] if True in wf else wf["on"]
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    assert isinstance(on, dict)
    return on


def jobs(wf: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    found = wf["jobs"]
    assert isinstance(found, dict)
    return found


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found = job.get("steps", [])
    assert isinstance(found, list)
    return found


def all_steps() -> list[tuple[str, dict[str, Any]]]:
    """Every step of every workflow and of the composite action, with where it is."""
    found = [
        (f"{name}:{job_id}", step)
        for name in WORKFLOW_NAMES
        for job_id, job in jobs(workflow(name)).items()
        for step in steps(job)
    ]
    found += [("action.yml", step) for step in load(ACTION)["runs"]["steps"]]
    return found


def all_uses() -> list[tuple[str, str]]:
    uses = [(where, str(step["uses"])) for where, step in all_steps() if "uses" in step]
    # Reusable workflows are called from the job itself.
    uses += [
        (f"{name}:{job_id}", str(job["uses"]))
        for name in WORKFLOW_NAMES
        for job_id, job in jobs(workflow(name)).items()
        if "uses" in job
    ]
    return uses


def is_local(uses: str) -> bool:
    return uses.startswith(("./", "$/"))


def test_the_workflows_under_test_are_all_the_workflows() -> None:
    on_disk = sorted(p.name for p in WORKFLOWS.iterdir() if p.suffix in {".yml", ".yaml"})
    assert on_disk == sorted(WORKFLOW_NAMES)


def test_ci_runs_make_test_on_push_and_pull_request() -> None:
    ci = workflow("ci.yml")
    assert {"push", "pull_request"} <= set(triggers(ci))
    runs = [step.get("run", "") for job in jobs(ci).values() for step in steps(job)]
    assert any(run.strip() == "make test" for run in runs)


def test_plan_runs_on_pull_requests_that_change_aliases_yaml() -> None:
    on = triggers(workflow("plan.yml"))
    assert "aliases.yaml" in on["pull_request"]["paths"]


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_no_workflow_runs_on_pull_request_target(name: str) -> None:
    assert "pull_request_target" not in triggers(workflow(name))
    lines = (WORKFLOWS / name).read_text(encoding="utf-8").splitlines()
    code = [line for line in lines if not line.lstrip().startswith("#")]
    assert not [line for line in code if "pull_request_target" in line]


def test_plan_reads_registry_secrets_only_in_steps_skipped_for_forks() -> None:
    plan_steps = steps(jobs(workflow("plan.yml"))["plan"])
    with_secrets = [s for s in plan_steps if "secrets." in yaml.safe_dump(s)]
    assert with_secrets, "the plan step must get the registry credentials"
    for step in with_secrets:
        assert SAME_REPO_PR in str(step.get("if", "")), step.get("name")


def test_plan_says_in_the_summary_that_fork_pull_requests_get_no_plan() -> None:
    plan_steps = steps(jobs(workflow("plan.yml"))["plan"])
    notices = [s for s in plan_steps if FORK_PR in str(s.get("if", ""))]
    assert notices
    for step in notices:
        words = " ".join(step["run"].split())
        assert "GITHUB_STEP_SUMMARY" in words
        assert "plan: skipped" in words
        assert "comes from a fork" in words
        assert "no registry credentials" in words


def test_plan_updates_one_sticky_comment_found_by_its_marker() -> None:
    plan_steps = steps(jobs(workflow("plan.yml"))["plan"])
    runs = "\n".join(s.get("run", "") for s in plan_steps)
    assert "<!-- aliasctl-plan -->" in runs
    assert "--method PATCH" in runs
    assert "--method POST" in runs


def test_plan_validates_offline_before_it_plans() -> None:
    commands = [
        s["with"]["command"]
        for s in steps(jobs(workflow("plan.yml"))["plan"])
        if is_local(str(s.get("uses", "")))
    ]
    assert commands == ["validate", "plan"]


def test_reconcile_applies_on_push_to_main_that_changes_aliases_yaml() -> None:
    push = triggers(workflow("reconcile.yml"))["push"]
    assert push["branches"] == ["main"]
    assert "aliases.yaml" in push["paths"]


def test_reconcile_also_runs_on_a_schedule_and_by_hand() -> None:
    on = triggers(workflow("reconcile.yml"))
    assert "workflow_dispatch" in on
    crons = [entry["cron"] for entry in on["schedule"]]
    assert crons
    assert all(len(cron.split()) == 5 for cron in crons)


def test_reconcile_never_runs_for_pull_requests() -> None:
    assert not {"pull_request", "pull_request_target"} & set(triggers(workflow("reconcile.yml")))


def test_reconcile_never_cancels_an_apply_in_progress() -> None:
    wf = workflow("reconcile.yml")
    assert wf["concurrency"] == {"group": "aliasctl-reconcile", "cancel-in-progress": False}
    for job in jobs(wf).values():
        assert "concurrency" not in job, "a job-level group would let two applies overlap"


def test_scheduled_runs_apply_only_when_self_heal_is_enabled() -> None:
    condition = " ".join(str(jobs(workflow("reconcile.yml"))["apply"]["if"]).split())
    assert "schedule" not in condition
    assert "vars.ALIASCTL_SELF_HEAL == 'true'" in condition


def test_scheduled_runs_check_for_drift() -> None:
    check = jobs(workflow("reconcile.yml"))["check"]
    assert "schedule" in str(check["if"])
    commands = [s["with"]["command"] for s in steps(check) if is_local(str(s.get("uses", "")))]
    assert "drift" in commands


@pytest.mark.parametrize("name", ["plan.yml", "reconcile.yml"])
def test_no_registry_step_swallows_its_failure(name: str) -> None:
    for job in jobs(workflow(name)).values():
        assert "continue-on-error" not in job
        for step in steps(job):
            assert not step.get("continue-on-error", False), step.get("name")


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_every_job_declares_its_permissions(name: str) -> None:
    wf = workflow(name)
    for job_id, job in jobs(wf).items():
        assert "permissions" in job or "permissions" in wf, job_id


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_write_permissions_are_granted_per_job_never_workflow_wide(name: str) -> None:
    top = workflow(name).get("permissions", {})
    assert isinstance(top, dict), "no read-all / write-all"
    assert "write" not in top.values()


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_no_job_can_write_more_than_it_needs(name: str) -> None:
    wf = workflow(name)
    for job_id, job in jobs(wf).items():
        granted = job.get("permissions", wf.get("permissions"))
        assert isinstance(granted, dict), f"{job_id}: no read-all / write-all"
        writes = {scope for scope, level in granted.items() if level == "write"}
        assert writes <= ALLOWED_WRITES.get((name, job_id), frozenset()), job_id


def test_every_third_party_action_is_pinned_to_a_commit_sha() -> None:
    third_party = [(where, uses) for where, uses in all_uses() if not is_local(uses)]
    assert third_party
    for where, uses in third_party:
        assert SHA_PINNED.match(uses), f"{where}: {uses}"


@pytest.mark.parametrize(
    "path", [*(WORKFLOWS / name for name in WORKFLOW_NAMES), ACTION], ids=lambda p: p.name
)
def test_every_pinned_action_names_its_version_in_a_comment(path: Path) -> None:
    for line in path.read_text(encoding="utf-8").splitlines():
        if re.search(r"uses:\s*\S+@[0-9a-f]{40}", line):
            assert re.search(r"@[0-9a-f]{40} # v\d", line), line.strip()


def test_checkout_never_leaves_the_token_in_the_workspace() -> None:
    checkouts = [
        (where, s)
        for where, s in all_steps()
        if str(s.get("uses", "")).startswith("actions/checkout@")
    ]
    assert checkouts
    for where, step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, where


def test_no_run_script_interpolates_expressions() -> None:
    # Inputs and event data reach scripts through env:, never through ${{ }} in the text.
    for where, step in all_steps():
        assert "${{" not in step.get("run", ""), f"{where}: {step.get('name')}"


def test_analysis_follows_a_successful_apply_and_waits_for_a_verdict() -> None:
    job = jobs(workflow("reconcile.yml"))["analyze"]
    assert job["needs"] == "apply"
    assert "needs.apply.result == 'success'" in str(job["if"])
    [run] = [s for s in steps(job) if is_local(str(s.get("uses", "")))]
    assert run["with"]["command"] == "analyze"
    args = run["with"]["args"].split()
    assert {"--wait", "--no-push"} <= set(args)
    assert run["with"]["fail-on-changes"] == "true"  # still running at the timeout fails
    wait = int(args[args.index("--wait-timeout") + 1])
    assert job["timeout-minutes"] * 60 > wait, "the job outlives the wait"


def test_only_the_revert_step_holds_a_token_and_pushes_only_rollback_branches() -> None:
    job = jobs(workflow("reconcile.yml"))["analyze"]
    with_token = [s for s in steps(job) if "github.token" in str(s.get("env", {}))]
    [push] = with_token
    assert "steps.analyze.outputs.exit-code == '1'" in push["if"]
    assert "refs/heads/aliasctl/rollback/" in push["run"]
    assert "gh pr create" in push["run"]
    assert "add-mask" in push["run"]


def test_composite_action_runs_validate_plan_apply_and_drift() -> None:
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    assert {"command", "file", "python-version", "args"} <= set(action["inputs"])
    assert {"exit-code", "has-changes"} <= set(action["outputs"])
    script = "\n".join(s.get("run", "") for s in action["runs"]["steps"])
    for command in ("validate", "plan", "apply", "drift", "analyze"):
        assert re.search(rf"^\s*{command}\) argv\+=", script, re.MULTILINE), command
    assert "GITHUB_STEP_SUMMARY" in script


def test_composite_action_steps_declare_a_shell() -> None:
    for step in load(ACTION)["runs"]["steps"]:
        if "run" in step:
            assert step.get("shell") == "bash", step.get("name")


def test_pre_commit_hook_validates_alias_files() -> None:
    hooks = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert isinstance(hooks, list)
    hook = next(h for h in hooks if h["id"] == "aliasctl-validate")
    assert hook["entry"] == "aliasctl validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True
    files = re.compile(hook["files"])
    for path in ("aliases.yaml", "aliases.yml", "deploy/aliases.yaml"):
        assert files.search(path), path
    for path in ("my-aliases.yaml", "aliases.yaml.bak", "aliases.json"):
        assert not files.search(path), path
