"""Read modes on real registries: bulk, per-model and its inventory, three-level names, records."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from controller.core.state import MAX_TAG_VALUE, RECORD_TAG, Record
from controller.registry.seam import (
    INVENTORY_TAG_PREFIX,
    ReadMode,
    effective_read_mode,
    state_model_name,
)
from controller.registry.uris import is_file_store
from tests.conftest import client_for, invoke, live_aliases, seed, write_spec

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.mlflow_server import MlflowServer

INVENTORY = "aliasctl.inventory.default"


def inventory(uri: str, name: str = INVENTORY) -> set[str]:
    found = client_for(uri).search_registered_models(f"name = '{name}'")
    if not found:
        return set()
    return {v for k, v in found[0].tags.items() if k.startswith(INVENTORY_TAG_PREFIX)}


def per_model(capsys: pytest.CaptureFixture[str], command: str, *args: str) -> tuple[int, str]:
    code, out, err = invoke(capsys, command, *args, "--read-mode", "per-model")
    assert "Traceback" not in err
    return code, out + err


def test_per_model_reads_release_a_model_that_left_the_file(
    sqlite_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(sqlite_uri, {"main.prod.bikes": 3, "main.prod.fraud": 2}, {"main.prod.fraud": {"x": 1}})
    spec = tmp_path / "aliases.yaml"
    write_spec(spec, {"main.prod.bikes": {"champion": 3}, "main.prod.fraud": {"champion": 2}})
    uri = ("--registry-uri", sqlite_uri)
    code, out = per_model(capsys, "plan", str(spec), *uri)
    assert code == 0
    assert "+ main.prod.bikes@champion" in out
    assert client_for(sqlite_uri).search_registered_models(f"name = '{INVENTORY}'") == []

    assert per_model(capsys, "apply", str(spec), *uri)[0] == 0
    assert inventory(sqlite_uri) == {"main.prod.bikes", "main.prod.fraud"}

    write_spec(spec, {"main.prod.bikes": {"champion": 3}})
    code, out = per_model(capsys, "plan", str(spec), *uri, "-o", "json")
    assert code == 1  # dropping a whole model needs --allow-delete
    changes = json.loads(out.split("\nError")[0])["changes"]
    assert changes == [
        {"model": "main.prod.fraud", "alias": "champion", "action": "delete", "before": 2,
         "after": None},
    ]  # fmt: skip
    assert per_model(capsys, "apply", str(spec), *uri, "--allow-delete")[0] == 0
    assert live_aliases(sqlite_uri, "main.prod.fraud") == {"x": 1}  # never ours: untouched
    assert RECORD_TAG not in client_for(sqlite_uri).get_registered_model("main.prod.fraud").tags
    assert inventory(sqlite_uri) == {"main.prod.bikes"}
    assert per_model(capsys, "plan", str(spec), *uri, "--detailed-exitcode")[0] == 0
    # Bulk reads agree with per-model ones on the same registry.
    assert invoke(capsys, "plan", str(spec), *uri, "--detailed-exitcode")[0] == 0


def test_a_managed_model_the_registry_no_longer_returns_is_noted(
    sqlite_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(sqlite_uri, {"main.prod.bikes": 2, "main.prod.gone": 2})
    spec = tmp_path / "aliases.yaml"
    write_spec(spec, {"main.prod.bikes": {"champion": 2}, "main.prod.gone": {"champion": 1}})
    uri = ("--registry-uri", sqlite_uri)
    assert per_model(capsys, "apply", str(spec), *uri)[0] == 0
    client_for(sqlite_uri).delete_registered_model("main.prod.gone")  # by hand
    write_spec(spec, {"main.prod.bikes": {"champion": 2}})

    code, out = per_model(capsys, "plan", str(spec), *uri, "-o", "json")

    assert code == 0, out
    assert json.loads(out)["notes"] == [
        "main.prod.gone: aliasctl's inventory lists it as managed, but the registry did not "
        "return it (deleted, or not readable by this identity); its aliases, if any, were not "
        "released"
    ]


def test_a_record_of_300_aliases_fits_the_tag_column_and_shrinks_cleanly(
    sqlite_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(sqlite_uri, {"bikes": 3})
    spec = tmp_path / "aliases.yaml"
    write_spec(spec, {"bikes": {f"shadow-candidate-{i:03}": 1 + i % 3 for i in range(300)}})
    uri = ("--registry-uri", sqlite_uri)
    assert invoke(capsys, "apply", str(spec), *uri)[0] == 0
    tags = client_for(sqlite_uri).get_registered_model("bikes").tags
    assert max(len(v) for v in tags.values()) <= MAX_TAG_VALUE
    assert len([k for k in tags if k.startswith(RECORD_TAG)]) > 2
    record = Record.from_tags(tags)
    assert record is not None
    assert len(record.aliases) == 300
    assert invoke(capsys, "plan", str(spec), *uri, "--detailed-exitcode")[0] == 0

    write_spec(spec, {"bikes": {"champion": 1}})
    assert invoke(capsys, "apply", str(spec), *uri, "--allow-delete")[0] == 0
    tags = client_for(sqlite_uri).get_registered_model("bikes").tags
    assert [k for k in tags if k.startswith(RECORD_TAG)] == [RECORD_TAG]
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 1}


@pytest.mark.server
@pytest.mark.xdist_group("server")
def test_per_model_reads_over_rest(
    mlflow_server: MlflowServer, tmp_path: Path, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    models = {f"{unique}.schema.m{i}": 2 for i in range(6)}
    seed(mlflow_server.uri, models)
    spec = write_spec(tmp_path / "aliases.yaml", {m: {"champion": 2} for m in models})
    uri = ("--registry-uri", mlflow_server.uri, "--instance", unique)
    assert per_model(capsys, "apply", str(spec), *uri)[0] == 0
    for model in models:
        assert live_aliases(mlflow_server.uri, model) == {"champion": 2}
    assert inventory(mlflow_server.uri, f"aliasctl.inventory.{unique}") == set(models)
    assert per_model(capsys, "plan", str(spec), *uri, "--detailed-exitcode")[0] == 0


@pytest.mark.parametrize(
    ("uri", "mode", "lock"),
    [
        ("databricks-uc", ReadMode.PER_MODEL, "main.a.aliasctl_lock_ci"),
        ("databricks-uc://profile", ReadMode.PER_MODEL, "main.a.aliasctl_lock_ci"),
        ("databricks", ReadMode.BULK, "aliasctl.lock.ci"),
        ("http://127.0.0.1:5000", ReadMode.BULK, "aliasctl.lock.ci"),
    ],
)
def test_unity_catalog_is_known_by_its_bare_name_too(uri: str, mode: ReadMode, lock: str) -> None:
    """`databricks-uc` alone is how MLflow's docs name Unity Catalog: not a file-store path."""
    assert effective_read_mode(ReadMode.AUTO, uri) is mode
    assert state_model_name("lock", "ci", "main.a.bikes", uri) == lock
    assert not is_file_store(uri)


def test_a_long_lived_adapter_sees_what_another_apply_added_to_the_inventory(
    sqlite_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`serve` keeps one adapter for its life: its cycles must not trust an old inventory."""
    from controller.registry.mlflow.adapter import MlflowRegistry  # noqa: PLC0415

    seed(sqlite_uri, {"main.prod.bikes": 2, "main.prod.fraud": 2})
    spec = write_spec(tmp_path / "aliases.yaml", {"main.prod.bikes": {"champion": 1}})
    assert per_model(capsys, "apply", str(spec), "--registry-uri", sqlite_uri)[0] == 0
    serving = MlflowRegistry(sqlite_uri, read_mode=ReadMode.PER_MODEL)
    assert set(serving.read_models(["main.prod.bikes"]).models) == {"main.prod.bikes"}
    both = {"main.prod.bikes": {"champion": 1}, "main.prod.fraud": {"champion": 1}}
    write_spec(spec, both)
    assert per_model(capsys, "apply", str(spec), "--registry-uri", sqlite_uri)[0] == 0
    serving.forget_cached_reads()  # what each serve cycle does first
    assert set(serving.read_models(["main.prod.bikes"]).models) == set(both)
