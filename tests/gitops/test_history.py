"""History: the timeline of alias changes read from real git repositories."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from controller.core.change import Action, Change
from controller.gitops.history import Revision, parse_moment, read_timeline, select
from tests.conftest import invoke as aliasctl
from tests.support.gitrepo import (
    ALICE,
    BOB,
    CAROL,
    START,
    GitRepo,
    Snapshot,
    commit_spec,
    isolate_git,
    spec_text,
)

if TYPE_CHECKING:
    from pathlib import Path

FILE = "aliases.yaml"


def create(model: str, alias: str, version: int) -> Change:
    return Change(model, alias, Action.CREATE, None, version)


def update(model: str, alias: str, before: int, after: int) -> Change:
    return Change(model, alias, Action.UPDATE, before, after)


def change_json(change: Change) -> dict[str, object]:
    return {
        "model": change.model,
        "alias": change.alias,
        "action": str(change.action),
        "before": change.before,
        "after": change.after,
    }


def test_first_commit_creates_every_declared_alias(repo: GitRepo) -> None:
    declared = {"bikes": {"champion": 1, "challenger": 2}, "cars": {"champion": 5}}
    sha = commit_spec(repo, declared, "Declare aliases")

    timeline = read_timeline(repo.path(FILE))

    (entry,) = timeline.entries
    assert entry.changes == (
        create("bikes", "challenger", 2),
        create("bikes", "champion", 1),
        create("cars", "champion", 5),
    )
    assert entry.state == declared
    assert entry.invalid is None
    revision = entry.revision
    assert (revision.sha, revision.parents, revision.path) == (sha, (), FILE)
    assert (revision.author, revision.email, revision.subject) == (
        ALICE.name,
        ALICE.email,
        "Declare aliases",
    )
    assert revision.time == repo.clock
    assert revision.pull_request is None
    assert (timeline.path, timeline.shallow, timeline.notes) == (FILE, False, ())


def test_merged_pull_request_is_one_entry_by_the_merge_commit_and_its_author(
    repo: GitRepo,
) -> None:
    commit_spec(repo, {"bikes": {"champion": 1}}, "Declare bikes")
    repo.branch("promote")
    repo.write(FILE, spec_text({"bikes": {"champion": 2}}))
    branch_commit = repo.commit("Promote champion", author=BOB)
    repo.write(FILE, spec_text({"bikes": {"champion": 2, "challenger": 3}}))
    repo.commit("Add challenger", author=BOB)
    repo.checkout("main")
    repo.write("README.md", "Unrelated to aliases.\n")
    docs = repo.commit("Docs")
    merge = repo.merge("promote", "Merge pull request #12 from org/promote", author=CAROL)

    entries = read_timeline(repo.path(FILE)).entries

    assert [e.revision.subject for e in entries] == [
        "Declare bikes",
        "Merge pull request #12 from org/promote",
    ]
    revision = entries[-1].revision
    assert revision.sha == merge
    assert revision.parents[0] == docs
    assert branch_commit not in {e.revision.sha for e in entries}
    assert revision.pull_request == 12
    assert (revision.author, revision.email) == (CAROL.name, CAROL.email)
    assert entries[-1].changes == (
        create("bikes", "challenger", 3),
        update("bikes", "champion", 1, 2),
    )


def test_squash_merge_subject_gives_the_pull_request_number(repo: GitRepo) -> None:
    commit_spec(repo, {"bikes": {"champion": 1}}, "Declare bikes (#11)")
    commit_spec(repo, {"bikes": {"champion": 2}}, "Promote champion (#13)")

    entries = read_timeline(repo.path(FILE)).entries

    assert [e.revision.pull_request for e in entries] == [11, 13]
    assert entries[-1].changes == (update("bikes", "champion", 1, 2),)


@pytest.mark.parametrize(
    ("subject", "number"),
    [
        ("Merge pull request #12 from org/promote", 12),
        ("Promote champion (#13)", 13),
        ("Promote champion (#13)  ", 13),
        ('Revert "Promote champion (#13)"', None),
        ("Fix #14: promote champion", None),
        ("Merge branch 'promote'", None),
        ("Promote champion (#13) and challenger", None),
    ],
)
def test_pull_request_number_comes_only_from_merge_or_squash_subjects(
    subject: str, number: int | None
) -> None:
    revision = Revision("0" * 40, (), "A", "a@example.com", START, subject, FILE)
    assert revision.pull_request == number


def test_history_follows_the_file_across_a_rename(repo: GitRepo) -> None:
    commit_spec(repo, {"bikes": {"champion": 1}}, "Declare bikes")
    commit_spec(repo, {"bikes": {"champion": 2}}, "Promote 2")
    repo.mv(FILE, "config/aliases.yaml")
    moved = repo.commit("Move the alias file under config/")
    repo.write("config/aliases.yaml", spec_text({"bikes": {"champion": 3}}))
    repo.commit("Promote 3")

    timeline = read_timeline(repo.path("config/aliases.yaml"))

    assert timeline.path == "config/aliases.yaml"
    assert [(e.revision.subject, e.revision.path, e.changes) for e in timeline.entries] == [
        ("Declare bikes", FILE, (create("bikes", "champion", 1),)),
        ("Promote 2", FILE, (update("bikes", "champion", 1, 2),)),
        ("Move the alias file under config/", "config/aliases.yaml", ()),
        ("Promote 3", "config/aliases.yaml", (update("bikes", "champion", 2, 3),)),
    ]
    assert timeline.entries[2].revision.sha == moved


def test_history_reads_a_file_under_a_non_ascii_directory(repo: GitRepo) -> None:
    repo.write("modèles/aliases.yaml", spec_text({"bikes": {"champion": 1}}))
    repo.commit("Declare bikes")
    repo.write("modèles/aliases.yaml", spec_text({"bikes": {"champion": 2}}))
    repo.commit("Promote 2")

    timeline = read_timeline(repo.path("modèles/aliases.yaml"))

    assert [e.revision.path for e in timeline.entries] == ["modèles/aliases.yaml"] * 2
    assert timeline.entries[-1].changes == (update("bikes", "champion", 1, 2),)


def test_deleting_the_file_deletes_every_alias_and_restoring_it_creates_them(
    repo: GitRepo,
) -> None:
    commit_spec(repo, {"bikes": {"champion": 1}}, "Declare bikes")
    repo.path(FILE).unlink()
    repo.commit("Remove the alias file")
    commit_spec(repo, {"bikes": {"champion": 4}}, "Restore the alias file")

    entries = read_timeline(repo.path(FILE)).entries

    assert [(e.revision.deleted, e.changes) for e in entries] == [
        (False, (create("bikes", "champion", 1),)),
        (True, (Change("bikes", "champion", Action.DELETE, 1, None),)),
        (False, (create("bikes", "champion", 4),)),
    ]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (spec_text({"bikes": {"champion": 1}}).replace("1", "two"), "positive integer"),
        (b"models:\n  bikes: [\n", "invalid YAML"),
        (b"models:\n  bikes:\n    aliases:\n      champion: \xff\n", "not valid UTF-8"),
    ],
    ids=["bad-version", "broken-yaml", "not-utf8"],
)
def test_invalid_revision_is_reported_and_the_next_one_diffs_against_the_last_valid(
    repo: GitRepo, content: str | bytes, reason: str
) -> None:
    first = {"bikes": {"champion": 1, "challenger": 1}}
    commit_spec(repo, first, "Declare bikes")
    repo.write(FILE, content)
    repo.commit("Break the file")
    commit_spec(repo, {"bikes": {"champion": 3, "challenger": 1}}, "Fix and promote 3")

    timeline = read_timeline(repo.path(FILE))

    broken, fixed = timeline.entries[1:]
    assert broken.invalid is not None
    assert reason in broken.invalid
    assert f"{FILE}@{broken.revision.short}" in broken.invalid
    assert (broken.changes, broken.state) == ((), first)
    assert fixed.invalid is None
    assert fixed.changes == (update("bikes", "champion", 1, 3),)
    # A filtered timeline still shows that the file was broken.
    assert broken.revision in {e.revision for e in select(timeline, "bikes", "champion").entries}


def test_shallow_clone_is_flagged_with_a_note(repo: GitRepo, tmp_path: Path) -> None:
    for version in range(1, 5):
        commit_spec(repo, {"bikes": {"champion": version}}, f"Promote {version}")
    clone = repo.clone(tmp_path / "shallow", depth=2)

    full = read_timeline(repo.path(FILE))
    cut = read_timeline(clone.path(FILE))

    assert (len(full.entries), full.shallow, full.notes) == (4, False, ())
    assert len(cut.entries) == 2
    assert cut.shallow is True
    assert any("shallow clone" in note for note in cut.notes)
    assert cut.entries[-1].state == {"bikes": {"champion": 4}}


def test_timeline_of_an_older_revision_ends_at_that_revision(repo: GitRepo) -> None:
    shas = [commit_spec(repo, {"bikes": {"champion": n}}, f"Promote {n}") for n in (1, 2, 3)]

    timeline = read_timeline(repo.path(FILE), rev=shas[1])

    assert [e.revision.sha for e in timeline.entries] == shas[:2]
    assert timeline.entries[-1].state == {"bikes": {"champion": 2}}


def test_uncommitted_file_has_an_empty_timeline_and_a_note(repo: GitRepo) -> None:
    repo.write("README.md", "Aliases come later.\n")
    repo.commit("Start")
    repo.write(FILE, spec_text({"bikes": {"champion": 1}}))

    timeline = read_timeline(repo.path(FILE))

    assert timeline.entries == ()
    assert timeline.notes == (f"{FILE} has no committed revisions at HEAD",)


def three_days(repo: GitRepo) -> list[str]:
    """champion 1, 2, 3 committed at 10:00 UTC on 1, 2 and 3 March 2024."""
    shas = []
    for day in (1, 2, 3):
        repo.write(FILE, spec_text({"bikes": {"champion": day}, "cars": {"champion": 10}}))
        shas.append(repo.commit(f"Promote {day}", when=datetime(2024, 3, day, 10, tzinfo=UTC)))
    return shas


@pytest.mark.parametrize(
    ("moment", "version"),
    [
        ("2024-03-01T10:00:00Z", 1),
        ("2024-03-02T09:59:59Z", 1),
        ("2024-03-02T10:00:00Z", 2),
        ("2024-03-02T12:00", 2),  # naive means UTC
        ("2024-03-02T11:30:00+02:00", 1),  # 09:30 UTC
        ("2024-03-04", 3),
    ],
)
def test_at_a_timestamp_shows_the_revision_in_force_then(
    repo: GitRepo, capsys: pytest.CaptureFixture[str], moment: str, version: int
) -> None:
    three_days(repo)

    code, out, _ = aliasctl(capsys, "history", str(repo.path(FILE)), "--at", moment)

    assert code == 0
    assert out.splitlines()[0].startswith(f"At {moment}: ")
    assert f"Promote {version})" in out.splitlines()[0]
    assert f"bikes@champion -> {version}\n" in out
    assert "cars@champion -> 10\n" in out


def test_at_a_timestamp_before_the_first_commit_says_there_was_no_file(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    three_days(repo)

    code, out, _ = aliasctl(capsys, "history", str(repo.path(FILE)), "--at", "2024-02-29")

    assert (code, out) == (0, "No revision of the file existed at 2024-02-29.\n")


def test_state_at_picks_the_last_revision_not_after_the_moment(repo: GitRepo) -> None:
    shas = three_days(repo)
    timeline = read_timeline(repo.path(FILE))

    def at(text: str) -> str | None:
        moment = parse_moment(text)
        assert moment is not None
        entry = timeline.state_at(moment)
        return entry.revision.sha if entry else None

    assert at("2024-03-02T10:00:00Z") == shas[1]
    assert at("2024-03-03T09:00:00") == shas[1]
    assert at("2024-03-01T09:00:00Z") is None
    assert parse_moment("HEAD~1") is None


@pytest.mark.parametrize(("rev", "version"), [("HEAD~2", 1), ("HEAD~1", 2), ("main", 3)])
def test_at_a_revision_shows_the_file_as_of_that_commit(
    repo: GitRepo, capsys: pytest.CaptureFixture[str], rev: str, version: int
) -> None:
    three_days(repo)

    code, out, _ = aliasctl(capsys, "history", "bikes@champion", str(repo.path(FILE)), "--at", rev)

    assert code == 0
    assert out.splitlines()[1:] == [f"  bikes@champion -> {version}"]


def test_at_a_revision_sha_in_json_names_the_commit_and_every_alias(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    shas = three_days(repo)

    code, out, _ = aliasctl(
        capsys, "history", str(repo.path(FILE)), "--at", shas[1][:10], "-o", "json"
    )

    assert code == 0
    assert json.loads(out)["at"] == {
        "moment": shas[1][:10],
        "commit": shas[1],
        "time": "2024-03-02T10:00:00+00:00",
        "aliases": {"bikes": {"champion": 2}, "cars": {"champion": 10}},
    }


def test_at_something_neither_a_date_nor_a_revision_is_one_clear_error(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    three_days(repo)

    code, out, err = aliasctl(capsys, "history", str(repo.path(FILE)), "--at", "last-tuesday")

    assert (code, out) == (1, "")
    assert err == "Error: 'last-tuesday' is neither a git revision nor an ISO date/time\n"


@pytest.mark.parametrize("rev", ["--output=written-by-git", "-p"])
def test_at_a_value_git_would_read_as_an_option_is_refused(
    repo: GitRepo, capsys: pytest.CaptureFixture[str], rev: str
) -> None:
    three_days(repo)

    code, out, err = aliasctl(capsys, "history", str(repo.path(FILE)), "--at", rev)

    assert (code, out) == (1, "")
    assert err == f"Error: {rev!r} is not a revision: a revision never starts with '-'\n"
    assert not repo.path("written-by-git").exists()
    assert not (repo.path(FILE).parent / "written-by-git").exists()


def four_revisions(repo: GitRepo) -> None:
    commit_spec(repo, {"bikes": {"champion": 1}, "cars": {"champion": 5}}, "Declare")
    commit_spec(repo, {"bikes": {"champion": 2}, "cars": {"champion": 5}}, "Bikes 2")
    commit_spec(repo, {"bikes": {"champion": 2}, "cars": {"champion": 6}}, "Cars 6")
    commit_spec(
        repo, {"bikes": {"champion": 2, "challenger": 3}, "cars": {"champion": 6}}, "Challenger"
    )


def test_filtering_by_model_keeps_only_that_models_changes(repo: GitRepo) -> None:
    four_revisions(repo)
    timeline = read_timeline(repo.path(FILE))

    bikes = select(timeline, "bikes", None)

    assert [(e.revision.subject, e.changes) for e in bikes.entries] == [
        ("Declare", (create("bikes", "champion", 1),)),
        ("Bikes 2", (update("bikes", "champion", 1, 2),)),
        ("Challenger", (create("bikes", "challenger", 3),)),
    ]
    assert select(timeline, None, None) == timeline


def test_filtering_by_model_and_alias_through_the_cli(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    four_revisions(repo)

    code, out, _ = aliasctl(capsys, "history", "bikes@champion", str(repo.path(FILE)), "-o", "json")

    assert code == 0
    entries = json.loads(out)["entries"]
    assert [(e["subject"], e["changes"]) for e in entries] == [
        ("Declare", [change_json(create("bikes", "champion", 1))]),
        ("Bikes 2", [change_json(update("bikes", "champion", 1, 2))]),
    ]


def pull_request_history(repo: GitRepo) -> tuple[str, str]:
    first = commit_spec(repo, {"bikes": {"champion": 1}}, "Declare bikes")
    repo.branch("promote")
    commit_spec(repo, {"bikes": {"champion": 2}}, "Promote champion")
    repo.checkout("main")
    merge = repo.merge("promote", "Merge pull request #12 from org/promote", author=CAROL)
    return first, merge


def test_history_json_lists_every_revision_with_its_changes(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    first, merge = pull_request_history(repo)

    code, out, _ = aliasctl(capsys, "history", str(repo.path(FILE)), "-o", "json")

    assert code == 0
    assert json.loads(out) == {
        "format_version": 1,
        "path": FILE,
        "shallow": False,
        "notes": [],
        "entries": [
            {
                "commit": first,
                "time": "2024-01-01T10:00:00+00:00",
                "author": ALICE.name,
                "email": ALICE.email,
                "subject": "Declare bikes",
                "pull_request": None,
                "path": FILE,
                "invalid": None,
                "changes": [change_json(create("bikes", "champion", 1))],
                "promotions": [],
            },
            {
                "commit": merge,
                "time": "2024-01-01T12:00:00+00:00",
                "author": CAROL.name,
                "email": CAROL.email,
                "subject": "Merge pull request #12 from org/promote",
                "pull_request": 12,
                "path": FILE,
                "invalid": None,
                "changes": [change_json(update("bikes", "champion", 1, 2))],
                "promotions": [],
            },
        ],
    }


def test_history_markdown_is_a_table_row_per_revision(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    first, merge = pull_request_history(repo)

    code, out, _ = aliasctl(capsys, "history", str(repo.path(FILE)), "-o", "markdown")

    assert code == 0
    lines = out.splitlines()
    assert lines[0].replace(" ", "") == "|when|commit|author|PR|changes|"
    assert len(lines) == 4
    declare, promote = lines[2], lines[3]
    assert first[:7] in declare
    assert "`bikes@champion: set to 1`" in declare
    assert all(part in promote for part in (merge[:7], CAROL.name, "#12", "1 → 2"))


def test_history_text_shows_pull_requests_invalid_revisions_and_shallow_notes(
    repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pull_request_history(repo)
    repo.write(FILE, "models: [\n")
    repo.commit("Break the file")
    clone = repo.clone(tmp_path / "shallow", depth=2)

    code, out, _ = aliasctl(capsys, "history", str(clone.path(FILE)))

    assert code == 0
    assert "PR #12  Merge pull request #12 from org/promote" in out
    assert "invalid file, skipped:" in out
    assert "note: history is cut short: this is a shallow clone" in out
    assert "\x1b[" not in out  # no colours when not writing to a terminal


def test_history_outside_a_git_repository_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate_git(monkeypatch, tmp_path)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / FILE).write_text(spec_text({"bikes": {"champion": 1}}))

    code, out, err = aliasctl(capsys, "history", str(plain / FILE))

    assert (code, out) == (1, "")
    assert err == f"Error: {plain / FILE}: not inside a git repository\n"


def test_history_of_2000_revisions_has_2000_entries_and_the_last_state(repo: GitRepo) -> None:
    def snapshots() -> list[Snapshot]:
        made = []
        for n in range(1, 2001):
            declared = {"bikes": {"champion": n}, "cars": {"champion": 1 + n // 500}}
            made.append(Snapshot(f"Promote bikes {n}", {FILE: spec_text(declared)}))
            if n % 100 == 0:
                made.append(Snapshot("Docs", {"README.md": f"{n}\n"}, author=BOB))
        return made

    assert repo.fast_import(snapshots()) == 2020

    entries = read_timeline(repo.path(FILE)).entries

    assert len(entries) == 2000
    assert entries[-1].state == {"bikes": {"champion": 2000}, "cars": {"champion": 5}}
    assert entries[0].changes == (create("bikes", "champion", 1), create("cars", "champion", 1))
    assert entries[1499].changes == (
        update("bikes", "champion", 1499, 1500),
        update("cars", "champion", 3, 4),
    )
    assert all(len(e.changes) >= 1 for e in entries)
    assert all(a.revision.time < b.revision.time for a, b in itertools.pairwise(entries))


PROD_FILE = """\
environment: {{name: prod}}
models:
  bikes:
    aliases:
      champion: {champion}
      shadow: 4
