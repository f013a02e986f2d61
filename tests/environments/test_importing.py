"""`aliasctl import` into an environment's file, with lineage, on a real SQLite registry
holding both environments (bikes-staging, bikes-prod): right after an import, plan over
the same files shows nothing to do and apply moves no alias and copies nothing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from controller.desired.spec import UnresolvedPromotionError, parse_spec
from controller.environments.importing import ImportOptionsError, Wanted, import_into
from controller.gitops.import_merge import merge
from tests.conftest import client_for, invoke, live_aliases, seed

if TYPE_CHECKING:
    from controller.registry.seam import Registry
    from tests.support.environments import Staged
    from tests.support.mlflow_server import MlflowServer

STAGING = """\
environment:
  name: staging
models:
  bikes-staging:
    aliases:
      champion: 2
      challenger: 3
"""
PROMOTED = "{from: staging, model: bikes-staging, version: 2}"
PROD = f"""\
environment:
  name: prod   # the production registry
models:
  bikes-prod:
    aliases:
      champion: {PROMOTED}
"""


@pytest.fixture
def envs(tmp_path: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]) -> Path:
    """staging applied; prod's champion copied from staging v2 by apply (bikes-prod v1);
    then by hand: bikes-prod v2 at `challenger`, and the copy also at `previous`."""
    seed(sqlite_uri, {"bikes-staging": 3})
    (tmp_path / "staging.yaml").write_text(STAGING)
    (tmp_path / "prod.yaml").write_text(PROD)
    code, out, err = invoke(capsys, *_files(tmp_path, "apply"), "--registry-uri", sqlite_uri)
    assert code == 0, out + err
    client = client_for(sqlite_uri)
    client.create_model_version("bikes-prod", "s3://aliasctl-tests/bikes-prod/2")
    client.set_registered_model_alias("bikes-prod", "challenger", "2")
    client.set_registered_model_alias("bikes-prod", "previous", "1")
    return tmp_path


def _files(root: Path, command: str) -> list[str]:
    return [command, str(root / "staging.yaml"), str(root / "prod.yaml")]


def versions(uri: str, model: str) -> list[int]:
    found = client_for(uri).search_model_versions(f"name='{model}'")
    return sorted(int(v.version) for v in found)


def assert_converged(capsys: pytest.CaptureFixture[str], root: Path, uri: str) -> None:
    """The contract: plan shows nothing to do; apply moves no alias and copies nothing."""
    before = live_aliases(uri, "bikes-prod"), versions(uri, "bikes-prod")
    code, out, err = invoke(
        capsys, *_files(root, "plan"), "--registry-uri", uri, "--detailed-exitcode"
    )
    assert code == 0, out + err
    code, out, err = invoke(capsys, *_files(root, "apply"), "--registry-uri", uri)
    assert code == 0, out + err
    assert "copied now" not in out
    assert (live_aliases(uri, "bikes-prod"), versions(uri, "bikes-prod")) == before


def import_prod(
    capsys: pytest.CaptureFixture[str], root: Path, uri: str, *extra: str
) -> tuple[int, str, str]:
    return invoke(
        capsys, "import", "--filter", "name = 'bikes-prod'", "--out", str(root / "prod.yaml"),
        "--registry-uri", uri, *extra,
    )  # fmt: skip


def test_a_new_file_writes_copies_as_promotions_and_plans_to_nothing(
    envs: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (envs / "prod.yaml").unlink()
    staging = str(envs / "staging.yaml")
    code, _, err = import_prod(
        capsys, envs, sqlite_uri, "--environment", "prod", "--source", staging
    )
    assert code == 0, err
    assert "Imported 1 model, 3 aliases (2 promotions)." in err
    text = (envs / "prod.yaml").read_text()
    assert "\nenvironment:\n  name: prod\nmodels:\n  bikes-prod:\n    aliases:\n" in text
    assert f"      champion: {PROMOTED}\n" in text
    assert f"      previous: {PROMOTED}\n" in text
    assert "      challenger: 2\n" in text
    assert "sqlite" not in text  # no URI in the file, not even in a comment
    assert_converged(capsys, envs, sqlite_uri)


def test_a_copy_from_an_environment_not_given_stays_a_number_with_a_note(
    envs: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (envs / "prod.yaml").unlink()
    code, _, err = import_prod(capsys, envs, sqlite_uri, "--environment", "prod")
    assert code == 0, err
    assert (
        "note: bikes-prod@champion: version 1 is a copy of 'staging#bikes-staging/2', not an "
        "environment given with --source (none): written as the number"
    ) in err
    text = (envs / "prod.yaml").read_text()
    assert "      champion: 1\n" in text
    assert "from:" not in text
    code, out, _ = invoke(
        capsys, "plan", str(envs / "prod.yaml"), "--registry-uri", sqlite_uri,
        "--detailed-exitcode",
    )  # fmt: skip
    assert code == 0, out


def test_merge_keeps_the_environment_and_promotions_byte_for_byte_and_adds_lineage(
    envs: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    staging = str(envs / "staging.yaml")
    code, _, err = import_prod(capsys, envs, sqlite_uri, "--merge", "--source", staging)
    assert code == 0, err  # champion is at its promotion's copy: no conflict
    assert "conflict" not in err
    assert "added bikes-prod@challenger, bikes-prod@previous" in err
    text = (envs / "prod.yaml").read_text()
    assert text == PROD + f"      challenger: 2\n      previous: {PROMOTED}\n"
    assert_converged(capsys, envs, sqlite_uri)


def test_merge_reports_a_promoted_alias_moved_by_hand_as_a_conflict(
    envs: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client_for(sqlite_uri).set_registered_model_alias("bikes-prod", "champion", "2")
    code, _, err = import_prod(
        capsys, envs, sqlite_uri, "--merge", "--source", str(envs / "staging.yaml")
    )
    assert code == 2, err
    assert (
        "conflict: bikes-prod@champion: the file promotes it (version 1 here), the registry 2 "
        "(kept)"
    ) in err
    assert (envs / "prod.yaml").read_text().startswith(PROD)


def test_merge_notes_a_promotion_not_copied_yet_and_is_no_conflict(
    tmp_path: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(sqlite_uri, {"bikes-staging": 3, "bikes-prod": 1}, {"bikes-prod": {"champion": 1}})
    (tmp_path / "staging.yaml").write_text(STAGING)
    (tmp_path / "prod.yaml").write_text(PROD)
    code, _, err = import_prod(
        capsys, tmp_path, sqlite_uri, "--merge", "--source", str(tmp_path / "staging.yaml")
    )
    assert code == 0, err
    assert (
        "note: bikes-prod@champion: promoted from staging bikes-staging v2, not copied here "
        "yet: the next apply copies it and moves the alias"
    ) in err
    assert (tmp_path / "prod.yaml").read_text() == PROD


def test_a_version_copied_by_hand_within_the_registry_is_recognised_and_its_older_twin_wins(
    envs: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = client_for(sqlite_uri)
    first = client.copy_model_version("models:/bikes-staging/3", "bikes-prod")
    second = client.copy_model_version("models:/bikes-staging/3", "bikes-prod")
    client.set_registered_model_alias("bikes-prod", "candidate", first.version)
    client.set_registered_model_alias("bikes-prod", "shadow", second.version)
    (envs / "prod.yaml").unlink()
    staging = str(envs / "staging.yaml")
    code, _, err = import_prod(
        capsys, envs, sqlite_uri, "--environment", "prod", "--source", staging
    )
    assert code == 0, err
    text = (envs / "prod.yaml").read_text()
    assert "      candidate: {from: staging, model: bikes-staging, version: 3}\n" in text
    assert f"      shadow: {second.version}\n" in text  # a promotion would resolve to `first`
    assert (
        f"note: bikes-prod@shadow: version {second.version} is a copy of staging bikes-staging "
        f"v3, but so is the older version {first.version}"
    ) in err
    assert_converged(capsys, envs, sqlite_uri)


def test_registry_uri_env_is_read_now_and_written_never_the_uri(
    envs: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROD_URI", sqlite_uri)
    monkeypatch.setenv("STAGING_URI", sqlite_uri)
    staging = envs / "staging.yaml"
    staging.write_text(
        STAGING.replace("name: staging", "name: staging\n  registry_uri_env: STAGING_URI")
    )
    (envs / "prod.yaml").unlink()
    code, _, err = invoke(
        capsys, "import", "--filter", "name = 'bikes-prod'", "--out", str(envs / "prod.yaml"),
        "--environment", "prod", "--registry-uri-env", "PROD_URI", "--source", str(staging),
    )  # fmt: skip
    assert code == 0, err
    text = (envs / "prod.yaml").read_text()
    assert "environment:\n  name: prod\n  registry_uri_env: PROD_URI\n" in text
    assert "($PROD_URI)" in text
    assert "sqlite" not in text
    code, out, err = invoke(capsys, *_files(envs, "plan"), "--detailed-exitcode")
    assert code == 0, out + err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--environment", "Prod"], "--environment': environment name 'Prod' must start with"),
        (
            ["--environment", "prod", "--registry-uri-env", "NOT_SET_ANYWHERE"],
            "its registry URI is read from $NOT_SET_ANYWHERE, which is not set",
        ),
        (
            ["--environment", "prod", "--registry-uri-env", "1-bad"],
            "is not an environment variable",
        ),
        (
            ["--source", "{staging}"],
            "--source and --registry-uri-env are for an environment's file",
        ),
        (
            ["--environment", "staging", "--source", "{staging}"],
            "describes environment 'staging', the one imported into",
        ),
        (
            ["--environment", "prod", "--source", "{plain}"],
            ":1:1: given with other files, a file must name its environment",
        ),
        (["--environment", "prod", "--filter", "name = 'nothing'"], "found no model with an alias"),
    ],
)
def test_bad_input_is_one_located_line_and_writes_nothing(
    envs: Path,
    sqlite_uri: str,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    (envs / "prod.yaml").unlink()
    (envs / "plain.yaml").write_text("models: {}\n")
    given = [a.format(staging=envs / "staging.yaml", plain=envs / "plain.yaml") for a in args]
    code, out, err = import_prod(capsys, envs, sqlite_uri, *given)
    assert (code, out) == (1, "")
    assert message in err
    assert "Traceback" not in err
    assert not (envs / "prod.yaml").exists()


def test_merging_a_file_with_promotions_needs_their_sources_located(
    envs: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = import_prod(capsys, envs, sqlite_uri, "--merge")
    assert (code, out) == (1, "")
    assert f"{envs / 'prod.yaml'}:6:17: models.bikes-prod.aliases.champion:" in err
    assert "promoted from environment 'staging', which none of the files given describes" in err
    assert (envs / "prod.yaml").read_text() == PROD


def test_merging_a_plain_file_refuses_environment_options(
    envs: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = "models:\n  bikes-prod:\n    aliases:\n      champion: 1\n"
    (envs / "prod.yaml").write_text(plain)
    code, _, err = import_prod(capsys, envs, sqlite_uri, "--merge", "--environment", "prod")
    assert code == 1
    assert "names no environment: add its `environment:` block by hand" in err
    assert (envs / "prod.yaml").read_text() == plain


def test_all_in_a_shared_registry_reads_under_the_environments_instance(
    envs: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--all` finds staging's models too: staging's instance manages them, so they are
    left out (and a model no instance manages yet would be adopted)."""
    (envs / "prod.yaml").unlink()
    code, _, err = invoke(
        capsys, "import", "--all", "--environment", "prod", "--out", str(envs / "prod.yaml"),
        "--source", str(envs / "staging.yaml"), "--registry-uri", sqlite_uri,
    )  # fmt: skip
    assert code == 0, err
    assert "note: bikes-staging: managed by aliasctl instance 'staging', left out" in err
    assert "bikes-staging:" not in (envs / "prod.yaml").read_text()
    assert_converged(capsys, envs, sqlite_uri)


