"""`serve` keeping one environment of several files: promotions copied once and moved to,
judged as apply judges them (soak, freezes), on a real SQLite registry and as a process."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from controller.cli.options import open_registry
from controller.reconcile import DriftMode
from controller.serve.cycle import Settings, run_cycle
from controller.serve.desired import ServedEnvironment
from controller.serve.page import render_page
from controller.serve.status import AliasState, CycleOutcome, Snapshot
from tests.conftest import client_for, invoke, live_aliases, seed
from tests.environments.test_one_registry import PROD, SOAKED_PROD, STAGING, files, versions
from tests.support.serve_process import ServeProcess, get, wait_for

if TYPE_CHECKING:
    import pytest

    from controller.registry.seam import Registry
    from controller.serve.cycle import CycleReport
    from tests.support.gitrepo import GitRepo


def served_settings(staging: str, prod: str, sqlite_uri: str) -> tuple[Settings, Registry]:
    served = ServedEnvironment(
        (Path(staging), Path(prod)),
        "prod",
        lambda uri, instance: open_registry(uri or sqlite_uri, None, "bulk", instance),
    )
    target, registry = served.target()
    settings = Settings(
        Path(target.path), target.spec.instance_name, DriftMode.HEAL, 300, served=served
    )
    return settings, registry


def cycle(
    settings: Settings, registry: Registry, previous: Snapshot, now: datetime | None = None
) -> CycleReport:
    return run_cycle(settings, registry, previous, None, now or datetime.now(UTC))


def start(settings: Settings) -> Snapshot:
    return Snapshot(
        file=str(settings.file), registry="", instance=settings.instance, drift_mode="heal",
        interval_seconds=300, started_at=datetime.now(UTC),
    )  # fmt: skip


def test_a_cycle_copies_a_promotion_once_moves_to_it_and_later_cycles_find_it(
    tmp_path: Path, sqlite_uri: str
) -> None:
    seed(sqlite_uri, {"bikes-staging": 2})
    client_for(sqlite_uri).set_registered_model_alias("bikes-staging", "champion", "2")
    settings, registry = served_settings(*files(tmp_path), sqlite_uri)

    first = cycle(settings, registry, start(settings))

    assert first.snapshot.last_outcome is CycleOutcome.SUCCESS, first.snapshot.last_error
    assert live_aliases(sqlite_uri, "bikes-prod") == {"champion": 1}
    copy = client_for(sqlite_uri).get_model_version("bikes-prod", "1")
    assert copy.tags["aliasctl.copied_from"] == "staging#bikes-staging/2"
    kinds = [(e.kind, e.model, e.after) for e in first.events]
    assert kinds == [("version_copied", "bikes-prod", 1), ("alias_moved", "bikes-prod", 1)]
    assert "staging bikes-staging v2 copied as version 1" in first.events[0].describe()
    assert live_aliases(sqlite_uri, "bikes-staging") == {"champion": 2}  # staging is not served

    second = cycle(settings, registry, first.snapshot)
    assert second.snapshot.last_outcome is CycleOutcome.SUCCESS
    assert second.events == ()
    assert versions(sqlite_uri, "bikes-prod") == [1]  # found again by its tag: no second copy
    [status] = second.snapshot.aliases
    assert (status.key, status.state, status.live) == ("bikes-prod@champion", AliasState.IN_SYNC, 1)

    client_for(sqlite_uri).create_model_version("bikes-prod", "s3://x/hand")
    client_for(sqlite_uri).set_registered_model_alias("bikes-prod", "champion", "2")  # by hand
    healed = cycle(settings, registry, second.snapshot)
    assert live_aliases(sqlite_uri, "bikes-prod") == {"champion": 1}
    assert [e.kind for e in healed.events] == ["drift_found", "drift_healed"]


def test_a_freeze_in_the_served_environment_copies_nothing_and_still_heals(
    tmp_path: Path, sqlite_uri: str
) -> None:
    seed(sqlite_uri, {"bikes-staging": 2, "bikes-prod": 2})
    staging, prod = files(tmp_path, "environment: {name: prod}\nmodels:\n  bikes-prod:\n"
                          "    aliases:\n      shadow: 1\n")  # fmt: skip
    settings, registry = served_settings(staging, prod, sqlite_uri)
    before = cycle(settings, registry, start(settings))  # aliasctl sets shadow: a heal restores it
    assert live_aliases(sqlite_uri, "bikes-prod") == {"shadow": 1}
    now = datetime.now(UTC)
    freeze = (
        f"freezes:\n  - name: release\n    from: {now - timedelta(hours=1):%Y-%m-%dT%H:%M}\n"
        f"    to: {now + timedelta(hours=1):%Y-%m-%dT%H:%M}\n"
    )
    (tmp_path / "prod.yaml").write_text(
        PROD.replace("aliases:\n", "aliases:\n      shadow: 1\n") + freeze
    )
    client_for(sqlite_uri).set_registered_model_alias("bikes-prod", "shadow", "2")  # by hand

    report = cycle(settings, registry, before.snapshot, now)

    assert report.snapshot.last_outcome is CycleOutcome.BLOCKED
    assert versions(sqlite_uri, "bikes-prod") == [1, 2]  # no copy written during the freeze
    assert live_aliases(sqlite_uri, "bikes-prod") == {"shadow": 1}  # the heal still happens
    states = {a.key: (a.state, a.reason) for a in report.snapshot.aliases}
    state, reason = states["bikes-prod@champion"]
    assert state is AliasState.BLOCKED
    assert "frozen by 'release'" in (reason or "")
    assert "(nothing is copied)" in (reason or "")
    # Where it comes from, in place of a version number this registry has not assigned yet.
    [row] = [a for a in report.snapshot.to_json()["aliases"] if a["alias"] == "champion"]  # type: ignore[attr-defined]
    assert (row["desired"], row["promoted_from"]) == (None, "from staging bikes-staging v2")
    page = render_page(report.snapshot, now)
    assert "from staging bikes-staging v2" in page
    assert "not declared" not in page


def test_a_soak_in_staging_holds_the_copy_back_until_it_is_over(
    repo: GitRepo, sqlite_uri: str
) -> None:
    seed(sqlite_uri, {"bikes-staging": 2})
    repo.write("staging.yaml", STAGING)
    repo.commit("Staging: champion 2", when=datetime.now(UTC) - timedelta(hours=2))
    repo.write("prod.yaml", SOAKED_PROD)
    repo.commit("Prod: promote from staging")
    staging, prod = str(repo.path("staging.yaml")), str(repo.path("prod.yaml"))
    settings, registry = served_settings(staging, prod, sqlite_uri)

    held = cycle(settings, registry, start(settings))
    assert held.snapshot.last_outcome is CycleOutcome.BLOCKED
    assert versions(sqlite_uri, "bikes-prod") == []
    assert "in staging, has been champion for 2h, needs 24h" in held.snapshot.problems[0].text

    # Twenty-three hours on, the soak is over: the same files, copied and moved.
    later = datetime.now(UTC) + timedelta(hours=23)
    done = cycle(settings, registry, held.snapshot, later)
    assert done.snapshot.last_outcome is CycleOutcome.SUCCESS, done.snapshot.last_error
    assert live_aliases(sqlite_uri, "bikes-prod") == {"champion": 1}


def test_serve_needs_one_environment_named_when_the_files_describe_several(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_uri: str
) -> None:
    staging, prod = files(tmp_path)
    code, out, err = invoke(capsys, "serve", staging, prod, "--registry-uri", sqlite_uri)
    assert code != 0
    assert out == ""
    assert "describe environments prod, staging: serve keeps one, pass --environment" in err
    code, _, err = invoke(
        capsys, "serve", staging, prod, "--registry-uri", sqlite_uri, "--environment", "qa"
    )
    assert code != 0
    assert "--environment 'qa' is none of the files' (prod, staging)" in err
    assert "Traceback" not in err


def test_serve_as_a_process_follows_a_new_staging_champion_into_prod(
    tmp_path: Path, sqlite_uri: str
) -> None:
    seed(sqlite_uri, {"bikes-staging": 3})
    staging, prod = files(tmp_path)
    serve = ServeProcess(
        tmp_path,
        [staging, prod, "--environment", "prod", "--registry-uri", sqlite_uri,
         "--interval", "300", "--watch", "0.2"],
        {},
    )  # fmt: skip
    try:
        wait_for(serve.ready, 60, "the first reconcile")
        assert live_aliases(sqlite_uri, "bikes-prod") == {"champion": 1}
        assert live_aliases(sqlite_uri, "bikes-staging") == {}  # staging is not served here

        # A merge in staging's file (the source): the watch sees it, prod follows at once.
        (tmp_path / "staging.yaml").write_text(STAGING.replace("champion: 2", "champion: 3"))
        wait_for(lambda: live_aliases(sqlite_uri, "bikes-prod") == {"champion": 2}, 60, "v3")
        copy = client_for(sqlite_uri).get_model_version("bikes-prod", "2")
        assert copy.tags["aliasctl.copied_from"] == "staging#bikes-staging/3"

        def copies_reported() -> list[tuple[str, int]] | None:
            status, body = get(f"{serve.url}/status.json")
            events = json.loads(body)["events"] if status == 200 else []
            copied = [(e["model"], e["to"]) for e in events if e["kind"] == "version_copied"]
            return copied if len(copied) == 2 else None

        assert wait_for(copies_reported, 60, "the cycle's report") == [
            ("bikes-prod", 2), ("bikes-prod", 1)
        ]  # fmt: skip
    finally:
        code = serve.stop()
    log = serve.log()
    assert code == 0, log
    assert "environment prod, registry" in log
    assert "Traceback" not in log


def test_serves_analysis_rolls_prod_back_to_a_version_there_and_its_cycles_keep_it(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, repo: GitRepo
) -> None:
    from controller.serve.analysis import analysis_pass  # noqa: PLC0415
    from tests.analysis.test_analyze_environments import promoted_twice  # noqa: PLC0415

    staging, prod = promoted_twice(
        capsys, repo.root, sqlite_uri, bad="bikes-prod:2", commit=repo.commit
    )
    settings, registry = served_settings(staging, prod, sqlite_uri)
    settings = replace(settings, push=False)
    snapshot = start(settings)

    def rolled_back() -> tuple[str, ...] | None:
        nonlocal snapshot
        report = analysis_pass(settings, registry, snapshot, None, datetime.now(UTC))
        snapshot = report.snapshot
        kinds = tuple(e.kind for e in report.events)
        return kinds or None

    assert wait_for(rolled_back, 60, "the analysis's verdict") == ("rolled_back",)
    assert live_aliases(sqlite_uri, "bikes-prod") == {"champion": 1}
    assert live_aliases(sqlite_uri, "bikes-staging") == {"champion": 2}
    assert versions(sqlite_uri, "bikes-prod") == [1, 2]  # back to a version there: no copy

    # The file still promotes staging's v2 (its copy, v2): the hold keeps prod at 1.
    kept = cycle(settings, registry, snapshot)
    assert live_aliases(sqlite_uri, "bikes-prod") == {"champion": 1}
    [status] = kept.snapshot.aliases
    assert (status.state, status.live) == (AliasState.HELD, 1)
    assert versions(sqlite_uri, "bikes-prod") == [1, 2]


def test_a_copy_that_fails_blocks_its_promotion_and_heals_go_on(
    tmp_path: Path, sqlite_uri: str
) -> None:
    """Staging's file names a version its registry lacks (or staging is down): that
    promotion is blocked, saying why, and production's drift is still healed."""
    seed(sqlite_uri, {"bikes-staging": 2, "bikes-prod": 2})
    staging, prod = files(
        tmp_path, "environment: {name: prod}\nmodels:\n  bikes-prod:\n    aliases:\n"
        "      shadow: 1\n",
    )  # fmt: skip
    settings, registry = served_settings(staging, prod, sqlite_uri)
    before = cycle(settings, registry, start(settings))
    assert live_aliases(sqlite_uri, "bikes-prod") == {"shadow": 1}
    (tmp_path / "staging.yaml").write_text(STAGING.replace("champion: 2", "champion: 9"))
    (tmp_path / "prod.yaml").write_text(PROD.replace("aliases:\n", "aliases:\n      shadow: 1\n"))
    client_for(sqlite_uri).set_registered_model_alias("bikes-prod", "shadow", "2")  # by hand

    report = cycle(settings, registry, before.snapshot)

    assert report.snapshot.last_outcome is CycleOutcome.BLOCKED, report.snapshot.last_error
    assert live_aliases(sqlite_uri, "bikes-prod") == {"shadow": 1}  # healed all the same
    assert versions(sqlite_uri, "bikes-prod") == [1, 2]  # nothing copied
    states = {a.key: (a.state, a.reason) for a in report.snapshot.aliases}
    state, reason = states["bikes-prod@champion"]
    assert state is AliasState.BLOCKED
    assert "the source registry has no version 9 of bikes-staging" in reason

    (tmp_path / "staging.yaml").write_text(STAGING)  # fixed: staging names its version 2
    fixed = cycle(settings, registry, report.snapshot)
    assert fixed.snapshot.last_outcome is CycleOutcome.SUCCESS, fixed.snapshot.problems
    assert live_aliases(sqlite_uri, "bikes-prod") == {"shadow": 1, "champion": 3}
