"""Rollbacks and relative gates: moving an alias back to a version that held it before.

A version that held the alias in the file's first-parent git history was approved for
it once; a relative bound (`rmse: "<= current"`) would refuse it exactly when the team
needs it back. So relative bounds and promote_from (with its soak) skip it, with a note;
fixed bounds, signature compatibility and verify still apply; outside git, nothing is
skipped. Real git repositories, real logged models (tests/relative_models.py).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from controller.core.soak import last_lost
from tests.conftest import client_for, invoke, live_aliases
from tests.support.gitrepo import START, STEP
from tests.support.relative_models import MODEL

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.gitrepo import GitRepo
    from tests.support.logged_models import LoggedRegistry

RMSE = '    require_metrics: {rmse: "<= current"}\n'


@pytest.fixture
def uri(relative: LoggedRegistry, tmp_path: Path) -> str:
    return relative.copy_to(tmp_path)


def commit(repo: GitRepo, champion: int, policy: str = RMSE, more: str = "") -> str:
    """Commit a file declaring rel@champion -> `champion` (and `more`) under `policy`."""
    body = f"models:\n  {MODEL}:\n    aliases:\n      champion: {champion}\n{more}"
    repo.write("aliases.yaml", body + f"policies:\n  champion:\n{policy}")
    return repo.commit(f"champion {champion}")


def plan(capsys: pytest.CaptureFixture[str], spec: Path, uri: str) -> tuple[int, dict[str, object]]:
    code, out, _ = invoke(capsys, "plan", str(spec), "--registry-uri", uri, "-o", "json")
    return code, json.loads(out)


def hour(n: int) -> str:
    """The time of the repository's n-th commit, as the plan's notes print it."""
    return f"{START + n * STEP:%Y-%m-%d %H:%M} UTC"


@pytest.mark.parametrize(
    ("revisions", "expected"),
    [([{"champion": 3}], None),                      # still holds it: never lost
     ([{"champion": 3}, {"champion": 2}], 1),        # lost at the second revision
     ([{"champion": 3}, {"champion": 2}, {"champion": 3}, {}], 3),  # the latest loss counts
     ([{"challenger": 3}, {"champion": 3}], None),   # another alias does not count
     ([{"champion": 2}, {"champion": 4}], None)],    # another version lost it
)  # fmt: skip
def test_last_lost(revisions: list[dict[str, int]], expected: int | None) -> None:
    timed = [(START + i * STEP, aliases) for i, aliases in enumerate(revisions)]
    assert last_lost(timed, "champion", 3) == (
        None if expected is None else START + expected * STEP
    )


def test_rollback_to_a_former_champion_skips_relative_gates_and_applies(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, uri: str
) -> None:
    spec = repo.path("aliases.yaml")
    commit(repo, 3)  # version 3: rmse 0.6
    assert invoke(capsys, "apply", str(spec), "--registry-uri", uri)[0] == 0
    commit(repo, 2)  # version 2: rmse 0.4, better
    assert invoke(capsys, "apply", str(spec), "--registry-uri", uri)[0] == 0
    code, out, _ = invoke(capsys, "rollback", f"{MODEL}@champion", str(spec), "--commit")
    assert code == 0, out

    code, body = plan(capsys, spec, uri)
    note = (
        f"rel@champion -> version 3: rollback to version 3, which held champion until {hour(2)}; "
        "relative gates (rmse <= current) skipped"
    )
    assert (code, body["problems"], body["notes"]) == (0, [], [note])
    code, out, _ = invoke(capsys, "plan", str(spec), "--registry-uri", uri)
    assert f"Notes:\n  - {note}" in out
    code, out, err = invoke(capsys, "apply", str(spec), "--registry-uri", uri)
    assert code == 0, out + err
    assert live_aliases(uri, MODEL) == {"champion": 3}


def test_worse_version_that_never_held_the_alias_is_still_refused(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, uri: str
) -> None:
    commit(repo, 2)
    client_for(uri).set_registered_model_alias(MODEL, "champion", "2")
    commit(repo, 1)  # version 1: rmse 0.5, worse than 2, and never champion
    code, body = plan(capsys, repo.path("aliases.yaml"), uri)
    assert (code, body["notes"]) == (1, [])
    assert body["problems"] == [
        "rel@champion -> version 1: metric 'rmse' is 0.5, want <= 0.4 (current; version 2 has 0.4)"
    ]


def test_holding_the_alias_only_on_a_merged_branch_is_not_holding_it(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, uri: str
) -> None:
    commit(repo, 2)
    repo.branch("try-3")
    commit(repo, 3)  # champion 3 on the branch only, never on main
    commit(repo, 2)
    repo.checkout("main")
    repo.merge("try-3", "Merge pull request #7 from try-3")
    client_for(uri).set_registered_model_alias(MODEL, "champion", "2")
    commit(repo, 3)
    code, body = plan(capsys, repo.path("aliases.yaml"), uri)
    assert code == 1
    assert body["problems"] == [
        "rel@champion -> version 3: metric 'rmse' is 0.6, want <= 0.4 (current; version 2 has 0.4)"
    ]


def test_fixed_bounds_and_signature_compatibility_still_apply_to_a_rollback(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, uri: str
) -> None:
    policy = (
        '    require_metrics: {rmse: "<= current", r2: ">= 0.95"}\n'
        "    require_compatible_signature: true\n"
    )
    commit(repo, 7, policy)  # version 7: r2 0.92, a signature incompatible with version 1's
    commit(repo, 1, policy)
    client_for(uri).set_registered_model_alias(MODEL, "champion", "1")
    commit(repo, 7, policy)
    code, body = plan(capsys, repo.path("aliases.yaml"), uri)
    assert code == 1
    where = "rel@champion -> version 7"
    assert body["problems"] == [
        f"{where}: metric 'r2' is 0.92, want >= 0.95",
        f"{where}: require_compatible_signature: input 'temp' is double on the current "
        "version 1, string on version 7",
        f"{where}: require_compatible_signature: input 'hour' is gone on version 7 "
        "(long on the current version 1)",
        f"{where}: require_compatible_signature: input 'city' is new and required on version 7",
    ]
    assert body["notes"] == [
        f"{where}: rollback to version 7, which held champion until {hour(2)}; "
        "relative gates (rmse <= current) skipped"
    ]


def test_rollback_skips_promote_from_and_its_soak(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, uri: str
) -> None:
    policy = RMSE + "    promote_from: {alias: challenger, for: 24h}\n"
    challenger = "      challenger: 2\n"
    commit(repo, 3, policy, challenger)  # version 3 was champion, never challenger
    commit(repo, 2, policy, challenger)
    for alias in ("champion", "challenger"):
        client_for(uri).set_registered_model_alias(MODEL, alias, "2")
    commit(repo, 3, policy, challenger)
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    code, out, _ = invoke(
        capsys, "plan", str(repo.path("aliases.yaml")), "--registry-uri", uri, "-o", "json", now=now
    )
    body = json.loads(out)
    assert (code, body["problems"]) == (0, [])
    assert body["notes"] == [
        f"rel@champion -> version 3: rollback to version 3, which held champion until {hour(2)}; "
        "relative gates (rmse <= current) and promote_from challenger for 24h skipped"
    ]


def test_outside_git_a_rollback_gets_no_exemption(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, uri: str, tmp_path: Path
) -> None:
    commit(repo, 3)
    commit(repo, 2)
    client_for(uri).set_registered_model_alias(MODEL, "champion", "2")
    commit(repo, 3)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(repo.path("aliases.yaml"), outside / "aliases.yaml")
    code, body = plan(capsys, outside / "aliases.yaml", uri)
    assert (code, body["notes"]) == (1, [])
    assert body["problems"] == [
        "rel@champion -> version 3: metric 'rmse' is 0.6, want <= 0.4 (current; version 2 has 0.4)"
    ]
