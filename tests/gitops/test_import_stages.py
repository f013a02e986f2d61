"""`aliasctl import --from-stages` and the plan's stage note: real registries with stages set."""

from __future__ import annotations

import difflib
import json
from typing import TYPE_CHECKING

import pytest

from controller.core.plan import compute_plan
from controller.core.stages import DEFAULT_MAPPING
from controller.core.state import Observed, ObservedModel
from controller.desired.spec import load_spec
from controller.gitops.importer import select
from tests.conftest import client_for, invoke, live_aliases, seed, write_spec
from tests.support.fault_proxy import FaultProxy

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.mlflow_server import MlflowServer

# Each model's stages, as (version, stage) transitions in order; a later one to the same
# stage leaves the earlier version there too (MLflow only archives on request).
STAGED = {
    "bikes": [(1, "Production"), (2, "Production"), (3, "Staging")],
    "fraud-eu": [(1, "Staging")],
    "retired": [(1, "Archived")],
}
NOTE = (
    "bikes: versions still carry stages (Production: 2, Staging: 3); loaders using "
    "models:/bikes/Production or models:/bikes/Staging do not follow aliases"
)


def set_stages(uri: str, staged: dict[str, list[tuple[int, str]]]) -> None:
    client = client_for(uri)
    for model, moves in staged.items():
        for version, stage in moves:
            # Deprecated since MLflow 2.9 (a FutureWarning on each call) yet still served by
            # 2.x and 3.x: it is how a registry still on stages gets that way. Allowed here only.
            with pytest.warns(FutureWarning, match="transition_model_version_stage"):
                client.transition_model_version_stage(model, str(version), stage)


@pytest.fixture
def registry(sqlite_uri: str) -> str:
    seed(
        sqlite_uri,
        {"bikes": 4, "fraud-eu": 2, "retired": 1, "plain": 2},
        {"bikes": {"shadow": 1}, "plain": {"champion": 2}},
    )
    set_stages(sqlite_uri, STAGED)
    return sqlite_uri


def test_from_stages_writes_the_file_apply_creates_and_the_plan_is_then_a_no_op(
    registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "aliases.yaml"
    uri = ("--registry-uri", registry)
    code, _, err = invoke(capsys, "import", "--all", "--from-stages", "--out", str(out), *uri)
    assert code == 0, err
    assert "Imported 3 models, 5 aliases (3 from stages)." in err
    text = out.read_text()
    assert "      champion: 2  # from stage Production\n" in text  # the latest in Production
    assert "      challenger: 3  # from stage Staging\n" in text
    assert "      shadow: 1\n" in text  # an existing alias, written as it is
    # "retired" has only an Archived version and no alias: not in the default mapping.
    assert load_spec(out).spec.declared() == {
        "bikes": {"challenger": 3, "champion": 2, "shadow": 1},
        "fraud-eu": {"challenger": 1},
        "plain": {"champion": 2},
    }

    code, plan_out, _ = invoke(capsys, "plan", str(out), *uri, "-o", "json")
    body = json.loads(plan_out)
    assert [(c["model"], c["alias"], c["action"], c["after"]) for c in body["changes"]] == [
        ("bikes", "challenger", "create", 3),
        ("bikes", "champion", "create", 2),
        ("fraud-eu", "challenger", "create", 1),
    ]
    assert NOTE in body["notes"]
    code, _, err = invoke(capsys, "apply", str(out), *uri)
    assert code == 0, err
    assert live_aliases(registry, "bikes") == {"challenger": 3, "champion": 2, "shadow": 1}
    assert live_aliases(registry, "fraud-eu") == {"challenger": 1}
    code, plan_out, _ = invoke(capsys, "plan", str(out), *uri, "--detailed-exitcode")
    assert code == 0, plan_out
    assert "No changes." in plan_out


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("text", f"Notes:\n  - {NOTE}\n"),
        ("markdown", f"**Notes:**\n\n- {NOTE}\n"),
        ("json", json.dumps(NOTE)),
    ],
)
def test_plan_notes_a_managed_model_still_on_stages_and_exits_as_before(
    registry: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    output: str,
    expected: str,
) -> None:
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"shadow": 1}, "plain": {"champion": 2}})
    code, out, err = invoke(
        capsys, "plan", str(spec), "--registry-uri", registry, "-o", output, "--detailed-exitcode"
    )
    assert code == 0, out + err  # a note, never a change or a failure
    assert expected in out
    assert "plain: versions still carry" not in out  # no stages, no note


