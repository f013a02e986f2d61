"""`aliasctl analyze` over environments: one real SQLite registry with a model name per
environment (bikes-staging, bikes-prod), a real smoke command, real git.

The story: staging's version is promoted into prod, apply copies it there, and analyze
judges each environment's alias on its own registry, instance and lock, with prod's
promotion read as its copy's version in prod.
"""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Any

from controller.core.holds import hold_tag, verified_tag
from controller.core.state import Record
from tests.conftest import client_for, invoke, live_aliases, seed

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import pytest

    from tests.support.gitrepo import GitRepo

# The smoke test fails for the model:version pairs after the script, passes for any other.
SMOKE = "import sys; sys.exit('{{model}}:{{version}}' in sys.argv[1:])"


def environment_file(
    name: str, model: str, champion: str, *, bad: str = "", count: int = 1, rule: str = ""
) -> str:
    failing = f', "{bad}"' if bad else ""
    return f"""\
environment:
  name: {name}
models:
  {model}:
    aliases:
      champion: {champion}
policies:
  champion:{rule}
    analysis:
      metrics:
        - name: smoke
          command:
            argv: ["{sys.executable}", "-c", "{SMOKE}"{failing}]
          interval: 1s
          count: {count}
"""


def write_files(
    root: Path, version: int, *, bad: str = "", count: int = 1, rule: str = ""
) -> tuple[str, str]:
    """staging names `version`; prod promotes staging's `version` (`rule`: prod's policy)."""
    staging, prod = root / "staging.yaml", root / "prod.yaml"
    staging.write_text(
        environment_file("staging", "bikes-staging", str(version), bad=bad, count=count)
    )
    promoted = f"{{from: staging, model: bikes-staging, version: {version}}}"
    prod.write_text(
        environment_file("prod", "bikes-prod", promoted, bad=bad, count=count, rule=rule)
    )
    return str(staging), str(prod)


def analyze(capsys: pytest.CaptureFixture[str], uri: str, *args: str) -> tuple[int, Any, str]:
    code, out, err = invoke(
        capsys, "analyze", *args, "--registry-uri", uri, "--wait", "--output", "json"
    )
    return code, json.loads(out), err


def sections(report: Any) -> dict[str, list[dict[str, Any]]]:
    return {section["name"]: section["analyses"] for section in report["environments"]}


def tags(uri: str, model: str) -> dict[str, str]:
    return dict(client_for(uri).get_registered_model(model).tags)


def versions(uri: str, model: str) -> list[int]:
    found = client_for(uri).search_model_versions(f"name='{model}'")
    return sorted(int(v.version) for v in found)


def verified(uri: str, model: str) -> int | None:
    found = tags(uri, model).get(verified_tag("champion"))
    return json.loads(found)["version"] if found else None


def promoted_twice(
    capsys: pytest.CaptureFixture[str],
    root: Path,
    uri: str,
    *,
    bad: str = "",
    rule: str = "",
    commit: Callable[[str], object] = lambda _: None,
) -> tuple[str, str]:
    """Staging's version 1 is promoted into prod (its copy: bikes-prod v1) and passes in
    both; then staging's version 2 is promoted (bikes-prod v2) and applied."""
    seed(uri, {"bikes-staging": 2})
    files = write_files(root, 1, bad=bad, rule=rule)
    commit("Promote staging's version 1 to prod")
    assert invoke(capsys, "apply", *files, "--registry-uri", uri)[0] == 0
    code, report, err = analyze(capsys, uri, *files)
    assert code == 0, (report, err)
    assert (verified(uri, "bikes-staging"), verified(uri, "bikes-prod")) == (1, 1)
    files = write_files(root, 2, bad=bad, rule=rule)
    commit("Promote staging's version 2 to prod")
    code, out, err = invoke(capsys, "apply", *files, "--registry-uri", uri)
    assert code == 0, out + err
    assert live_aliases(uri, "bikes-staging") == {"champion": 2}
    assert live_aliases(uri, "bikes-prod") == {"champion": 2}
    assert versions(uri, "bikes-prod") == [1, 2]
    return files


