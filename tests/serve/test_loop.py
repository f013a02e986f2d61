"""The GitOps loop end to end: a real git repository, a real registry, only the CLI.

initial file -> PR promoting champion 3 -> 4 and adding canary -> merge -> apply
-> someone moves champion by hand (drift) -> plan sees it -> git revert of the
merge -> apply -> rollback --commit -> apply -> history tells the whole story.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.core.state import RECORD_TAG, Record
from tests.conftest import client_for, invoke, live_aliases, seed
from tests.support.gitrepo import ALICE, BOB, GitRepo, isolate_git

HEADER = "# Production aliases. Reviewed by @ml-release.\n\nmodels:\n  bikes:\n    aliases:\n"


def spec(champion: int, challenger: int, canary: int | None = None) -> str:
    text = HEADER + f"      champion: {champion}   # what the API serves\n"
    text += f"      challenger: {challenger}\n"
    return text + (f"      canary: {canary}\n" if canary is not None else "")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code, out, err = invoke(capsys, *args)
    return code, out + err


def test_the_whole_gitops_loop(
    capsys: pytest.CaptureFixture[str],
    sqlite_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    isolate_git(monkeypatch, tmp_path)
    for name in ("GITHUB_ACTIONS", "GITHUB_ACTOR", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    seed(sqlite_uri, {"bikes": 5}, {"bikes": {"staging": 2}})  # staging: the training pipeline's
    repo = GitRepo.init(tmp_path / "repo")
    file = repo.write("aliases.yaml", spec(3, 4))
    initial = repo.commit("Initial aliases", author=ALICE)
    uri = ["--registry-uri", sqlite_uri]

    def apply() -> str:
        code, out = cli(capsys, "apply", str(file), *uri)
        assert code == 0, out
        return out

    def assert_registry_matches(expected: dict[str, int]) -> None:
        assert live_aliases(sqlite_uri, "bikes") == {**expected, "staging": 2}

    apply()
    assert_registry_matches({"champion": 3, "challenger": 4})

    # A pull request promotes the challenger and adds a canary; the plan shows it.
    repo.branch("promote-v4")
    repo.write("aliases.yaml", spec(4, 4, canary=5))
    repo.commit("Promote v4, canary v5", author=BOB)
    code, out = cli(capsys, "plan", str(file), *uri, "--detailed-exitcode", "-o", "json")
    assert code == 2
    changes = json.loads(out)["changes"]
    # The reviewer sees v4 beside v3 and v5 alone (tests/test_evidence.py has the details).
    evidence = [change.pop("evidence") for change in changes]
    canary, champion = evidence
    assert (canary["before"], canary["after"]["version"]) == (None, 5)
    assert (champion["before"]["version"], champion["after"]["version"]) == (3, 4)
    assert changes == [
        {"model": "bikes", "alias": "canary", "action": "create", "before": None, "after": 5},
        {"model": "bikes", "alias": "champion", "action": "update", "before": 3, "after": 4},
    ]
    repo.checkout("main")
    merge = repo.merge("promote-v4", "Merge pull request #7 from org/promote-v4", author=ALICE)

    # Merging applies it, from CI: the stamp says which commit and which run.
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_ACTOR", "alice")
    monkeypatch.setenv("GITHUB_REPOSITORY", "org/models")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    apply()
    assert_registry_matches({"champion": 4, "challenger": 4, "canary": 5})
    record = Record.decode(client_for(sqlite_uri).get_registered_model("bikes").tags[RECORD_TAG])
    assert record is not None
    assert record.commit == merge
    assert record.source["actor"] == "alice"
    assert record.source["run_url"] == "https://github.com/org/models/actions/runs/42"

    # Someone moves champion by hand in the MLflow UI: plan reports drift.
    client_for(sqlite_uri).set_registered_model_alias("bikes", "champion", "1")
    code, out = cli(capsys, "plan", str(file), *uri, "-o", "json")
    assert code == 0
    body = json.loads(out)
    assert body["drift"] == [{"model": "bikes", "alias": "champion", "recorded": 4, "live": 1}]
    assert body["last_applied"]["bikes"]["commit"] == merge
    code, out = cli(capsys, "plan", str(file), *uri)
    assert "! bikes@champion: set to 4, now 1" in out
    assert f"{merge[:7]} at " in out

    # The promotion misbehaves: revert the merge; apply deletes canary, champion back to 3.
    repo.git("revert", "--no-edit", "-m", "1", merge, person=ALICE, when=repo.tick())
    apply()
    assert_registry_matches({"champion": 3, "challenger": 4})

    # On second thoughts, roll champion forward again with rollback --commit.
    code, out = cli(capsys, "rollback", "bikes@champion", str(file), "--commit")
    assert code == 0, out
    assert "bikes@champion 3 -> 4" in out
    assert file.read_text() == spec(4, 4)  # one number changed, comments and order kept
    assert repo.git("status", "--porcelain") == ""
    apply()
    assert_registry_matches({"champion": 4, "challenger": 4})

    # history tells the story: who, which PR, what moved.
    code, out = cli(capsys, "history", str(file), "-o", "json")
    assert code == 0
    entries = json.loads(out)["entries"]
    story = [
        (e["author"], e["pull_request"], [(c["alias"], c["before"], c["after"]) for c in changes])
        for e in entries
        for changes in [e["changes"]]
    ]
    assert story == [
        ("Alice Example", None, [("challenger", None, 4), ("champion", None, 3)]),
        ("Alice Example", 7, [("canary", None, 5), ("champion", 3, 4)]),
        ("Alice Example", None, [("canary", 5, None), ("champion", 4, 3)]),
        ("Test Runner", None, [("champion", 3, 4)]),
    ]
    assert entries[0]["commit"] == initial
    assert entries[1]["commit"] == merge
    code, out = cli(capsys, "history", "bikes@champion", str(file), "--at", merge[:10])
    assert "bikes@champion -> 4" in out
    code, out = cli(capsys, "history", "bikes@canary", str(file))
    assert "PR #7" in out
    assert "bikes@canary: set to 5" in out
