"""The revert branch after an automatic rollback: a real repository and a bare remote."""

from __future__ import annotations

import subprocess
from functools import partial
from typing import TYPE_CHECKING

import pytest

from controller.gitops.history import GitError
from controller.gitops.revert import branch_name, prepare_revert_branch
from controller.gitops.rollback import RollbackError
from tests.support.gitrepo import GitRepo, commit_spec, spec_text

if TYPE_CHECKING:
    from pathlib import Path

FILE = "aliases.yaml"
MESSAGE = "Roll back bikes@champion to version 2\n\nerror_rate 0.31 failed result < 0.05\n"


def promoted(repo: GitRepo) -> None:
    commit_spec(repo, {"bikes": {"champion": 2}, "cars": {"champion": 5}}, "Declare")
    commit_spec(repo, {"bikes": {"champion": 3}, "cars": {"champion": 5}}, "Promote 3")


def bare_remote(repo: GitRepo, tmp_path: Path) -> Path:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--bare", "-q", str(remote)], check=True)
    repo.git("remote", "add", "origin", str(remote))
    return remote


def test_the_revert_is_one_line_on_its_own_branch_and_the_checkout_is_untouched(
    repo: GitRepo,
) -> None:
    promoted(repo)
    repo.write("notes.txt", "work in progress\n")  # an untracked file stays as it is
    before = (repo.head(), repo.path(FILE).read_text(), repo.git("status", "--porcelain"))

    branch = prepare_revert_branch(repo.path(FILE), "bikes", "champion", 2, MESSAGE, push=False)

    assert branch.branch == "aliasctl/rollback/bikes-champion-v2"
    assert (branch.pushed, branch.push_error, branch.created) == (False, None, True)
    assert (repo.head(), repo.path(FILE).read_text(), repo.git("status", "--porcelain")) == before
    assert repo.git("show", f"{branch.sha}:{FILE}") == spec_text(
        {"bikes": {"champion": 2}, "cars": {"champion": 5}}
    ).rstrip("\n")
    assert repo.git("rev-parse", f"{branch.sha}^") == repo.head()
    assert repo.git("log", "-1", "--format=%B", branch.sha).strip() == MESSAGE.strip()
    assert repo.git("diff", "--numstat", repo.head(), branch.sha) == f"1\t1\t{FILE}"


def test_a_second_pass_finds_the_same_revert_and_makes_no_new_commit(repo: GitRepo) -> None:
    promoted(repo)
    first = prepare_revert_branch(repo.path(FILE), "bikes", "champion", 2, MESSAGE, push=False)
    second = prepare_revert_branch(repo.path(FILE), "bikes", "champion", 2, MESSAGE, push=False)
    assert (second.sha, second.created) == (first.sha, False)