"""


def test_history_of_an_environment_names_each_promotion_by_where_it_came_from(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Never "removed" or "no alias changes" for a promotion: where from, on each side."""
    repo.write("prod.yaml", PROD_FILE.format(champion=3))
    repo.commit("Prod by hand")
    repo.write("prod.yaml", PROD_FILE.format(champion="{from: staging, version: 7}"))
    repo.commit("Promote v7")
    repo.write("prod.yaml", PROD_FILE.format(champion="staging@champion"))
    repo.commit("Follow staging's champion")
    repo.write("prod.yaml", PROD_FILE.format(champion=3).replace("      shadow: 4\n", ""))
    repo.commit("Roll back to 3")
    prod = str(repo.path("prod.yaml"))

    code, out, _ = aliasctl(capsys, "history", prod)

    assert code == 0
    assert [line.strip() for line in out.splitlines() if not line[:1].isdigit()] == [
        "+ bikes@champion: set to 3",
        "+ bikes@shadow: set to 4",
        "~ bikes@champion: 3 → staging bikes v7",
        "~ bikes@champion: staging bikes v7 → staging bikes@champion",
        "- bikes@shadow: removed (was 4)",
        "~ bikes@champion: staging bikes@champion → 3",
    ]
    code, out, _ = aliasctl(capsys, "history", "bikes@champion", prod, "--output", "json")
    entries = json.loads(out)["entries"]
    assert [(e["changes"], e["promotions"]) for e in entries][1] == (
        [], [{"model": "bikes", "alias": "champion", "from": "3", "to": "staging bikes v7"}]
    )  # fmt: skip
    assert len(entries) == 4  # the promotions are changes of bikes@champion too
    code, out, _ = aliasctl(capsys, "history", prod, "--at", "HEAD~1")
    assert "  bikes@champion -> staging bikes@champion" in out.splitlines()