def test_an_instance_given_is_written_to_the_new_environment(
    tmp_path: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model an older, single-file setup manages (instance `default`) is adopted by the
    environment only under that instance, which the file then names."""
    seed(sqlite_uri, {"bikes-prod": 1})
    plain = tmp_path / "aliases.yaml"
    plain.write_text("models:\n  bikes-prod:\n    aliases:\n      champion: 1\n")
    assert invoke(capsys, "apply", str(plain), "--registry-uri", sqlite_uri)[0] == 0
    out = tmp_path / "prod.yaml"
    args = ["import", "--all", "--environment", "prod", "--out", str(out)]
    code, _, err = invoke(capsys, *args, "--registry-uri", sqlite_uri, "--allow-empty")
    assert code == 0, err
    assert "managed by aliasctl instance 'default', left out" in err
    out.unlink()
    code, _, err = invoke(capsys, *args, "--registry-uri", sqlite_uri, "--instance", "default")
    assert code == 0, err
    assert "environment:\n  name: prod\n  instance: default\nmodels:\n" in out.read_text()
    code, text, _ = invoke(
        capsys, "plan", str(out), "--registry-uri", sqlite_uri, "--detailed-exitcode"
    )
    assert code == 0, text


@pytest.mark.server
@pytest.mark.xdist_group("environments")
def test_two_registries_a_copy_across_is_imported_as_its_promotion(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    staging_server: MlflowServer,
    production_server: MlflowServer,
    staged: Staged,
    unique: str,
) -> None:
    """A staging and a production server: the copy apply made across them carries its tag,
    and prod's file is written back with the promotion, planning to nothing. Staging's
    server is shared by the session: only prod is applied (staging is read, never claimed),
    under an instance of its own (the session's other tests manage prod's models too)."""
    monkeypatch.setenv("STAGING_URI", staging_server.uri)
    monkeypatch.setenv("PROD_URI", production_server.uri)
    staging, prod = tmp_path / "staging.yaml", tmp_path / "prod.yaml"
    staging.write_text(
        "environment: {name: staging, registry_uri_env: STAGING_URI, instance: "
        f"{unique}-staging}}\nmodels:\n  {staged.model}:\n    aliases: {{}}\n"
    )
    promoted = f"{{from: staging, model: {staged.model}, version: {staged.version}}}"
    prod.write_text(
        f"environment: {{name: prod, registry_uri_env: PROD_URI, instance: {unique}-prod}}\n"
        f"models:\n  {unique}:\n    aliases:\n      champion: {promoted}\n"
    )
    only_prod = ("--environment", "prod")
    code, out, err = invoke(capsys, "apply", str(staging), str(prod), *only_prod)
    assert code == 0, out + err
    prod.unlink()

    code, _, err = invoke(
        capsys, "import", "--filter", f"name = '{unique}'", "--environment", "prod",
        "--registry-uri-env", "PROD_URI", "--source", str(staging), "--out", str(prod),
        "--instance", f"{unique}-prod",
    )  # fmt: skip
    assert code == 0, err
    text = prod.read_text()
    assert f"      champion: {promoted}\n" in text
    assert f"  registry_uri_env: PROD_URI\n  instance: {unique}-prod\nmodels:\n" in text
    assert production_server.uri not in text
    code, out, err = invoke(
        capsys, "plan", str(staging), str(prod), *only_prod, "--detailed-exitcode"
    )
    assert code == 0, out + err
    code, out, _ = invoke(capsys, "apply", str(staging), str(prod), *only_prod)
    assert code == 0
    assert "copied now" not in out
    copies = client_for(production_server.uri).search_model_versions(f"name='{unique}'")
    assert [int(v.version) for v in copies] == [1]
    assert live_aliases(production_server.uri, unique) == {"champion": 1}


def test_merge_writes_a_new_model_with_a_promotion_and_checks_it_reads_back() -> None:
    """Pure: the merged text parses to the file plus the additions, promotions included."""
    loaded = parse_spec(PROD, "prod.yaml")
    merged = merge(
        loaded,
        {"bikes-prod": {"champion": 1}, "cars": {"champion": 3, "shadow": 1}},
        promoted={("bikes-prod", "champion"): 1},
        values={("cars", "champion"): "{from: staging, version: 9}"},
    )
    assert merged.added == ["cars"]
    assert merged.text == PROD + (
        "  cars:\n    aliases:\n      champion: {from: staging, version: 9}\n      shadow: 1\n"
    )
    with pytest.raises(UnresolvedPromotionError):
        merge(loaded, {"bikes-prod": {"champion": 1}})  # a promotion is never read as absent


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--environment", "staging"], "--environment': " + "{prod} describes environment 'prod'"),
        (["--registry-uri-env", "PROD_URI"], "{prod} already says where its registry is"),
        (["--source", "{prod}"], "environment 'prod' is described by {prod} too"),
    ],
)
def test_merge_into_an_environment_refuses_options_that_contradict_the_file(
    envs: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    prod = envs / "prod.yaml"
    given = [a.format(prod=prod) for a in args]
    code, out, err = import_prod(capsys, envs, sqlite_uri, "--merge", *given)
    assert (code, out) == (1, "")
    assert message.format(prod=prod) in err
    assert "Traceback" not in err
    assert prod.read_text() == PROD


def _no_registry(uri: str | None, instance: str) -> Registry:
    raise AssertionError(f"no registry is opened for options refused ({uri}, {instance})")


@pytest.mark.parametrize(
    ("merged", "wanted", "option", "message"),
    [
        (None, Wanted(None, "PROD_URI", (), "default", False), None, "--registry-uri-env are"),
        ("models: {}\n", Wanted("prod", None, (), "default", False), None, "names no environment"),
        (PROD, Wanted("staging", None, (), "default", False), "--environment", "describes"),
        (PROD, Wanted(None, "PROD_URI", (), "default", False), None, "already says where"),
        (None, Wanted("prod", None, (), "Prod", True), "--instance", "name 'Prod' must start"),
    ],
)
def test_options_no_import_can_do_are_refused_before_any_registry_is_opened(
    merged: str | None, wanted: Wanted, option: str | None, message: str
) -> None:
    """The domain raises its own error, naming the option at fault; the CLI shows it as a
    usage error (the tests above pin how)."""
    loaded = None if merged is None else parse_spec(merged, "prod.yaml")
    with pytest.raises(ImportOptionsError, match=message) as refused:
        import_into(loaded, Path("prod.yaml"), wanted, _no_registry)
    assert refused.value.option == option


def test_merging_all_into_an_environment_says_another_instances_model_is_its_files(
    envs: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Merging into prod.yaml reads as prod's instance whatever --instance says: a model
    staging's instance manages is left to staging's file, not to an --instance hint."""
    code, _, err = invoke(
        capsys, "import", "--all", "--merge", "--out", str(envs / "prod.yaml"),
        "--source", str(envs / "staging.yaml"), "--registry-uri", sqlite_uri,
    )  # fmt: skip
    assert code == 0, err
    assert (
        "note: bikes-staging: managed by aliasctl instance 'staging', left out "
        "(its own file imports it)"
    ) in err
    assert "--instance" not in err
