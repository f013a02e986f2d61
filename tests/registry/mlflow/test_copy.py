"""Copying a version into another environment, exactly once: two real `mlflow server`s with
separate artifact stores, and one SQLite registry with a name per environment."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import pytest

from controller.errors import CopyError, Fault
from controller.registry.mlflow.adapter import MlflowRegistry
from controller.registry.mlflow.copy_across import COPY_EXPERIMENT
from controller.registry.seam import COPIED_FROM_TAG, CopyResult, CopySource
from tests.conftest import client_for, seed
from tests.support.environments import (
    DESCRIPTION,
    RUN_METRICS,
    RUN_PARAMS,
    RUN_TAGS,
    VERSION_TAGS,
    Staged,
    load,
)
from tests.support.fault_proxy import FaultProxy
from tests.support.mlflow_server import free_port

if TYPE_CHECKING:
    from tests.support.mlflow_server import MlflowServer
    from tests.support.old_server import OldMlflowServer


def versions_of(uri: str, model: str) -> list[int]:
    found = client_for(uri).search_model_versions(f"name = '{model}'")
    return sorted(int(v.version) for v in found)


def copy_runs(uri: str, model_source: Staged) -> list[object]:
    client = client_for(uri)
    experiment = client.get_experiment_by_name(COPY_EXPERIMENT)
    runs = client.search_runs(
        [experiment.experiment_id],
        f"tags.`aliasctl.copied_from.run_id` = '{model_source.run_id}'",
    )
    return list(runs)


def with_password(uri: str, password: str) -> str:
    return uri.replace("http://", f"http://aliasctl:{password}@")


# -- across two servers -------------------------------------------------------------------------


@pytest.mark.server
@pytest.mark.xdist_group("environments")
def test_copy_across_servers_loads_and_predicts_like_the_original(
    staging_server: MlflowServer, production_server: MlflowServer, staged: Staged, unique: str
) -> None:
    staging = MlflowRegistry(with_password(staging_server.uri, "s3cret"))
    production = MlflowRegistry(production_server.uri)
    source = CopySource.of(staging, staged.model, staged.version, environment="staging")
    target = f"{unique}-bikes"

    result = production.copy_version(staging, source, target)

    assert result == CopyResult(1, created=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mlflow's own deprecations while loading
        original = load(staging_server.uri, staged.model, staged.version)
        copied = load(production_server.uri, target, result.version)
    assert copied.predict(staged.features).tolist() == original.predict(staged.features).tolist()
    assert copied.metadata.signature == original.metadata.signature
    assert copied.input_example is not None
    # The files live in production's own artifact store.
    stored = production_server.root / "artifacts"
    assert any(stored.rglob("MLmodel"))


@pytest.mark.server
@pytest.mark.xdist_group("environments")
def test_copy_across_servers_carries_tags_description_and_run_lineage(
    staging_server: MlflowServer,
    production_server: MlflowServer,
    staged: Staged,
    unique: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    staging = MlflowRegistry(with_password(staging_server.uri, "s3cret"))
    production = MlflowRegistry(with_password(production_server.uri, "s3cret"))
    source = CopySource.of(staging, staged.model, staged.version, environment="staging")
    target = f"{unique}-bikes"

    version = production.copy_version(staging, source, target).version

    copy = client_for(production_server.uri).get_model_version(target, str(version))
    assert copy.description == DESCRIPTION
    assert copy.tags == {
        **VERSION_TAGS,
        COPIED_FROM_TAG: f"staging#{staged.model}/{staged.version}",
        "aliasctl.copied_from.registry": "staging",
        "aliasctl.copied_from.model": staged.model,
        "aliasctl.copied_from.version": str(staged.version),
        "aliasctl.copied_from.run_id": staged.run_id,
    }
    run = client_for(production_server.uri).get_run(copy.run_id)
    assert run.data.params == RUN_PARAMS
    assert run.data.metrics == RUN_METRICS
    assert RUN_TAGS.items() <= run.data.tags.items()
    assert run.data.tags["aliasctl.copied_from.run_id"] == staged.run_id
    # The source registry is named by its environment, never with its credentials.
    assert not [v for v in {**copy.tags, **run.data.tags}.values() if "s3cret" in v]
    assert run.info.status == "FINISHED"
    assert run.info.end_time is not None
    assert capsys.readouterr().out == ""  # MLflow prints no link to the run


@pytest.mark.server
@pytest.mark.xdist_group("environments")
def test_copy_across_servers_twice_gives_one_copy(
    staging_server: MlflowServer, production_server: MlflowServer, staged: Staged, unique: str
) -> None:
    staging = MlflowRegistry(staging_server.uri)
    production = MlflowRegistry(production_server.uri)
    source = CopySource.of(staging, staged.model, staged.version)
    target = f"{unique}-bikes"

    first = production.copy_version(staging, source, target)
    again = production.copy_version(staging, source, target)

    assert (first, again) == (CopyResult(1, created=True), CopyResult(1, created=False))
    assert production.find_copy(target, source) == 1
    assert versions_of(production_server.uri, target) == [1]
    # Without an environment name the source is its display URI.
    tags = client_for(production_server.uri).get_model_version(target, "1").tags
    assert tags[COPIED_FROM_TAG] == f"{staging_server.uri}#{staged.model}/{staged.version}"


@pytest.mark.server
@pytest.mark.xdist_group("environments")
def test_registration_refused_mid_copy_leaves_no_version_and_rerun_makes_one(
    staging_server: MlflowServer, production_server: MlflowServer, staged: Staged, unique: str
) -> None:
    staging = MlflowRegistry(staging_server.uri)
    source = CopySource.of(staging, staged.model, staged.version, environment="staging")
    target = f"{unique}-bikes"
    refusing = {("POST", "model-versions/create"): 403}
    with FaultProxy(production_server.uri, refuse=refusing) as proxy:
        production = MlflowRegistry(proxy.uri, timeout_seconds=10)
        with pytest.raises(CopyError) as refused:
            production.copy_version(staging, source, target)
    assert refused.value.fault is Fault.PERMISSION
    assert str(refused.value) == (
        f"registry {proxy.uri}: copying {staged.model}/{staged.version} of staging into "
        f"{target}: permission denied: registering the copy needs EDIT permission on the model"
    )
    assert versions_of(production_server.uri, target) == []  # the files were uploaded, no more
    runs_before = {r.info.run_id for r in copy_runs(production_server.uri, staged)}  # type: ignore[attr-defined]

    result = MlflowRegistry(production_server.uri).copy_version(staging, source, target)

    assert result == CopyResult(1, created=True)
    assert versions_of(production_server.uri, target) == [1]
    # The first attempt's run had finished logging the files: registered from, not re-logged.
    runs_after = {r.info.run_id for r in copy_runs(production_server.uri, staged)}  # type: ignore[attr-defined]
    assert runs_after == runs_before
    assert client_for(production_server.uri).get_model_version(target, "1").run_id in runs_before


@pytest.mark.server
@pytest.mark.xdist_group("environments")
def test_registration_whose_answer_is_lost_is_not_registered_twice(
    staging_server: MlflowServer, production_server: MlflowServer, staged: Staged, unique: str
) -> None:
    staging = MlflowRegistry(staging_server.uri)
    source = CopySource.of(staging, staged.model, staged.version, environment="staging")
    target = f"{unique}-bikes"
    with FaultProxy(production_server.uri, cut_first=("model-versions/create",)) as proxy:
        production = MlflowRegistry(proxy.uri, timeout_seconds=20)
        result = production.copy_version(staging, source, target)
        assert proxy.counts["cut"] == 1

    assert result == CopyResult(1, created=True)
    assert versions_of(production_server.uri, target) == [1]


@pytest.mark.server
@pytest.mark.xdist_group("environments")
def test_copy_is_found_where_the_registry_cannot_filter_on_tags(
    staging_server: MlflowServer, production_server: MlflowServer, staged: Staged, unique: str
) -> None:
    staging = MlflowRegistry(staging_server.uri)
    source = CopySource.of(staging, staged.model, staged.version, environment="staging")
    target = f"{unique}-bikes"
    MlflowRegistry(production_server.uri).copy_version(staging, source, target)
    # Searches filtering on the copy tag are refused, as by a registry without tag filters.
    refusing = {("GET", "aliasctl.copied_from"): 400}
    with FaultProxy(production_server.uri, refuse=refusing) as proxy:
        production = MlflowRegistry(proxy.uri)
        assert production.copy_version(staging, source, target) == CopyResult(1, created=False)
        assert proxy.counts["refused"] >= 1
    assert versions_of(production_server.uri, target) == [1]


@pytest.mark.server
@pytest.mark.xdist_group("environments")
def test_a_search_that_answers_nothing_is_an_error_not_a_missing_copy(
    staging_server: MlflowServer, production_server: MlflowServer, staged: Staged, unique: str
) -> None:
    staging = MlflowRegistry(staging_server.uri)
    source = CopySource.of(staging, staged.model, staged.version, environment="staging")
    target = f"{unique}-bikes"
    MlflowRegistry(production_server.uri).copy_version(staging, source, target)
    blank = FaultProxy(production_server.uri, blank=("model-versions/search",))
    with blank as proxy, pytest.raises(CopyError, match="its searches cannot be trusted"):
        MlflowRegistry(proxy.uri).copy_version(staging, source, target)
    assert versions_of(production_server.uri, target) == [1]


@pytest.mark.server
@pytest.mark.xdist_group("environments")
def test_missing_source_version_is_a_copy_error(
    staging_server: MlflowServer, production_server: MlflowServer, staged: Staged, unique: str
) -> None:
    staging = MlflowRegistry(with_password(staging_server.uri, "s3cret"))
    source = CopySource.of(staging, staged.model, 999, environment="staging")
    target = f"{unique}-bikes"

    with pytest.raises(CopyError) as missing:
        MlflowRegistry(production_server.uri).copy_version(staging, source, target)

    assert missing.value.fault is Fault.NOT_FOUND
    assert str(missing.value) == (
        f"registry {staging_server.uri}: copying {staged.model}/999 of staging into {target}: "
        f"the source registry has no version 999 of {staged.model}"
    )
    assert versions_of(production_server.uri, target) == []


@pytest.mark.server
@pytest.mark.xdist_group("environments")
def test_unreachable_target_is_a_copy_error_without_credentials(
    staging_server: MlflowServer, staged: Staged, unique: str
) -> None:
    staging = MlflowRegistry(staging_server.uri)
    source = CopySource.of(staging, staged.model, staged.version, environment="staging")
    nowhere = f"http://127.0.0.1:{free_port()}"
    production = MlflowRegistry(with_password(nowhere, "s3cret"), timeout_seconds=3)

    with pytest.raises(CopyError) as unreachable:
        production.copy_version(staging, source, f"{unique}-bikes")

    assert unreachable.value.fault is Fault.UNREACHABLE
    assert str(unreachable.value).startswith(
        f"registry {nowhere}: copying {staged.model}/{staged.version} of staging into "
        f"{unique}-bikes: searching for copies: cannot reach the registry"
    )
    assert "s3cret" not in str(unreachable.value)


# -- within one registry (a name per environment) ---------------------------------------------


def test_copy_within_one_registry_uses_copy_model_version_once(sqlite_uri: str) -> None:
    seed(sqlite_uri, {"bikes-staging": 2})
    registry = MlflowRegistry(sqlite_uri)
    source = CopySource.of(registry, "bikes-staging", 2, environment="staging")

    first = registry.copy_version(registry, source, "bikes-prod")
    again = registry.copy_version(registry, source, "bikes-prod")

    assert (first, again) == (CopyResult(1, created=True), CopyResult(1, created=False))
    copy = client_for(sqlite_uri).get_model_version("bikes-prod", "1")
    assert copy.source == "models:/bikes-staging/2"
    assert copy.tags[COPIED_FROM_TAG] == "staging#bikes-staging/2"
    assert versions_of(sqlite_uri, "bikes-prod") == [1]


def test_untagged_copy_left_by_a_crash_is_found_and_tagged_not_copied_again(
    sqlite_uri: str,
) -> None:
    seed(sqlite_uri, {"bikes-staging": 2})
    registry = MlflowRegistry(sqlite_uri)
    source = CopySource.of(registry, "bikes-staging", 2, environment="staging")
    # A crash between MLflow's copy and aliasctl's tag: the copy is there, untagged.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client_for(sqlite_uri).copy_model_version("models:/bikes-staging/2", "bikes-prod")

    assert registry.find_copy("bikes-prod", source) == 1
    assert registry.copy_version(registry, source, "bikes-prod") == CopyResult(1, created=False)
    assert versions_of(sqlite_uri, "bikes-prod") == [1]
    tags = client_for(sqlite_uri).get_model_version("bikes-prod", "1").tags
    assert tags[COPIED_FROM_TAG] == "staging#bikes-staging/2"


def test_copy_of_another_version_is_not_taken_for_the_copy(sqlite_uri: str) -> None:
    seed(sqlite_uri, {"bikes-staging": 2})
    registry = MlflowRegistry(sqlite_uri)
    one = CopySource.of(registry, "bikes-staging", 1, environment="staging")
    two = CopySource.of(registry, "bikes-staging", 2, environment="staging")

    assert registry.copy_version(registry, one, "bikes-prod") == CopyResult(1, created=True)
    assert registry.find_copy("bikes-prod", two) is None
    assert registry.copy_version(registry, two, "bikes-prod") == CopyResult(2, created=True)
    assert registry.find_copy("bikes-prod", one) == 1


def test_missing_source_version_within_one_registry_is_a_copy_error(sqlite_uri: str) -> None:
    seed(sqlite_uri, {"bikes-staging": 1})
    registry = MlflowRegistry(sqlite_uri)
    source = CopySource.of(registry, "bikes-staging", 5, environment="staging")

    with pytest.raises(CopyError, match="the source registry has no version 5 of bikes-staging"):
        registry.copy_version(registry, source, "bikes-prod")


@pytest.mark.server
@pytest.mark.usefixtures("mlflow_http_defaults")
def test_copy_on_an_old_server_is_found_again_by_its_tag(
    old_mlflow_server: OldMlflowServer, unique: str
) -> None:
    """2.x servers filter versions on tags too; the copy goes over REST with our 3.x client."""
    seed(old_mlflow_server.uri, {f"{unique}-staging": 1})
    registry = MlflowRegistry(old_mlflow_server.uri)
    source = CopySource.of(registry, f"{unique}-staging", 1, environment="staging")

    first = registry.copy_version(registry, source, f"{unique}-prod")
    with FaultProxy(old_mlflow_server.uri) as proxy:
        again = MlflowRegistry(proxy.uri).copy_version(registry, source, f"{unique}-prod")

    assert (first, again) == (CopyResult(1, created=True), CopyResult(1, created=False))
    # Found by one search filtering on the tag: the server filtered, no listing was needed.
    assert proxy.counts["GET /api/2.0/mlflow/model-versions/search"] == 1
    assert versions_of(old_mlflow_server.uri, f"{unique}-prod") == [1]
    tags = client_for(old_mlflow_server.uri).get_model_version(f"{unique}-prod", "1").tags
    assert tags[COPIED_FROM_TAG] == f"staging#{unique}-staging/1"


# -- many copies looked for at once (a file with many promotions) ----------------------------


def test_find_copies_answers_as_find_copy_does_for_each(sqlite_uri: str) -> None:
    """Tagged, untagged (a crash before the tag), another version's copy, the oldest of
    two, and a model with no version yet: the bulk answer is find_copy's, each."""
    seed(sqlite_uri, {"a-staging": 2, "b-staging": 1, "c-staging": 1})
    registry = MlflowRegistry(sqlite_uri)

    def source(model: str, version: int) -> CopySource:
        return CopySource.of(registry, model, version, environment="staging")

    registry.copy_version(registry, source("a-staging", 1), "a-prod")
    registry.copy_version(registry, source("a-staging", 2), "a-prod")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client_for(sqlite_uri).copy_model_version("models:/b-staging/1", "b-prod")  # untagged
        client_for(sqlite_uri).copy_model_version("models:/b-staging/1", "b-prod")  # again
    wanted = [
        ("a-prod", source("a-staging", 1)),
        ("a-prod", source("a-staging", 2)),
        ("b-prod", source("b-staging", 1)),
        ("c-prod", source("c-staging", 1)),  # no such model yet
        ("a-prod", source("b-staging", 1)),  # b's copies are b-prod's
    ]

    found = registry.find_copies(wanted)

    assert found == {w: registry.find_copy(*w) for w in wanted}
    assert [found[w] for w in wanted] == [1, 2, 1, None, None]


