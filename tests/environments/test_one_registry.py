"""Environments on one registry, a model name per environment (bikes-staging, bikes-prod):
plan and apply through the CLI on a real SQLite registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tests.conftest import client_for, invoke, live_aliases, seed

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from tests.support.gitrepo import GitRepo

STAGING = """\
environment:
  name: staging
models:
  bikes-staging:
    aliases:
      champion: 2
"""
PROD = """\
environment:
  name: prod
models:
  bikes-prod:
    aliases:
      champion: {from: staging, model: bikes-staging, alias: champion}
"""


def files(tmp_path: Path, prod: str = PROD) -> tuple[str, str]:
    staging_file, prod_file = tmp_path / "staging.yaml", tmp_path / "prod.yaml"
    staging_file.write_text(STAGING)
    prod_file.write_text(prod)
    return str(staging_file), str(prod_file)


def versions(uri: str, model: str) -> list[int]:
    found = client_for(uri).search_model_versions(f"name='{model}'")
    return sorted(int(v.version) for v in found)


def test_a_promotion_is_planned_as_a_copy_applied_once_and_found_again(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_uri: str
) -> None:
    seed(sqlite_uri, {"bikes-staging": 2})
    staging, prod = files(tmp_path)
    registry = ("--registry-uri", sqlite_uri)

    code, out, err = invoke(capsys, "plan", staging, prod, *registry, "--detailed-exitcode")
    assert (code, err) == (2, "")
    assert f"=== Environment staging ({staging}) ===" in out
    assert (
        "bikes-prod@champion: + copy staging bikes-staging v2 here (apply copies it once, "
        "then moves the alias to the copy)"
    ) in out
    assert out.index("Environment staging") < out.index("Environment prod")

    code, out, _ = invoke(capsys, "apply", staging, prod, *registry)
    assert code == 0, out
    assert "bikes-prod@champion: staging bikes-staging v2 is version 1 (copied now)" in out
    assert live_aliases(sqlite_uri, "bikes-staging") == {"champion": 2}
    assert live_aliases(sqlite_uri, "bikes-prod") == {"champion": 1}
    copy = client_for(sqlite_uri).get_model_version("bikes-prod", "1")
    assert copy.tags["aliasctl.copied_from"] == "staging#bikes-staging/2"

    # A re-run finds the copy: no second one, nothing to do.
    code, out, _ = invoke(capsys, "apply", staging, prod, *registry)
    assert code == 0
    assert versions(sqlite_uri, "bikes-prod") == [1]
    code, out, _ = invoke(capsys, "plan", staging, prod, *registry, "--detailed-exitcode")
    assert code == 0, out
    assert "bikes-prod@champion: staging bikes-staging v2 is version 1" in out


def test_json_has_a_section_per_environment_and_environment_picks_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_uri: str
) -> None:
    seed(sqlite_uri, {"bikes-staging": 2})
    staging, prod = files(tmp_path)
    code, out, _ = invoke(
        capsys, "plan", staging, prod, "--registry-uri", sqlite_uri,
        "--environment", "prod", "--output", "json",
    )  # fmt: skip
    assert code == 0
    [section] = json.loads(out)["environments"]
    assert (section["name"], section["has_changes"]) == ("prod", True)
    [promotion] = section["promotions"]
    assert promotion["source"] == {"environment": "staging", "model": "bikes-staging", "version": 2}
    assert (promotion["pending"], promotion["version"]) == (True, None)
    assert versions(sqlite_uri, "bikes-prod") == []  # plan copies nothing


def test_a_promotion_from_an_environment_not_given_is_a_located_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_uri: str
) -> None:
    _, prod = files(tmp_path, PROD.replace("from: staging", "from: stagign"))
    code, out, err = invoke(capsys, "plan", prod, "--registry-uri", sqlite_uri)
    assert (code, out) == (1, "")
    assert f"{prod}:6:17: models.bikes-prod.aliases.champion:" in err
    assert "promoted from environment 'stagign', which none of the files given describes" in err
    assert "Traceback" not in err


def test_rolling_prod_back_to_a_version_already_there_copies_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_uri: str
) -> None:
    seed(sqlite_uri, {"bikes-staging": 2})
    staging, prod = files(tmp_path)
    assert invoke(capsys, "apply", staging, prod, "--registry-uri", sqlite_uri)[0] == 0
    newer = STAGING.replace("champion: 2", "champion: 1")
    (tmp_path / "staging.yaml").write_text(newer)
    assert invoke(capsys, "apply", staging, prod, "--registry-uri", sqlite_uri)[0] == 0
    assert live_aliases(sqlite_uri, "bikes-prod") == {"champion": 2}
    (tmp_path / "prod.yaml").write_text(PROD.replace(
        "{from: staging, model: bikes-staging, alias: champion}", "1"
    ))  # fmt: skip
    code, out, _ = invoke(capsys, "apply", staging, prod, "--registry-uri", sqlite_uri)
    assert code == 0, out
    assert live_aliases(sqlite_uri, "bikes-prod") == {"champion": 1}
    assert versions(sqlite_uri, "bikes-prod") == [1, 2]


def test_two_files_managing_one_model_in_one_registry_is_a_located_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_uri: str
) -> None:
    team_a = tmp_path / "a.yaml"
    team_b = tmp_path / "b.yaml"
    team_a.write_text(
        "environment: {name: team-a}\nmodels:\n  bikes:\n    aliases: {champion: 1}\n"
    )
    team_b.write_text("environment: {name: team-b}\nmodels:\n  bikes:\n    aliases: {shadow: 1}\n")
    code, out, err = invoke(capsys, "apply", str(team_a), str(team_b), "--registry-uri", sqlite_uri)
    assert (code, out) == (1, "")
    assert f"{team_b}:3:3: models.bikes: model 'bikes' is managed by {team_a}:3 too" in err


SOAKED_PROD = """\
environment: {name: prod}
models:
  bikes-prod:
    aliases:
      champion: {from: staging, model: bikes-staging, alias: champion}
