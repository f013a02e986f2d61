"""Rollback: one alias back to its previous version, edited in place, from real git history."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from controller.gitops.rollback import prepare_rollback
from tests.conftest import invoke as aliasctl
from tests.support.gitrepo import RUNNER, GitRepo, commit_spec, isolate_git, spec_text

if TYPE_CHECKING:
    from pathlib import Path

FILE = "aliases.yaml"


def champion_1_2_3(repo: GitRepo) -> list[str]:
    """bikes@champion 1, then 2, then 3, one commit each (cars@champion stays 5)."""
    return [
        commit_spec(repo, {"bikes": {"champion": n}, "cars": {"champion": 5}}, f"Promote {n}")
        for n in (1, 2, 3)
    ]


def test_rollback_points_the_alias_back_to_its_previous_version(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    shas = champion_1_2_3(repo)
    path = repo.path(FILE)

    code, out, err = aliasctl(capsys, "rollback", "bikes@champion", str(path))

    assert (code, err) == (0, "")
    assert path.read_text() == spec_text({"bikes": {"champion": 2}, "cars": {"champion": 5}})
    assert out.splitlines() == [
        f"{path}: bikes@champion 3 -> 2",
        f"Equivalent: git revert {shas[2][:7]}",
        "Next: open a pull request; merging it applies the rollback.",
    ]
    assert repo.head() == shas[2]  # nothing committed without --commit


def test_rollback_undoes_the_change_that_set_the_current_value_not_the_last_commit(
    repo: GitRepo,
) -> None:
    commit_spec(repo, {"bikes": {"champion": 1}}, "Declare")
    promote = commit_spec(repo, {"bikes": {"champion": 2}}, "Promote 2")
    commit_spec(repo, {"bikes": {"champion": 2, "challenger": 4}}, "Add challenger")

    rollback = prepare_rollback(repo.path(FILE), "bikes", "champion")

    assert (rollback.current, rollback.target) == (2, 1)
    assert rollback.changed_in is not None
    assert rollback.changed_in.sha == promote


COMMENTED = """\
# yaml-language-server: $schema=./aliases.schema.json
# Desired aliases: a pull request changes them, merging applies them.

models:
  bikes:   # the bike-share demand model
    aliases:
      champion: @V@ # promoted after the May review
      challenger: 3


  cars:
    aliases:
      champion: 7
"""
QUOTED = """\
models:
  "bikes.eu-west":
    aliases:
      'champion': @V@
  'cars/v2':
    aliases:
      "champion": 1