def test_a_failure_in_prod_rolls_back_to_the_verified_version_there_and_reverts_prod_yaml(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, repo: GitRepo
) -> None:
    staging, prod = promoted_twice(
        capsys, repo.root, sqlite_uri, bad="bikes-prod:2", commit=repo.commit
    )
    staging_before = repo.path("staging.yaml").read_text()

    code, report, err = analyze(capsys, sqlite_uri, staging, prod, "--no-push")

    assert code == 1, err
    found = sections(report)
    assert list(found) == ["staging", "prod"]
    [in_staging], [in_prod] = found["staging"], found["prod"]
    assert (in_prod["model"], in_prod["version"], in_prod["verified_version"]) == (
        "bikes-prod",
        2,
        1,
    )
    assert (in_prod["phase"], in_prod["outcome"], in_prod["done"]) == (
        "Failed",
        "rolled back and held",
        True,
    )
    # Back to the version prod verified, already there: nothing copied.
    assert live_aliases(sqlite_uri, "bikes-prod") == {"champion": 1}
    assert versions(sqlite_uri, "bikes-prod") == [1, 2]
    hold = json.loads(tags(sqlite_uri, "bikes-prod")[hold_tag("champion")])
    assert (hold["version"], hold["held_at"], hold["phase"]) == (2, 1, "Failed")
    # Applied as prod's own instance, and the audit stamp names the environment.
    record = Record.from_tags(tags(sqlite_uri, "bikes-prod"))
    assert record is not None
    assert (record.instance, record.aliases) == ("prod", {"champion": 1})
    assert record.source["environment"] == "prod"
    assert record.source["rollback"].startswith("rollback of version 2")
    # Staging is untouched: its version passed there and stays.
    assert (in_staging["model"], in_staging["outcome"]) == ("bikes-staging", "verified")
    assert live_aliases(sqlite_uri, "bikes-staging") == {"champion": 2}
    assert hold_tag("champion") not in tags(sqlite_uri, "bikes-staging")
    assert verified(sqlite_uri, "bikes-staging") == 2

    # The revert takes prod's promotion line back to the promotion of prod's version 1 (a
    # copy of staging's 1), as `git revert` would: reviewers still see where it came from.
    branch = "aliasctl/rollback/prod/bikes-prod-champion-v1"  # a folder per environment
    assert in_prod["revert"].startswith(f"revert prepared on branch {branch}")
    reverted = repo.git("show", f"{branch}:prod.yaml")
    assert "\n      champion: {from: staging, model: bikes-staging, version: 1}\n" in reverted
    assert repo.git("show", f"{branch}:staging.yaml") + "\n" == staging_before
    assert repo.git("diff", "--name-only", "HEAD", branch) == "prod.yaml"

    # The next plan over the files shows the hold and plans no copy; apply keeps it held.
    code, out, _ = invoke(
        capsys, "plan", staging, prod, "--registry-uri", sqlite_uri, "--detailed-exitcode"
    )
    assert code == 0, out
    assert "staging bikes-staging v2 is version 2" in out  # the copy made before, found
    assert re.search(r"= bikes-prod@champion +held at 1: version 2 failed analysis", out), out
    assert "+ copy" not in out
    assert invoke(capsys, "apply", staging, prod, "--registry-uri", sqlite_uri)[0] == 0
    assert live_aliases(sqlite_uri, "bikes-prod") == {"champion": 1}
    assert versions(sqlite_uri, "bikes-prod") == [1, 2]

    # The revert lands: prod names staging's 1 again (its copy, prod's 1): the hold is lifted.
    repo.git("checkout", "--quiet", branch, "--", "prod.yaml")
    assert invoke(capsys, "apply", staging, prod, "--registry-uri", sqlite_uri)[0] == 0
    assert hold_tag("champion") not in tags(sqlite_uri, "bikes-prod")
    assert live_aliases(sqlite_uri, "bikes-prod") == {"champion": 1}


