"""`aliasctl import`: adopting a registry full of hand-set aliases, on real registries."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

import pytest

from controller.core.state import Record
from controller.desired.spec import load_spec, parse_spec
from controller.gitops.importer import render
from tests.conftest import client_for, invoke, live_aliases, seed

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.mlflow_server import MlflowServer

# Names that must survive the round trip: quotes, dots, three levels, YAML's special words.
MODELS = {
    "bikes": {"champion": 2, "challenger": 3},
    "o'brien-model": {"yes": 1},
    "main.prod.churn": {"123": 2, "on": 1},
    'say "hi"': {"champion": 1},
    "fraud-eu": {"champion": 3},
}


@pytest.fixture
def registry(sqlite_uri: str) -> str:
    seed(sqlite_uri, {**dict.fromkeys(MODELS, 3), "no-aliases": 2}, MODELS)
    return sqlite_uri


def test_import_all_round_trips_to_a_no_op_plan_and_apply_adopts(
    registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "aliases.yaml"
    code, _, err = invoke(capsys, "import", "--all", "--out", str(out), "--registry-uri", registry)
    assert code == 0, err
    assert "Imported 5 models, 7 aliases" in err
    text = out.read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    assert load_spec(out).spec.declared() == MODELS  # "no-aliases" left out: nothing to adopt
    assert list(load_spec(out).spec.declared()) == sorted(MODELS)

    code, out_text, _ = invoke(
        capsys, "plan", str(out), "--registry-uri", registry, "--detailed-exitcode"
    )
    assert code == 0, out_text
    code, _, _ = invoke(capsys, "apply", str(out), "--registry-uri", registry)
    assert code == 0
    for model, aliases in MODELS.items():
        assert live_aliases(registry, model) == aliases  # nothing moved
        record = Record.from_tags(client_for(registry).get_registered_model(model).tags)
        assert record is not None
        assert dict(record.aliases) == aliases  # ownership recorded


def test_names_past_the_basic_plane_and_controls_are_written_so_yaml_reads_them_back() -> None:
    # JSON would write the bicycle as two surrogate escapes, which YAML refuses.
    models = {name: {"champion": 1} for name in ["vélo-🚲", "Größe", "tab\there", "del\x7fx"]}
    text = render(models, "sqlite:///mlflow.db", "2026-12-04T00:00:00Z")
    assert "🚲" in text
    assert parse_spec(text, "aliases.yaml").spec.declared() == models


def test_names_differing_only_in_case_are_left_out_with_a_note(
    sqlite_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SQLite keeps `champion` and `Champion` apart; a file holding both fails validate."""
    twins = {"cased": {"champion": 1, "Champion": 2, "shadow": 1}, "Bikes": {}, "bikes": {}}
    seed(sqlite_uri, dict.fromkeys(twins, 2), twins)
    out = tmp_path / "aliases.yaml"
    code, _, err = invoke(
        capsys, "import", "--all", "cased", "Bikes", "bikes", "--out", str(out),
        "--registry-uri", sqlite_uri,
    )  # fmt: skip
    assert code == 0, err
    assert "note: cased: aliases 'Champion', 'champion' differ only in case, left out" in err
    assert "note: models 'Bikes', 'bikes' differ only in case, left out" in err
    assert load_spec(out).spec.declared() == {"cased": {"shadow": 1}}
    code, _, _ = invoke(capsys, "plan", str(out), "--registry-uri", sqlite_uri)
    assert code == 0


