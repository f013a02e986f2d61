"""Provenance: the audit stamp names the git commit applied and the CI run that applied it."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from controller.core.ci import ci_context
from controller.gitops.provenance import actor, make_stamp
from tests.support.gitrepo import GitRepo, isolate_git, spec_text

if TYPE_CHECKING:
    from pathlib import Path

FILE = "aliases.yaml"
NOW = datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)
SPEC = spec_text({"bikes": {"champion": 2}})
ACTIONS_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_ACTOR": "octocat",
    "GITHUB_REPOSITORY": "org/models",
    "GITHUB_EVENT_NAME": "push",
    "GITHUB_REF": "refs/heads/main",
    "GITHUB_WORKFLOW": "reconcile",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_RUN_ID": "4242",
}


def test_stamp_inside_git_records_the_head_commit(repo: GitRepo) -> None:
    repo.write(FILE, SPEC)
    repo.commit("Declare")
    repo.write("README.md", "Later commit, not touching the file.\n")
    head = repo.commit("Docs")

    stamp = make_stamp(repo.path(FILE), {}, NOW)

    assert stamp.commit == head
    assert stamp.applied_at == "2024-05-01T12:30:15Z"
    assert stamp.source == {"file": FILE}


def test_stamp_of_a_file_in_a_subdirectory_records_the_head_commit(repo: GitRepo) -> None:
    repo.write(f"config/{FILE}", SPEC)
    head = repo.commit("Declare")

    stamp = make_stamp(repo.path(f"config/{FILE}"), {}, NOW)

    assert (stamp.commit, stamp.source) == (head, {"file": FILE})


@pytest.mark.parametrize("change", ["edit", "never-committed"])
def test_stamp_notes_when_the_file_differs_from_the_head_commit(repo: GitRepo, change: str) -> None:
    repo.write("README.md", "First commit.\n")
    if change == "edit":
        repo.write(FILE, SPEC)
    head = repo.commit("Start")
    repo.write(FILE, spec_text({"bikes": {"champion": 3}}))

    stamp = make_stamp(repo.path(FILE), {}, NOW)

    assert stamp.commit == head
    assert stamp.source["git"] == (
        f"{FILE} has uncommitted changes: applied content is not {head[:7]}"
    )


def test_stamp_ignores_uncommitted_changes_to_other_files(repo: GitRepo) -> None:
    repo.write(FILE, SPEC)
    head = repo.commit("Declare")
    repo.write("README.md", "Work in progress.\n")
    repo.git("add", "README.md")

    stamp = make_stamp(repo.path(FILE), {}, NOW)

    assert (stamp.commit, stamp.source) == (head, {"file": FILE})


def test_stamp_in_a_repository_without_commits_has_no_commit(repo: GitRepo) -> None:
    repo.write(FILE, SPEC)

    stamp = make_stamp(repo.path(FILE), {}, NOW)

    assert stamp.commit is None
    assert stamp.source["git"] == "no commits yet"


def test_stamp_outside_git_has_no_commit_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_git(monkeypatch, tmp_path)
    (tmp_path / FILE).write_text(SPEC)

    stamp = make_stamp(tmp_path / FILE, {}, NOW)

    assert stamp.commit is None
    assert stamp.source == {"file": FILE, "git": "not a git repository: no commit to record"}


def test_stamp_in_github_actions_names_the_actor_repository_and_run(repo: GitRepo) -> None:
    repo.write(FILE, SPEC)
    head = repo.commit("Declare")

    stamp = make_stamp(repo.path(FILE), ACTIONS_ENV, NOW)

    assert stamp.commit == head
    assert stamp.source == {
        "file": FILE,
        "ci": "github-actions",
        "actor": "octocat",
        "repository": "org/models",
        "event": "push",
        "ref": "refs/heads/main",
        "workflow": "reconcile",
        "run_url": "https://github.com/org/models/actions/runs/4242",
    }


def test_ci_context_has_no_run_url_without_server_repository_and_run_id() -> None:
    for missing in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        env = {k: v for k, v in ACTIONS_ENV.items() if k != missing}
        context = ci_context(env)
        assert context["ci"] == "github-actions"
        assert "run_url" not in context, missing


def test_ci_context_skips_empty_variables() -> None:
    context = ci_context({**ACTIONS_ENV, "GITHUB_ACTOR": "", "GITHUB_WORKFLOW": ""})

    assert "actor" not in context
    assert "workflow" not in context
    assert context["repository"] == "org/models"


@pytest.mark.parametrize("actions", [None, "false"])
def test_no_ci_keys_unless_github_actions_is_true(repo: GitRepo, actions: str | None) -> None:
    repo.write(FILE, SPEC)
    repo.commit("Declare")
    env = {k: v for k, v in ACTIONS_ENV.items() if k != "GITHUB_ACTIONS"}
    if actions is not None:
        env["GITHUB_ACTIONS"] = actions

    stamp = make_stamp(repo.path(FILE), env, NOW)

    assert ci_context(env) == {}
    assert stamp.source == {"file": FILE}


def test_stamp_records_a_break_glass_reason_only_when_given(tmp_path: Path) -> None:
    file = tmp_path / FILE
    file.write_text(SPEC)
    assert "break_glass" not in make_stamp(file, {}, NOW).source
    stamp = make_stamp(file, {}, NOW, break_glass="INC-42")
    assert stamp.source["break_glass"] == "INC-42"


def test_actor_is_the_github_actor_in_actions_else_the_os_user() -> None:
    assert actor({"GITHUB_ACTOR": "alice"}) == "alice"
    assert actor({"GITHUB_ACTOR": " "}) == getpass.getuser()
    assert actor({}) == getpass.getuser()