def test_the_branch_is_pushed_to_a_reachable_remote(repo: GitRepo, tmp_path: Path) -> None:
    promoted(repo)
    remote = bare_remote(repo, tmp_path)

    branch = prepare_revert_branch(repo.path(FILE), "bikes", "champion", 2, MESSAGE)

    assert (branch.pushed, branch.push_error) == (True, None)
    pushed = subprocess.run(
        ["git", "--git-dir", str(remote), "rev-parse", f"refs/heads/{branch.branch}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert pushed == branch.sha


def test_an_unreachable_remote_keeps_the_local_branch_and_says_why(
    repo: GitRepo, tmp_path: Path
) -> None:
    promoted(repo)
    repo.git("remote", "add", "origin", str(tmp_path / "nowhere.git"))

    branch = prepare_revert_branch(repo.path(FILE), "bikes", "champion", 2, MESSAGE)

    assert branch.pushed is False
    assert branch.push_error is not None
    assert branch.push_error.startswith("git push failed:")
    assert repo.git("rev-parse", f"refs/heads/{branch.branch}") == branch.sha


def test_no_remote_is_said_not_raised(repo: GitRepo) -> None:
    promoted(repo)
    branch = prepare_revert_branch(repo.path(FILE), "bikes", "champion", 2, MESSAGE)
    assert (branch.pushed, branch.push_error) == (False, "no remote named 'origin'")


def test_a_file_that_already_names_the_version_has_nothing_to_revert(repo: GitRepo) -> None:
    commit_spec(repo, {"bikes": {"champion": 2}}, "Declare")
    with pytest.raises(RollbackError, match=r"already declares bikes@champion: 2"):
        prepare_revert_branch(repo.path(FILE), "bikes", "champion", 2, MESSAGE, push=False)


def test_a_promotion_is_taken_back_to_the_version_already_in_its_registry(
    repo: GitRepo,
) -> None:
    """In an environment's file the revert replaces the promotion line with the version
    the rollback went to, a version of this environment's registry (nothing is copied)."""
    declared = "environment:\n  name: prod\nmodels:\n  bikes:\n    aliases:\n      champion: "
    repo.write("prod.yaml", declared + "{from: staging, version: 7}   # the promotion\n")
    repo.commit("Promote staging's 7")

    branch = prepare_revert_branch(
        repo.path("prod.yaml"), "bikes", "champion", 3, MESSAGE, environment="prod"
    )

    # Staging may hold bikes@champion too: each environment's reverts have a folder.
    assert branch.branch == "aliasctl/rollback/prod/bikes-champion-v3"

    assert repo.git("show", f"{branch.sha}:prod.yaml") == declared + "3   # the promotion"
    assert repo.git("diff", "--numstat", repo.head(), branch.sha) == "1\t1\tprod.yaml"


def test_a_copy_gone_back_to_is_named_as_the_promotion_it_was(repo: GitRepo) -> None:
    """Version 3 is the copy of staging's 5: the revert writes that promotion, not 3; a copy
    from elsewhere (or another model) is named by its number."""
    declared = "environment:\n  name: prod\nmodels:\n  bikes:\n    aliases:\n      champion: "
    repo.write("prod.yaml", declared + "{from: staging, version: 7}   # the promotion\n")
    repo.commit("Promote staging's 7")
    revert = partial(
        prepare_revert_branch, repo.path("prod.yaml"), "bikes", "champion", 3, MESSAGE,
        push=False, environment="prod",
    )  # fmt: skip

    branch = revert(copied_from="staging#bikes/5")
    assert repo.git("show", f"{branch.sha}:prod.yaml") == (
        declared + "{from: staging, version: 5}   # the promotion"
    )
    for elsewhere in ("dev#bikes/5", "staging#cars/5", "staging#bikes/x"):
        branch = revert(copied_from=elsewhere)
        assert repo.git("show", f"{branch.sha}:prod.yaml") == declared + "3   # the promotion"


def test_a_file_outside_git_is_a_git_error(tmp_path: Path) -> None:
    file = tmp_path / FILE
    file.write_text(spec_text({"bikes": {"champion": 3}}))
    with pytest.raises(GitError, match="not inside a git repository"):
        prepare_revert_branch(file, "bikes", "champion", 2, MESSAGE, push=False)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("prod.ml.bikes", "aliasctl/rollback/prod.ml.bikes-champion-v2"),
        ("a b/c..d", "aliasctl/rollback/a-b-c.d-champion-v2"),
    ],
)
def test_branch_names_are_refs_git_accepts(model: str, expected: str) -> None:
    name = branch_name(model, "champion", 2)
    assert name == expected
    subprocess.run(["git", "check-ref-format", f"refs/heads/{name}"], check=True)


def test_a_runner_without_a_git_identity_commits_as_aliasctl(
    repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    promoted(repo)
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.delenv(f"GIT_{role}_NAME")
        monkeypatch.delenv(f"GIT_{role}_EMAIL")
    branch = prepare_revert_branch(repo.path(FILE), "bikes", "champion", 2, MESSAGE, push=False)
    assert repo.git("log", "-1", "--format=%an <%ae>", branch.sha) == (
        "aliasctl <aliasctl@users.noreply.github.com>"
    )