def test_the_note_names_only_stages_loaders_read_from() -> None:
    observed = Observed(
        {
            "a": ObservedModel("a", {}, stages={"Archived": 1}),
            "b": ObservedModel("b", {}, stages={"Staging": 4, "Archived": 2}),
        }
    )
    plan = compute_plan({"a": {}, "b": {}}, observed)
    assert plan.notes == (
        "b: versions still carry stages (Staging: 4); loaders using models:/b/Staging "
        "do not follow aliases",
    )


KEPT = "m@champion: the alias is at 2, the Production stage at 3 (the alias kept)"


@pytest.mark.parametrize(
    ("aliases", "stages", "written", "from_stage", "conflicts"),
    [
        # Only a stage: the alias is made from it.
        ({}, {"Production": 3}, {"champion": 3}, {"champion": "Production"}, []),
        # The alias is there already at that version: adopted, nothing to create or report.
        ({"champion": 3}, {"Production": 3}, {"champion": 3}, {}, []),
        # The alias is elsewhere: kept, reported.
        ({"champion": 2}, {"Production": 3}, {"champion": 2}, {}, [KEPT]),
        # Unmapped stages and other aliases pass through untouched.
        ({"shadow": 1}, {"Archived": 1, "Staging": 4},
         {"shadow": 1, "challenger": 4}, {"challenger": "Staging"}, []),
    ],
)  # fmt: skip
def test_select_from_stages(
    aliases: dict[str, int],
    stages: dict[str, int],
    written: dict[str, int],
    from_stage: dict[str, str],
    conflicts: list[str],
) -> None:
    observed = Observed({"m": ObservedModel("m", aliases, stages=stages)})
    chosen = select(observed, (), "default", searched=True, stage_map=DEFAULT_MAPPING)
    assert chosen.models == {"m": written}
    assert chosen.from_stage == {("m", a): s for a, s in from_stage.items()}
    assert list(chosen.conflicts) == conflicts