def test_environment_staging_analyses_only_staging(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_uri: str
) -> None:
    staging, prod = promoted_twice(capsys, tmp_path, sqlite_uri, bad="bikes-prod:2")

    code, report, err = analyze(capsys, sqlite_uri, staging, prod, "--environment", "staging")

    assert code == 0, err
    [(name, [outcome])] = sections(report).items()
    assert (name, outcome["model"], outcome["outcome"]) == ("staging", "bikes-staging", "verified")
    assert verified(sqlite_uri, "bikes-staging") == 2
    # Prod's failing version was not measured: not held, not rolled back, still verified at 1.
    prod_tags = tags(sqlite_uri, "bikes-prod")
    assert hold_tag("champion") not in prod_tags
    assert not any(tag.startswith("aliasctl.analysis") for tag in prod_tags), prod_tags
    assert verified(sqlite_uri, "bikes-prod") == 1
    assert live_aliases(sqlite_uri, "bikes-prod") == {"champion": 2}

    # Without --environment, prod's turn comes.
    code, report, _ = analyze(capsys, sqlite_uri, staging, prod)
    assert (code, sections(report)["prod"][0]["outcome"]) == (1, "rolled back and held")


def test_passing_analyses_in_two_environments_exit_0_and_are_verified_in_each(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_uri: str
) -> None:
    seed(sqlite_uri, {"bikes-staging": 1})
    files = write_files(tmp_path, 1, count=2)  # two measurements a second apart: --wait waits
    assert invoke(capsys, "apply", *files, "--registry-uri", sqlite_uri)[0] == 0

    code, report, err = analyze(capsys, sqlite_uri, *files)

    assert code == 0, err
    found = sections(report)
    assert {name: [o["outcome"] for o in found[name]] for name in found} == {
        "staging": ["verified"],
        "prod": ["verified"],
    }
    assert "(2/2" in found["prod"][0]["message"], found
    assert (verified(sqlite_uri, "bikes-staging"), verified(sqlite_uri, "bikes-prod")) == (1, 1)

    code, out, _ = invoke(capsys, "analyze", *files, "--registry-uri", sqlite_uri)
    assert code == 0
    assert f"=== Environment staging ({files[0]}) ===" in out
    assert f"=== Environment prod ({files[1]}) ===" in out
    assert out.count("Nothing to analyse") == 2
    code, out, _ = invoke(
        capsys, "analyze", *files, "--registry-uri", sqlite_uri, "--output", "markdown"
    )
    assert code == 0
    assert out.count("### aliasctl analyze") == 1
    assert out.index("#### Environment `staging`") < out.index("#### Environment `prod`")


def test_a_promote_from_in_staging_does_not_keep_prod_on_the_failed_version(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, repo: GitRepo
) -> None:
    """prod's policy wants its version to have held champion in staging: the rollback to
    prod's verified version passes that gate as apply passes it, instead of being refused
    and leaving the failed version live."""
    rule = "\n    promote_from: {alias: champion, environment: staging}"
    staging, prod = promoted_twice(
        capsys, repo.root, sqlite_uri, bad="bikes-prod:2", rule=rule, commit=repo.commit
    )

    code, report, err = analyze(capsys, sqlite_uri, staging, prod, "--no-revert-branch")

    [in_prod] = sections(report)["prod"]
    assert (code, in_prod["outcome"], in_prod["problem"], in_prod["done"]) == (
        1,
        "rolled back and held",
        None,
        True,
    ), err
    assert live_aliases(sqlite_uri, "bikes-prod") == {"champion": 1}
    assert versions(sqlite_uri, "bikes-prod") == [1, 2]
