"""`aliasctl promote`: one reviewed line, in a real git repository; rollback in prod."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.conftest import invoke

if TYPE_CHECKING:
    import pytest

    from tests.support.gitrepo import GitRepo

STAGING = """\
environment: {name: staging}
models:
  bikes:
    aliases:
      champion: 7   # passed staging's checks
      challenger: 8
"""
PROD = """\
# Production: promoted from staging only.
environment: {name: prod, registry_uri_env: MLFLOW_PROD_URI}
models:
  bikes:
    aliases:
      champion: {from: staging, version: 5}   # reviewed 2026-11
"""


def committed(repo: GitRepo) -> tuple[str, str]:
    repo.write("staging.yaml", STAGING)
    repo.write("prod.yaml", PROD)
    repo.commit("Environments")
    return str(repo.path("staging.yaml")), str(repo.path("prod.yaml"))


def test_promote_writes_one_line_naming_the_source_and_commits_it(
    capsys: pytest.CaptureFixture[str], repo: GitRepo
) -> None:
    staging, prod = committed(repo)
    code, out, err = invoke(
        capsys, "promote", "bikes@champion", staging, prod, "--from", "staging", "--to", "prod",
        "--commit",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"{prod}: bikes@champion in prod: staging bikes v7"
    assert (
        repo.git("log", "-1", "--format=%s") == "Promote bikes@champion to prod: staging bikes v7"
    )
    assert repo.git("show", "--numstat", "--format=", "HEAD") == "1\t1\tprod.yaml"
    assert repo.path("prod.yaml").read_text() == PROD.replace(
        "{from: staging, version: 5}", "{from: staging, version: 7}"
    )


def test_promote_another_alias_or_a_pinned_version(
    capsys: pytest.CaptureFixture[str], repo: GitRepo
) -> None:
    staging, prod = committed(repo)
    args = ("promote", "bikes@champion", staging, prod, "--from", "staging", "--to", "prod")
    assert invoke(capsys, *args, "--from-alias", "challenger")[0] == 0
    assert "{from: staging, version: 8}" in repo.path("prod.yaml").read_text()
    assert invoke(capsys, *args, "--version", "6")[0] == 0
    assert "{from: staging, version: 6}" in repo.path("prod.yaml").read_text()


def test_promote_into_an_undeclared_alias_or_from_an_unknown_environment_says_so(
    capsys: pytest.CaptureFixture[str], repo: GitRepo
) -> None:
    staging, prod = committed(repo)
    code, _, err = invoke(
        capsys, "promote", "bikes@shadow", staging, prod, "--from", "staging", "--to", "prod"
    )
    assert code == 1
    assert "bikes@shadow is not declared: declare it first" in err
    code, _, err = invoke(
        capsys, "promote", "bikes@champion", staging, prod, "--from", "dev", "--to", "prod"
    )
    assert code == 1
    assert "no file describes environment 'dev' (prod, staging)" in err
    assert repo.path("prod.yaml").read_text() == PROD  # nothing written


def test_rollback_in_prod_goes_to_a_version_already_there(
    capsys: pytest.CaptureFixture[str], repo: GitRepo
) -> None:
    _, prod = committed(repo)
    code, _, err = invoke(capsys, "rollback", "bikes@champion", prod)
    assert code == 1
    assert "promoted from staging bikes v5: roll it back to a version already" in err
    code, out, _ = invoke(capsys, "rollback", "bikes@champion", prod, "--to", "3")
    assert code == 0, out
    assert out.splitlines()[0] == f"{prod}: bikes@champion staging bikes v5 -> 3"
    assert "      champion: 3   # reviewed 2026-11\n" in repo.path("prod.yaml").read_text()