"""
FLOW = "models:\n  bikes: {aliases: {challenger: 3, champion: @V@}}\n"
NO_FINAL_NEWLINE = "models:\n  bikes:\n    aliases:\n      champion: @V@"


@pytest.mark.parametrize(
    ("model", "template"),
    [
        ("bikes", COMMENTED),
        ("bikes", COMMENTED.replace("\n", "\r\n")),
        ("bikes", "\ufeff" + COMMENTED),
        ("bikes", "\ufeff" + COMMENTED.replace("\n", "\r\n")),
        ("bikes.eu-west", QUOTED),
        ("bikes", FLOW),
        ("bikes", NO_FINAL_NEWLINE),
    ],
    ids=["comments", "crlf", "bom", "bom-crlf", "quoted-names", "flow-style", "no-final-newline"],
)
def test_rollback_changes_only_the_version_characters_byte_for_byte(
    repo: GitRepo, capsys: pytest.CaptureFixture[str], model: str, template: str
) -> None:
    def render(version: int) -> bytes:
        return template.replace("@V@", str(version)).encode()

    repo.write(FILE, render(9))
    repo.commit("Declare")
    repo.write(FILE, render(12))
    repo.commit("Promote 12")

    code, _, err = aliasctl(capsys, "rollback", f"{model}@champion", str(repo.path(FILE)))

    assert (code, err) == (0, "")
    assert repo.path(FILE).read_bytes() == render(9)
    assert repo.git("diff", "--numstat") == f"1\t1\t{FILE}"


def test_rollback_to_a_version_sets_exactly_that_version(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    champion_1_2_3(repo)
    path = repo.path(FILE)

    code, out, _ = aliasctl(capsys, "rollback", "bikes@champion", str(path), "--to", "7")

    assert code == 0
    assert path.read_text() == spec_text({"bikes": {"champion": 7}, "cars": {"champion": 5}})
    assert out.splitlines()[0] == f"{path}: bikes@champion 3 -> 7"
    assert "Equivalent" not in out


def test_rollback_to_a_version_needs_no_git_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate_git(monkeypatch, tmp_path)
    path = tmp_path / FILE
    path.write_text(spec_text({"bikes": {"champion": 3}}))

    code, _, err = aliasctl(capsys, "rollback", "bikes@champion", str(path), "--to", "2")

    assert (code, err) == (0, "")
    assert path.read_text() == spec_text({"bikes": {"champion": 2}})


def test_rollback_to_the_current_version_changes_nothing(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    champion_1_2_3(repo)
    before = repo.path(FILE).read_bytes()

    code, out, _ = aliasctl(capsys, "rollback", "bikes@champion", str(repo.path(FILE)), "--to", "3")

    assert (code, out) == (0, "bikes@champion already points to 3: nothing to roll back.\n")
    assert repo.path(FILE).read_bytes() == before


@pytest.mark.parametrize(("rev", "version"), [("first", 1), ("HEAD~1", 2), ("HEAD~2", 1)])
def test_rollback_to_a_revision_restores_the_value_declared_there(
    repo: GitRepo, capsys: pytest.CaptureFixture[str], rev: str, version: int
) -> None:
    shas = champion_1_2_3(repo)
    rev = shas[0] if rev == "first" else rev

    code, out, _ = aliasctl(capsys, "rollback", "bikes@champion", str(repo.path(FILE)), "--to", rev)

    assert code == 0
    assert f"bikes@champion 3 -> {version}\n" in out
    expected = spec_text({"bikes": {"champion": version}, "cars": {"champion": 5}})
    assert repo.path(FILE).read_text() == expected


def test_commit_records_only_the_alias_file_even_with_another_file_staged(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    shas = champion_1_2_3(repo)
    repo.write("notes.txt", "staged, not part of the rollback\n")
    repo.git("add", "notes.txt")

    code, out, err = aliasctl(
        capsys, "rollback", "bikes@champion", str(repo.path(FILE)), "--commit"
    )

    assert (code, err) == (0, "")
    head = repo.head()
    assert repo.git("rev-parse", "HEAD~1") == shas[2]
    assert repo.git("show", "--name-only", "--format=", "HEAD") == FILE
    assert repo.git("show", f"HEAD:{FILE}") + "\n" == spec_text(
        {"bikes": {"champion": 2}, "cars": {"champion": 5}}
    )
    assert repo.git("diff", "--cached", "--name-only") == "notes.txt"
    assert repo.git("status", "--porcelain", "--", FILE) == ""
    assert repo.git("log", "-1", "--format=%an <%ae>") == str(RUNNER)
    assert repo.git("log", "-1", "--format=%B") == (
        "Roll back bikes@champion from 3 to 2\n\n"
        f"Undoes the change of bikes@champion made in {shas[2][:7]} (Promote 3)."
    )
    assert f"Committed {head[:7]}: Roll back bikes@champion from 3 to 2\n" in out


def test_revert_hint_for_a_single_alias_commit_gives_the_same_file(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    shas = champion_1_2_3(repo)
    path = repo.path(FILE)

    code, out, _ = aliasctl(capsys, "rollback", "bikes@champion", str(path))
    rolled_back = path.read_bytes()
    (hint,) = [line for line in out.splitlines() if line.startswith("Equivalent: ")]
    repo.git("checkout", "--", FILE)
    repo.git(*hint.removeprefix("Equivalent: git ").split())

    assert code == 0
    assert hint == f"Equivalent: git revert {shas[2][:7]}"
    assert path.read_bytes() == rolled_back


def test_no_revert_hint_when_the_commit_changed_several_aliases(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    commit_spec(repo, {"bikes": {"champion": 1, "challenger": 2}}, "Declare")
    both = commit_spec(repo, {"bikes": {"champion": 2, "challenger": 3}}, "Promote both")

    rollback = prepare_rollback(repo.path(FILE), "bikes", "champion")
    code, out, _ = aliasctl(capsys, "rollback", "bikes@champion", str(repo.path(FILE)))

    assert rollback.changed_in is not None
    assert (rollback.changed_in.sha, rollback.revert_equivalent) == (both, False)
    assert code == 0
    assert "bikes@champion 2 -> 1" in out
    assert "Equivalent" not in out


def test_revert_hint_for_a_merged_pull_request_names_the_mainline_and_gives_the_same_file(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    commit_spec(repo, {"bikes": {"champion": 1}}, "Declare")
    repo.branch("promote")
    commit_spec(repo, {"bikes": {"champion": 2}}, "Promote 2")
    repo.checkout("main")
    merge = repo.merge("promote", "Merge pull request #12 from org/promote")
    path = repo.path(FILE)

    code, out, _ = aliasctl(capsys, "rollback", "bikes@champion", str(path))
    rolled_back = path.read_bytes()
    (hint,) = [line for line in out.splitlines() if line.startswith("Equivalent: ")]
    repo.git("checkout", "--", FILE)
    repo.git(*hint.removeprefix("Equivalent: git ").split())  # git refuses a merge without -m

    assert code == 0
    assert hint == f"Equivalent: git revert -m 1 {merge[:7]}"
    assert path.read_bytes() == rolled_back


def declare_then_add_challenger(repo: GitRepo) -> str:
    commit_spec(repo, {"bikes": {"champion": 1}}, "Declare")
    return commit_spec(repo, {"bikes": {"champion": 1, "challenger": 4}}, "Add challenger")


@pytest.mark.parametrize(
    ("target", "extra", "message"),
    [
        ("bikes@nope", (), "{file}: bikes@nope is not declared"),
        ("trucks@champion", (), "{file}: model 'trucks' is not declared"),
        (
            "bikes@challenger",
            (),
            "bikes@challenger was created by {short} (Add challenger): there is no previous "
            "version to roll back to; remove the alias from the file, or `git revert {short}`",
        ),
        ("bikes@champion", ("--to", "0"), "--to VERSION must be a positive integer"),
        ("bikes@champion", ("--to", "no-such-rev"), "'no-such-rev' is neither a git revision"),
        ("bikes@challenger", ("--to", "HEAD~1"), "bikes@challenger is not declared at HEAD~1"),
    ],
    ids=[
        "alias-not-declared",
        "model-not-declared",
        "created-by-the-last-change",
        "version-zero",
        "unknown-revision",
        "not-declared-at-revision",
    ],
)
def test_rollback_errors_are_one_line_and_change_nothing(
    repo: GitRepo,
    capsys: pytest.CaptureFixture[str],
    target: str,
    extra: tuple[str, ...],
    message: str,
) -> None:
    short = declare_then_add_challenger(repo)[:7]
    path = repo.path(FILE)
    before = path.read_bytes()

    code, out, err = aliasctl(capsys, "rollback", target, str(path), *extra)

    assert (code, out) == (1, "")
    assert err.startswith("Error: " + message.format(file=path, short=short))
    assert err.count("\n") == 1
    assert path.read_bytes() == before


def test_rollback_without_history_of_the_current_value_asks_for_a_version(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    declare_then_add_challenger(repo)
    path = repo.path(FILE)
    path.write_text(spec_text({"bikes": {"champion": 8, "challenger": 4}}))  # not committed

    code, out, err = aliasctl(capsys, "rollback", "bikes@champion", str(path))

    assert (code, out) == (1, "")
    assert err == (
        f"Error: no earlier version of bikes@champion in the history of {path}; pass --to VERSION\n"
    )


def test_rollback_outside_git_without_a_version_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate_git(monkeypatch, tmp_path)
    path = tmp_path / FILE
    path.write_text(spec_text({"bikes": {"champion": 3}}))

    code, out, err = aliasctl(capsys, "rollback", "bikes@champion", str(path))

    assert (code, out) == (1, "")
    assert err == f"Error: {path}: not inside a git repository\n"
    assert path.read_text() == spec_text({"bikes": {"champion": 3}})


def test_rollback_of_a_missing_file_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate_git(monkeypatch, tmp_path)

    code, out, err = aliasctl(capsys, "rollback", "bikes@champion", str(tmp_path / FILE))

    assert (code, out, err) == (1, "", f"Error: {tmp_path / FILE}: no such file\n")


def test_rollback_target_without_an_alias_is_a_usage_error_exiting_1(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    declare_then_add_challenger(repo)

    code, out, err = aliasctl(capsys, "rollback", "bikes", str(repo.path(FILE)))

    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == "Error: Invalid value for TARGET: expected MODEL@ALIAS"
    assert "Traceback" not in err