@pytest.mark.server
@pytest.mark.usefixtures("mlflow_http_defaults")
def test_find_copies_of_many_models_is_one_search_not_one_per_model(
    mlflow_server: MlflowServer, unique: str
) -> None:
    models = [f"{unique}-{i}" for i in range(12)]
    seed(mlflow_server.uri, dict.fromkeys(models, 1))
    registry = MlflowRegistry(mlflow_server.uri)
    for model in models[:10]:  # ten copied, two not yet
        registry.copy_version(
            registry, CopySource.of(registry, model, 1, "staging"), f"{model}-prod"
        )
    wanted = [(f"{m}-prod", CopySource.of(registry, m, 1, "staging")) for m in models]

    with FaultProxy(mlflow_server.uri) as proxy:
        found = MlflowRegistry(proxy.uri).find_copies(wanted)

    assert [found[w] for w in wanted] == [1] * 10 + [None, None]
    # One bulk search for all twelve; only the two models it found no version of are
    # confirmed by a read each (a search that answers nothing must not look like no copy).
    assert proxy.counts["GET /api/2.0/mlflow/model-versions/search"] == 1
    assert proxy.counts["GET /api/2.0/mlflow/registered-models/get"] == 2


@pytest.mark.server
@pytest.mark.xdist_group("environments")
def test_find_copies_where_searches_answer_nothing_is_an_error_not_no_copy(
    staging_server: MlflowServer, production_server: MlflowServer, staged: Staged, unique: str
) -> None:
    staging = MlflowRegistry(staging_server.uri)
    source = CopySource.of(staging, staged.model, staged.version, environment="staging")
    target = f"{unique}-bikes"
    MlflowRegistry(production_server.uri).copy_version(staging, source, target)
    blank = FaultProxy(production_server.uri, blank=("model-versions/search",))
    with blank as proxy, pytest.raises(CopyError, match="its searches cannot be trusted"):
        MlflowRegistry(proxy.uri).find_copies([(target, source)])


@pytest.mark.server
@pytest.mark.usefixtures("mlflow_http_defaults")
def test_find_copies_on_an_old_server_that_refuses_name_in_asks_per_model(
    old_mlflow_server: OldMlflowServer, unique: str
) -> None:
    seed(old_mlflow_server.uri, {f"{unique}-a": 1, f"{unique}-b": 1})
    registry = MlflowRegistry(old_mlflow_server.uri)
    copied = CopySource.of(registry, f"{unique}-a", 1, environment="staging")
    registry.copy_version(registry, copied, f"{unique}-a-prod")
    wanted = [
        (f"{unique}-a-prod", copied),
        (f"{unique}-b-prod", CopySource.of(registry, f"{unique}-b", 1, environment="staging")),
    ]

    assert MlflowRegistry(old_mlflow_server.uri).find_copies(wanted) == {
        wanted[0]: 1, wanted[1]: None
    }  # fmt: skip