policies:
  champion:
    promote_from: {alias: champion, environment: staging, for: 24h}
"""


def test_a_soak_in_staging_is_measured_from_stagings_history_before_anything_is_copied(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, sqlite_uri: str
) -> None:
    seed(sqlite_uri, {"bikes-staging": 2})
    repo.write("staging.yaml", STAGING)
    repo.commit("Staging: champion 2", when=datetime.now(UTC) - timedelta(hours=2))
    repo.write("prod.yaml", SOAKED_PROD)
    repo.commit("Prod: promote from staging")
    staging, prod = str(repo.path("staging.yaml")), str(repo.path("prod.yaml"))
    registry = ("--registry-uri", sqlite_uri)

    code, out, _ = invoke(capsys, "plan", staging, prod, *registry)
    assert code == 1
    assert (
        "bikes-prod@champion <- staging bikes-staging v2: in staging, has been champion for "
        "2h, needs 24h"
    ) in out
    code, _, err = invoke(capsys, "apply", staging, prod, *registry)
    assert code == 1
    assert "in staging, has been champion for 2h" in err
    assert versions(sqlite_uri, "bikes-prod") == []  # nothing copied

    repo.write("prod.yaml", SOAKED_PROD.replace("for: 24h", "for: 1h"))
    repo.commit("Prod: a one-hour soak")
    code, out, _ = invoke(capsys, "apply", staging, prod, *registry)
    assert code == 0, out
    assert live_aliases(sqlite_uri, "bikes-prod") == {"champion": 1}


def registered_with_rmse(uri: str, model: str, rmse: float) -> int:
    """A version whose source run logged `rmse` (the model is created when missing)."""
    client = client_for(uri)
    if not client.search_registered_models(f"name='{model}'"):
        client.create_registered_model(model)
    run = client.create_run("0")
    client.log_metric(run.info.run_id, "rmse", rmse)
    version = client.create_model_version(model, f"s3://x/{model}", run_id=run.info.run_id)
    return int(version.version)


def test_a_pending_promotion_shows_the_source_metrics_beside_the_alias_now(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_uri: str
) -> None:
    registered_with_rmse(sqlite_uri, "bikes-staging", 18.59)
    registered_with_rmse(sqlite_uri, "bikes-staging", 17.25)
    current = registered_with_rmse(sqlite_uri, "bikes-prod", 28.98)
    client_for(sqlite_uri).set_registered_model_alias("bikes-prod", "champion", str(current))
    staging, prod = files(tmp_path, PROD + "show_metrics: [rmse]\n")

    code, out, _ = invoke(capsys, "plan", staging, prod, "--registry-uri", sqlite_uri)

    assert code == 0, out
    assert (
        "      staging bikes-staging v2 vs prod version 1 (now): rmse 17.25 vs 28.98"
    ) in out.splitlines()


def test_drift_reads_each_environment_and_its_promotions_copies(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_uri: str
) -> None:
    seed(sqlite_uri, {"bikes-staging": 2})
    staging, prod = files(tmp_path)
    assert invoke(capsys, "apply", staging, prod, "--registry-uri", sqlite_uri)[0] == 0
    assert invoke(capsys, "drift", staging, prod, "--registry-uri", sqlite_uri)[0] == 0
    client = client_for(sqlite_uri)
    client.create_model_version("bikes-prod", "s3://x/hand")
    client.set_registered_model_alias("bikes-prod", "champion", "2")  # by hand

    code, out, _ = invoke(
        capsys, "drift", staging, prod, "--registry-uri", sqlite_uri, "--output", "json"
    )

    assert code == 2
    staging_drift, prod_drift = json.loads(out)["environments"]
    assert (staging_drift["name"], staging_drift["has_drift"]) == ("staging", False)
    assert (prod_drift["name"], prod_drift["has_drift"]) == ("prod", True)
    [moved] = prod_drift["drift"]
    assert (moved["model"], moved["alias"]) == ("bikes-prod", "champion")


def test_a_freeze_in_the_target_stops_the_copy_itself_unless_glass_is_broken(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_uri: str
) -> None:
    seed(sqlite_uri, {"bikes-staging": 2})
    now = datetime.now(UTC)
    freeze = (
        f"freezes:\n  - name: release\n    from: {now - timedelta(hours=1):%Y-%m-%dT%H:%M}\n"
        f"    to: {now + timedelta(hours=1):%Y-%m-%dT%H:%M}\n"
    )
    staging, prod = files(tmp_path, PROD + freeze)
    registry = ("--registry-uri", sqlite_uri)

    code, out, _ = invoke(capsys, "plan", staging, prod, *registry, "--environment", "prod")
    assert code == 1
    assert "bikes-prod@champion: frozen by 'release'" in out
    assert "(nothing is copied)" in out
    code, _, err = invoke(capsys, "apply", staging, prod, *registry)
    assert code == 1
    assert "frozen by 'release'" in err
    assert versions(sqlite_uri, "bikes-prod") == []  # no copy written during the freeze

    code, out, _ = invoke(capsys, "apply", staging, prod, *registry, "--break-glass", "INC-9")
    assert code == 0, out
    assert live_aliases(sqlite_uri, "bikes-prod") == {"champion": 1}


def test_a_plain_version_in_prod_fails_a_promote_from_that_names_staging(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, sqlite_uri: str
) -> None:
    """A soak in staging cannot be skipped by naming prod's version number directly."""
    seed(sqlite_uri, {"bikes-staging": 1, "bikes-prod": 1})
    repo.write("staging.yaml", STAGING.replace("champion: 2", "champion: 1"))
    repo.write("prod.yaml", SOAKED_PROD.replace(
        "{from: staging, model: bikes-staging, alias: champion}", "1"
    ))  # fmt: skip
    repo.commit("Prod: a plain version", when=datetime.now(UTC) - timedelta(days=3))
    staging, prod = str(repo.path("staging.yaml")), str(repo.path("prod.yaml"))

    code, _, err = invoke(capsys, "apply", staging, prod, "--registry-uri", sqlite_uri)

    assert code == 1
    assert (
        "bikes-prod@champion -> version 1: promote_from 'champion' in staging: version 1 is "
        "not promoted from a version that held 'champion' in staging"
    ) in err
    assert live_aliases(sqlite_uri, "bikes-prod") == {}