def test_stage_alias_replaces_the_default_mapping(
    registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = invoke(
        capsys,
        "import",
        "bikes",
        "retired",
        "plain",
        "--from-stages",
        "--stage-alias",
        "production=prod",  # stage names in any case, as MLflow takes them
        "--stage-alias",
        "Archived=retired",
        "--registry-uri",
        registry,
    )
    assert code == 0, err
    assert "# From stages (Production=prod, Archived=retired)" in out
    assert "      prod: 2  # from stage Production\n" in out
    assert "challenger" not in out  # Staging is no longer mapped
    assert "  retired:\n    aliases:\n      retired: 1  # from stage Archived\n" in out
    # A named model with no version in a mapped stage is written with what it has.
    assert "  plain:\n    aliases:\n      champion: 2\n" in out
    assert "note: plain: no version in Production or Archived; written with its aliases only" in err


def test_filter_with_from_stages_takes_models_with_only_stages(
    registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = invoke(
        capsys, "import", "--filter", "name LIKE 'f%'", "--from-stages", "--registry-uri", registry
    )
    assert code == 0
    assert "  fraud-eu:\n    aliases:\n      challenger: 1  # from stage Staging\n" in out
    assert "bikes" not in out


HAND_WRITTEN = """\
models:
  bikes:    # kept as written
    aliases:
      champion: 1   # the file is the truth here
  fraud-eu:
    aliases:
      champion: 2
"""


def test_merge_from_stages_reports_conflicts_and_only_inserts(
    registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client_for(registry).set_registered_model_alias("fraud-eu", "challenger", "2")
    path = tmp_path / "aliases.yaml"
    path.write_text(HAND_WRITTEN)
    code, _, err = invoke(
        capsys, "import", "--all", "--from-stages", "--merge", "--out", str(path),
        "--registry-uri", registry,
    )  # fmt: skip
    assert code == 2, err
    assert (
        "conflict: bikes@champion: the file says 1, the registry's Production stage 2 (kept)"
        in (err)
    )
    # An alias set by hand is never replaced by a stage's version, file or no file.
    assert "conflict: fraud-eu@challenger: the alias is at 2, the Staging stage at 1" in err
    merged = path.read_text()
    ops = difflib.SequenceMatcher(None, HAND_WRITTEN, merged).get_opcodes()
    assert {op for op, *_ in ops} <= {"equal", "insert"}
    assert "      challenger: 3  # from stage Staging\n" in merged
    assert load_spec(path).spec.declared() == {
        "bikes": {"champion": 1, "challenger": 3, "shadow": 1},
        "fraud-eu": {"champion": 2, "challenger": 2},
        "plain": {"champion": 2},
    }
    assert live_aliases(registry, "fraud-eu") == {"challenger": 2}  # import writes no registry


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--stage-alias", "Production"), "'Production': write STAGE=ALIAS"),
        (("--stage-alias", "Prod=champion"), "unknown stage 'Prod': one of Production,"),
        (("--stage-alias", "None=fresh"), "'None' is no stage"),
        (("--stage-alias", "Production=latest"), "alias 'latest' is reserved by MLflow"),
        (("--stage-alias", "Staging=v2"), "looks like a version"),
        (("--stage-alias", "Staging=a b"), "'Staging=a b'"),
        (
            ("--stage-alias", "Production=a", "--stage-alias", "production=b"),
            "stage Production is mapped twice (a, b)",
        ),
        (
            ("--stage-alias", "Production=a", "--stage-alias", "Staging=a"),
            "alias 'a' is mapped from two stages",
        ),
    ],
)
def test_bad_stage_alias_is_one_usage_error(
    registry: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    out = tmp_path / "aliases.yaml"
    code, stdout, err = invoke(
        capsys, "import", "--all", "--from-stages", *args, "--out", str(out),
        "--registry-uri", registry,
    )  # fmt: skip
    assert code == 1
    assert message in err
    assert "Error: Invalid value for '--stage-alias'" in err
    assert [line for line in err.splitlines() if line.startswith("Error:")] == [
        next(line for line in err.splitlines() if message in line)
    ]
    assert stdout == ""
    assert not out.exists()


def test_stage_alias_needs_from_stages(registry: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = invoke(
        capsys, "import", "--all", "--stage-alias", "Production=prod", "--registry-uri", registry
    )
    assert code == 1
    assert "--stage-alias maps stages for --from-stages: pass that too" in err


def test_import_without_from_stages_is_unchanged(
    registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = invoke(capsys, "import", "--all", "--registry-uri", registry)
    assert code == 0, err
    assert "from stage" not in out
    assert "fraud-eu" not in out  # stages alone do not select a model here
    assert "Every alias below is at its live version" in out


def test_the_adapter_reads_stages_with_the_models(registry: str) -> None:
    from controller.registry.mlflow.adapter import MlflowRegistry  # noqa: PLC0415

    adapter = MlflowRegistry(registry)
    named = adapter.read_models(["bikes", "plain"], exact=True).models
    searched = adapter.search_models(None).models
    for models in (named, searched):
        assert models["bikes"].stages == {"Production": 2, "Staging": 3}
        assert models["plain"].stages == {}  # versions never staged ("None") are no stage
    assert searched["retired"].stages == {"Archived": 1}


@pytest.mark.server  # its server's xdist group comes with the fixture's version
def test_from_stages_round_trips_on_an_mlflow_2_server(
    old_mlflow_server: MlflowServer,
    unique: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mlflow_http_defaults: None,
) -> None:
    bikes, fraud = f"{unique}-bikes", f"{unique}-fraud"
    uri = old_mlflow_server.uri
    seed(uri, {bikes: 3, fraud: 2}, {fraud: {"champion": 2}})
    set_stages(uri, {bikes: [(1, "Production"), (3, "Staging")], fraud: [(1, "Production")]})
    out = tmp_path / "aliases.yaml"
    args = ("--registry-uri", uri, "--instance", unique)
    selection = ("--filter", f"name LIKE '{unique}-%'", "--from-stages")
    capsys.readouterr()  # drop what set-up printed

    # Requests are counted by a pass-through proxy: stages come with the search itself.
    with FaultProxy(uri) as proxy:
        code, _, err = invoke(capsys, "import", *selection[:2], "--registry-uri", proxy.uri)
        assert code == 0, err
        plain = proxy.counts["forwarded"]
        code, _, err = invoke(
            capsys, "import", *selection, "--out", str(out), "--registry-uri", proxy.uri
        )
        assert proxy.counts["forwarded"] - plain == plain == 1  # one search page each
    assert code == 2, err  # fraud@champion is at 2, its Production stage at 1: kept, reported
    assert f"conflict: {fraud}@champion: the alias is at 2, the Production stage at 1" in err
    assert load_spec(out).spec.declared() == {
        bikes: {"champion": 1, "challenger": 3},
        fraud: {"champion": 2},
    }

    code, plan_out, err = invoke(capsys, "plan", str(out), *args, "-o", "json")
    assert code == 0, err
    body = json.loads(plan_out)
    assert [(c["model"], c["alias"], c["action"]) for c in body["changes"]] == [
        (bikes, "challenger", "create"),
        (bikes, "champion", "create"),
    ]
    assert any(
        n.startswith(f"{fraud}: versions still carry stages (Production: 1)") for n in body["notes"]
    )
    assert invoke(capsys, "apply", str(out), *args)[0] == 0
    assert live_aliases(uri, bikes) == {"champion": 1, "challenger": 3}
    assert invoke(capsys, "plan", str(out), *args, "--detailed-exitcode")[0] == 0
