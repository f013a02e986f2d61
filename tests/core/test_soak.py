"""Soak time: `promote_from: {alias: challenger, for: 24h}` against real git history.

Every repository is real, in tmp_path, with back-dated commits; the clock is
always injected (Options.now, or main(now=...) for the CLI), never read. Gate
logic runs at the in-memory registry seam; one test runs the CLI on SQLite.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from controller.core.change import Declared
from controller.core.problem import messages
from controller.core.soak import Stretch, format_duration, format_instant, latest_stretch
from controller.desired.spec import Policy, load_spec
from controller.desired.timespec import duration
from controller.reconcile import Options, prepare_plan
from tests.conftest import invoke, live_aliases, seed
from tests.support.fake_registry import FakeRegistry
from tests.support.gitrepo import BOB, spec_text

if TYPE_CHECKING:
    from tests.support.gitrepo import GitRepo

T0 = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
SOAK = "promote_from: {alias: challenger, for: 24h}"
PLAIN = "promote_from: challenger"


def write(repo: GitRepo, declared: Declared, policy: str = SOAK) -> None:
    repo.write("aliases.yaml", spec_text(declared) + f"policies:\n  champion:\n    {policy}\n")


def commit(repo: GitRepo, declared: Declared, when: datetime, policy: str = SOAK) -> str:
    write(repo, declared, policy)
    return repo.commit(f"aliases at {when:%H:%M}", when=when)


def problems(repo: GitRepo, now: datetime) -> tuple[str, ...]:
    """Plan the file as committed (HEAD and the worktree agree) against a fake registry."""
    loaded = load_spec(repo.path("aliases.yaml"))
    registry = FakeRegistry.with_models({"bikes": 5}, {"bikes": {"champion": 2}})
    options = Options(
        spec_file=repo.path("aliases.yaml"), policies=dict(loaded.spec.policies), now=now
    )
    return messages(prepare_plan(loaded.spec.declared(), registry, options).problems)


# --- the pure stretch --------------------------------------------------------------------


def at(hours: float) -> datetime:
    return T0 + hours * HOUR


@pytest.mark.parametrize(
    ("revisions", "expected"),
    [
        # never challenger
        ([(0, {"champion": 2})], None),
        # challenger since 0, still
        ([(0, {"challenger": 3}), (5, {"challenger": 3, "champion": 3})], Stretch(at(0), None)),
        # challenger from 0 until 5, when 4 took it
        ([(0, {"challenger": 3}), (5, {"challenger": 4, "champion": 3})], Stretch(at(0), at(5))),
        # lost at 20, regained at 21: only the stretch from 21 counts
        ([(0, {"challenger": 3}), (20, {"challenger": 4}), (21, {"challenger": 3})],
         Stretch(at(21), None)),
        # an unrelated revision in between does not break it
        ([(0, {"challenger": 3}), (2, {"challenger": 3, "shadow": 1})], Stretch(at(0), None)),
        # challenger and champion in one revision: that revision does not count...
        ([(0, {"challenger": 3, "champion": 3})], None),
        # ...but once champion went back to 2 the stretch runs from then
        ([(0, {"challenger": 3, "champion": 3}), (4, {"challenger": 3, "champion": 2})],
         Stretch(at(4), None)),
        # the model left the file: the stretch ended
        ([(0, {"challenger": 3}), (6, {})], Stretch(at(0), at(6))),
    ],
)  # fmt: skip
def test_latest_stretch(
    revisions: list[tuple[float, dict[str, int]]], expected: Stretch | None
) -> None:
    timed = [(at(hours), aliases) for hours, aliases in revisions]
    assert latest_stretch(timed, "challenger", 3, "champion") == expected


def test_stretch_length_is_never_negative_when_commits_run_ahead_of_the_clock() -> None:
    assert Stretch(at(2), None).length(at(1)) == timedelta(0)
    assert Stretch(at(0), at(3)).length(at(100)) == 3 * HOUR


@pytest.mark.parametrize(
    ("span", "text"),
    [(timedelta(hours=5, minutes=12, seconds=59), "5h 12m"), (timedelta(hours=24), "1d"),
     (timedelta(days=2, minutes=1), "2d 1m"), (timedelta(seconds=59), "0m"),
     (timedelta(minutes=90), "1h 30m")],
)  # fmt: skip
def test_durations_round_down_to_the_minute(span: timedelta, text: str) -> None:
    assert format_duration(span) == text


@pytest.mark.parametrize(
    ("text", "span"),
    [("90m", timedelta(minutes=90)), ("36h", 36 * HOUR), ("2d", timedelta(days=2)),
     ("+1h", HOUR), (" 24h ", 24 * HOUR)],
)  # fmt: skip
def test_soak_times_read_as_written(text: str, span: timedelta) -> None:
    assert duration(text) == span


def test_instants_round_up_to_the_minute_in_utc() -> None:
    assert format_instant(at(24)) == "2026-11-27 14:00 UTC"
    assert format_instant(at(24) + timedelta(seconds=1)) == "2026-11-27 14:01 UTC"
    berlin = datetime.fromisoformat("2026-11-27T15:00:00+01:00")
    assert format_instant(berlin) == "2026-11-27 14:00 UTC"


# --- the gate against real git history ---------------------------------------------------


def test_version_that_held_challenger_long_enough_may_become_champion(repo: GitRepo) -> None:
    commit(repo, {"bikes": {"champion": 2, "challenger": 3}}, T0)
    commit(repo, {"bikes": {"champion": 3, "challenger": 4}}, at(30))
    # Held from 0 until 30, when the promotion moved challenger on: 30h >= 24h, at any later now.
    assert problems(repo, at(30)) == ()
    assert problems(repo, at(500)) == ()


def test_not_yet_soaked_says_how_long_it_held_and_when_it_soaks(repo: GitRepo) -> None:
    commit(repo, {"bikes": {"champion": 2, "challenger": 3}}, T0)
    commit(repo, {"bikes": {"champion": 3, "challenger": 3}}, at(5))
    now = T0 + timedelta(hours=5, minutes=12)
    assert problems(repo, now) == (
        "bikes@champion -> version 3: has been challenger for 5h 12m, needs 24h "
        "(soaks until 2026-11-27 14:00 UTC)",
    )
    # The same file, planned again once the time is up: nothing blocks.
    assert problems(repo, at(24)) == ()
    assert problems(repo, at(24) - timedelta(seconds=1)) != ()


def test_a_stretch_that_ended_too_soon_never_soaks(repo: GitRepo) -> None:
    commit(repo, {"bikes": {"champion": 2, "challenger": 3}}, T0)
    commit(repo, {"bikes": {"champion": 3, "challenger": 4}}, at(5))
    assert problems(repo, at(100)) == (
        "bikes@champion -> version 3: was challenger for 5h until 2026-11-26 19:00 UTC, "
        "needs 24h without a break",
    )


def test_held_then_lost_then_regained_counts_only_the_latest_stretch(repo: GitRepo) -> None:
    commit(repo, {"bikes": {"champion": 2, "challenger": 3}}, T0)
    commit(repo, {"bikes": {"champion": 2, "challenger": 4}}, at(20))
    commit(repo, {"bikes": {"champion": 2, "challenger": 3}}, at(21))
    commit(repo, {"bikes": {"champion": 3, "challenger": 3}}, at(30))
    # 30h since it first became challenger, but only 9h since it last did.
    assert problems(repo, at(30)) == (
        "bikes@champion -> version 3: has been challenger for 9h, needs 24h "
        "(soaks until 2026-11-28 11:00 UTC)",
    )
    assert problems(repo, at(45)) == ()


def test_a_revision_that_does_not_validate_does_not_break_the_stretch(repo: GitRepo) -> None:
    commit(repo, {"bikes": {"champion": 2, "challenger": 3}}, T0)
    repo.write("aliases.yaml", "models:\n  bikes:\n    aliases:\n      challenger: three\n")
    repo.commit("a slip", when=at(10))
    commit(repo, {"bikes": {"champion": 3, "challenger": 3}}, at(11))
    # The controller kept challenger at 3 through the slip, so the stretch runs from 0.
    assert problems(repo, at(24)) == ()


def test_merged_pull_request_counts_from_its_merge_commit(repo: GitRepo) -> None:
    commit(repo, {"bikes": {"champion": 2}}, T0)
    repo.branch("challenger-3")
    commit(repo, {"bikes": {"champion": 2, "challenger": 3}}, at(1))  # written at 1...
    repo.checkout("main")
    repo.merge("challenger-3", "Merge pull request #7 from team/challenger-3", when=at(20))
    commit(repo, {"bikes": {"champion": 3, "challenger": 3}}, at(30))
    # ...but on the branch only from the merge at 20: 10h at 30, not 29h.
    assert problems(repo, at(30)) == (
        "bikes@champion -> version 3: has been challenger for 10h, needs 24h "
        "(soaks until 2026-11-28 10:00 UTC)",
    )


def test_rebased_commit_counts_from_its_committer_time_not_its_author_time(
    repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit(repo, {"bikes": {"champion": 2}}, T0)
    repo.branch("challenger-3")
    sha = commit(repo, {"bikes": {"champion": 2, "challenger": 3}}, at(1))
    repo.checkout("main")
    # GitHub's "rebase and merge": the author time stays at 1, the commit lands at 20.
    monkeypatch.setenv("GIT_COMMITTER_DATE", at(20).isoformat())
    repo.git("cherry-pick", sha, person=BOB)
    monkeypatch.delenv("GIT_COMMITTER_DATE")
    stamps = repo.git("log", "-1", "--format=%at %ct").split()
    assert stamps == [str(int(at(1).timestamp())), str(int(at(20).timestamp()))]
    commit(repo, {"bikes": {"champion": 3, "challenger": 3}}, at(30))
    assert problems(repo, at(30)) == (
        "bikes@champion -> version 3: has been challenger for 10h, needs 24h "
        "(soaks until 2026-11-28 10:00 UTC)",
    )


def test_version_that_never_held_the_alias_gets_the_existing_message(repo: GitRepo) -> None:
    commit(repo, {"bikes": {"champion": 2, "challenger": 4}}, T0)
    commit(repo, {"bikes": {"champion": 3, "challenger": 4}}, at(30))
    assert problems(repo, at(30)) == (
        "bikes@champion -> version 3: promote_from 'challenger': version 3 never held "
        "'challenger' in an earlier revision",
    )


def test_challenger_taken_together_with_champion_does_not_soak(repo: GitRepo) -> None:
    commit(repo, {"bikes": {"champion": 2, "challenger": 3}}, T0)
    commit(repo, {"bikes": {"champion": 2, "challenger": 4}}, at(1))
    commit(repo, {"bikes": {"champion": 3, "challenger": 3}}, at(40))
    assert problems(repo, at(80)) == (
        "bikes@champion -> version 3: promote_from 'challenger': version 3 last took "
        "'challenger' while it held 'champion', which does not count toward the 24h soak",
    )


def test_plain_promote_from_keeps_working_without_a_soak(repo: GitRepo) -> None:
    commit(repo, {"bikes": {"champion": 2, "challenger": 3}}, T0, PLAIN)
    commit(repo, {"bikes": {"champion": 3, "challenger": 4}}, T0 + timedelta(minutes=1), PLAIN)
    assert problems(repo, at(0)) == ()
    commit(repo, {"bikes": {"champion": 4, "challenger": 4}}, at(1), PLAIN)
    commit(repo, {"bikes": {"champion": 5, "challenger": 4}}, at(2), PLAIN)
    assert problems(repo, at(2)) == (
        "bikes@champion -> version 5: promote_from 'challenger': version 5 never held "
        "'challenger' in an earlier revision",
    )


def test_a_soak_without_a_clock_is_a_failure_not_a_pass(repo: GitRepo) -> None:
    commit(repo, {"bikes": {"champion": 2, "challenger": 3}}, T0)
    commit(repo, {"bikes": {"champion": 3, "challenger": 3}}, at(30))
    registry = FakeRegistry.with_models({"bikes": 3})
    policy = Policy.model_validate({"promote_from": {"alias": "challenger", "for": "24h"}})
    options = Options(spec_file=repo.path("aliases.yaml"), policies={"champion": policy})
    plan = prepare_plan({"bikes": {"champion": 3, "challenger": 3}}, registry, options)
    assert messages(plan.problems) == (
        "bikes@champion -> version 3: promote_from 'challenger': no clock to measure the soak "
        "time against",
    )


# --- the CLI, end to end on SQLite -------------------------------------------------------


def test_cli_plan_and_apply_wait_for_the_soak(
    capsys: pytest.CaptureFixture[str],
    repo: GitRepo,
    sqlite_uri: str,
) -> None:
    seed(sqlite_uri, {"bikes": 3}, {"bikes": {"champion": 2, "challenger": 3}})
    commit(repo, {"bikes": {"champion": 2, "challenger": 3}}, T0)
    commit(repo, {"bikes": {"champion": 3, "challenger": 3}}, at(5))
    spec = str(repo.path("aliases.yaml"))

    early = datetime(2026, 11, 26, 19, 12, tzinfo=UTC)
    code, out, _ = invoke(capsys, "plan", spec, "--registry-uri", sqlite_uri, now=early)
    assert code == 1
    assert (
        "bikes@champion -> version 3: has been challenger for 5h 12m, needs 24h "
        "(soaks until 2026-11-27 14:00 UTC)" in out
    )
    code, _, err = invoke(capsys, "apply", spec, "--registry-uri", sqlite_uri, now=early)
    assert code == 1
    assert "soaks until 2026-11-27 14:00 UTC" in err
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 2, "challenger": 3}

    # Soaked: a saved plan is made, and its apply checks the soak again against the clock.
    soaked = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
    saved = str(repo.root.parent / "plan.json")
    code, out, _ = invoke(
        capsys, "plan", spec, "--registry-uri", sqlite_uri, "--out", saved, now=soaked
    )
    assert code == 0, out
    assert "~ bikes@champion" in out
    assert "soaks" not in out
    code, _, err = invoke(capsys, "apply", saved, "--registry-uri", sqlite_uri, now=soaked)
    assert code == 0, err
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 3, "challenger": 3}