def test_named_models_are_imported_even_without_aliases(
    registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = invoke(capsys, "import", "no-aliases", "bikes", "--registry-uri", registry)
    assert code == 0
    assert "  no-aliases:\n    aliases: {}\n" in out
    assert "fraud-eu" not in out


def test_filter_selects_models_as_mlflow_search_does(
    registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = invoke(
        capsys, "import", "--filter", "name LIKE 'fraud-%'", "--registry-uri", registry
    )
    assert code == 0
    assert "fraud-eu:\n    aliases:\n      champion: 3\n" in out
    assert "bikes" not in out


HAND_WRITTEN = """\
# yaml-language-server: $schema=./aliases.schema.json
# Written by hand; comments and order must survive.
models:
  fraud-eu:           # fraud first, on purpose
    aliases:
      champion: 3     # production

  bikes:
    aliases:
      champion: 1     # the file is the truth here
"""


def test_merge_adds_only_new_lines_and_reports_conflicts(
    registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "aliases.yaml"
    path.write_text(HAND_WRITTEN)
    code, _, err = invoke(
        capsys, "import", "--all", "--merge", "--out", str(path), "--registry-uri", registry
    )
    assert code == 2  # a conflict is left for a person
    assert "conflict: bikes@champion: the file says 1, the registry 2 (kept)" in err
    merged = path.read_text()
    # Byte for byte the same file, plus inserted lines only.
    ops = difflib.SequenceMatcher(None, HAND_WRITTEN, merged).get_opcodes()
    assert {op for op, *_ in ops} <= {"equal", "insert"}
    declared = load_spec(path).spec.declared()
    assert declared["bikes"] == {"champion": 1, "challenger": 3}
    assert declared == {**MODELS, "bikes": {"champion": 1, "challenger": 3}}

    # Merging again adds nothing and changes nothing.
    before = path.read_bytes()
    code, _, err = invoke(
        capsys, "import", "--all", "--merge", "--out", str(path), "--registry-uri", registry
    )
    assert "added nothing" in err
    assert path.read_bytes() == before


def test_a_model_managed_by_another_instance_is_left_out(
    registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "team-b.yaml"
    spec.write_text("models:\n  bikes:\n    aliases:\n      champion: 2\n")
    assert invoke(capsys, "apply", str(spec), "--registry-uri", registry, "--instance", "b")[0] == 0
    code, out, err = invoke(capsys, "import", "--all", "--registry-uri", registry)
    assert code == 0
    assert "bikes:" not in out
    assert "note: bikes: managed by aliasctl instance 'b', left out" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name models to import, or pass --all or --filter"),
        (("ghost",), "registered model does not exist: ghost"),
        (("--all", "--read-mode", "per-model"), "name the models instead"),
    ],
)
def test_bad_requests_are_one_clear_line(
    registry: str, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = invoke(capsys, "import", *args, "--registry-uri", registry)
    assert code == 1
    assert message in err
    assert "Traceback" not in err
    assert out == ""


def test_a_search_that_finds_no_alias_fails_unless_allowed(
    sqlite_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(sqlite_uri, {"bare": 2})  # a model, but no alias anywhere
    out = tmp_path / "aliases.yaml"
    code, text, err = invoke(
        capsys, "import", "--all", "--out", str(out), "--registry-uri", sqlite_uri
    )
    assert code == 1
    assert "--all found no model with an alias" in err
    assert "(1 model searched); pass --allow-empty if that is right" in err
    assert "Traceback" not in err
    assert not out.exists()  # no empty file written quietly

    code, _, err = invoke(
        capsys, "import", "--filter", "name LIKE 'nothing-%'", "--registry-uri", sqlite_uri
    )
    assert code == 1
    assert "--filter \"name LIKE 'nothing-%'\" found no model with an alias" in err

    code, text, err = invoke(
        capsys, "import", "--all", "--allow-empty", "--registry-uri", sqlite_uri
    )
    assert code == 0, err
    assert "models: {}" in text
    assert "Imported 0 models, 0 aliases." in err


def test_prompts_are_never_imported(registry: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Prompts are registered models too (MLflow >= 2.21), with aliases of their own.
    client = client_for(registry)
    client.register_prompt("greeting", "Hello {{name}}")
    client.set_prompt_alias("greeting", "champion", 1)
    code, out, err = invoke(capsys, "import", "--all", "--registry-uri", registry)
    assert code == 0, err
    assert "bikes:" in out
    assert "greeting" not in out


def test_import_never_overwrites_a_file(
    registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "aliases.yaml"
    path.write_text(HAND_WRITTEN)
    code, _, err = invoke(capsys, "import", "--all", "--out", str(path), "--registry-uri", registry)
    assert code == 1
    assert "exists: pass --merge" in err
    assert path.read_text() == HAND_WRITTEN


@pytest.mark.server
@pytest.mark.xdist_group("server")
def test_import_over_rest_round_trips(
    mlflow_server: MlflowServer, tmp_path: Path, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    models = {f"{unique}.schema.m{i:02}": {"champion": 1 + i % 2, "shadow": 2} for i in range(40)}
    seed(mlflow_server.uri, dict.fromkeys(models, 2), models)
    out = tmp_path / "aliases.yaml"
    uri = ("--registry-uri", mlflow_server.uri, "--instance", unique)
    code, _, err = invoke(
        capsys, "import", "--filter", f"name LIKE '{unique}.%'", "--out", str(out), *uri
    )
    assert code == 0, err
    assert load_spec(out).spec.declared() == models
    assert invoke(capsys, "plan", str(out), *uri, "--detailed-exitcode")[0] == 0
