"""The reconcile contract on MySQL (a real MariaDB 10.11): through an `mlflow server`, and direct.

Each test runs twice: against a real `mlflow server` whose backend store is a MariaDB
database (the REST path) and with a `mysql+pymysql://` URI given to aliasctl (MLflow's
SQL store over pymysql). MariaDB's default collation folds case, which SQLite and
PostgreSQL do not: the case tests are here because only this backend shows the harm.
Set-up and checks go straight to the database: they are not what is under test.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from controller.apply import apply_plan
from controller.core.problem import messages
from controller.core.state import MAX_TAG_VALUE, RECORD_TAG, Record, record_part_tags
from controller.desired.spec import load_spec
from controller.reconcile import Options, prepare_plan
from controller.registry.lock import EXPIRES_TAG, TOKEN_TAG
from controller.registry.mlflow.adapter import MlflowRegistry
from controller.registry.mlflow.search import NEAR_NAME_LOOKUPS
from controller.registry.uris import redact_uri
from tests.conftest import client_for, invoke, live_aliases, seed, write_spec
from tests.registry.mlflow.test_postgres import assert_no_password
from tests.support.fault_proxy import FaultProxy

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.mlflow_server import MlflowServer
    from tests.support.mysql import MysqlServer

pytestmark = pytest.mark.xdist_group("mysql")


@dataclass(frozen=True)
class Backend:
    uri: str  # what aliasctl is given
    store: str  # the MariaDB database behind it, for set-up and checks
    password: str  # the database's password: no output may contain it
    # Tests share the server: each is its own controller instance, so none prunes another's.
    instance: str


@pytest.fixture(params=["server", "direct"])
def backend(request: pytest.FixtureRequest, mysql_server: MysqlServer, unique: str) -> Backend:
    if request.param == "server":
        server: MlflowServer = request.getfixturevalue("mysql_mlflow_server")
        return Backend(server.uri, server.backend_uri, mysql_server.password, unique)
    uri: str = request.getfixturevalue("mysql_uri")
    return Backend(uri, uri, mysql_server.password, unique)


def run(capsys: pytest.CaptureFixture[str], backend: Backend, *args: str) -> tuple[int, str, str]:
    """One CLI command against the backend: exit code, stdout, stderr (never the password)."""
    code, out, err = invoke(
        capsys, *args, "--registry-uri", backend.uri, "--instance", backend.instance
    )
    assert_no_password(backend.password, out + err)
    return code, out, err


def tags_of(backend: Backend, model: str) -> dict[str, str]:
    return dict(client_for(backend.store).get_registered_model(model).tags)


def test_plan_apply_prune_converge_and_print_no_password(
    capsys: pytest.CaptureFixture[str], backend: Backend, unique: str, tmp_path: Path
) -> None:
    bikes, fraud = f"{unique}-bikes", f"{unique}-fraud"
    seed(backend.store, {bikes: 4, fraud: 2}, {bikes: {"staging": 1}, fraud: {"manual": 1}})
    path = tmp_path / "aliases.yaml"
    both = {bikes: {"champion": 3, "challenger": 4}, fraud: {"champion": 2}}
    spec = str(write_spec(path, both))

    code, out, _ = run(capsys, backend, "plan", spec, "--detailed-exitcode", "-o", "json")
    assert code == 2
    body = json.loads(out)
    assert [(c["model"], c["alias"], c["action"]) for c in body["changes"]] == [
        (bikes, "challenger", "create"),
        (bikes, "champion", "create"),
        (fraud, "champion", "create"),
    ]
    assert body["registry"] == redact_uri(backend.uri)
    assert urlsplit(body["registry"]).password is None
    code, out, err = run(capsys, backend, "apply", spec)
    assert code == 0, out + err
    assert live_aliases(backend.store, bikes) == {"champion": 3, "challenger": 4, "staging": 1}
    assert run(capsys, backend, "plan", spec, "--detailed-exitcode")[0] == 0

    # challenger and the whole of fraud leave the file: only what aliasctl set goes.
    code, out, err = run(
        capsys, backend, "apply", str(write_spec(path, {bikes: {"champion": 3}})), "--allow-delete"
    )
    assert code == 0, out + err
    assert live_aliases(backend.store, bikes) == {"champion": 3, "staging": 1}
    assert live_aliases(backend.store, fraud) == {"manual": 1}
    assert RECORD_TAG not in tags_of(backend, fraud)


def test_missing_version_fails_preflight_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], backend: Backend, unique: str, tmp_path: Path
) -> None:
    bikes, fraud = f"{unique}-bikes", f"{unique}-fraud"
    seed(backend.store, {bikes: 2, fraud: 1}, {bikes: {"staging": 1}})
    declared = {bikes: {"champion": 2, "challenger": 7}, fraud: {"champion": 1}}
    code, _, err = run(capsys, backend, "apply", str(write_spec(tmp_path / "a.yaml", declared)))
    assert code == 1
    assert f"{bikes}@challenger: version 7 does not exist" in err
    assert "Traceback" not in err
    assert live_aliases(backend.store, bikes) == {"staging": 1}
    assert live_aliases(backend.store, fraud) == {}
    assert RECORD_TAG not in tags_of(backend, bikes)


def test_alias_moved_by_hand_is_reported_then_healed(
    capsys: pytest.CaptureFixture[str], backend: Backend, unique: str, tmp_path: Path
) -> None:
    bikes = f"{unique}-bikes"
    seed(backend.store, {bikes: 3})
    spec = str(write_spec(tmp_path / "aliases.yaml", {bikes: {"champion": 2}}))
    assert run(capsys, backend, "apply", spec)[0] == 0
    assert run(capsys, backend, "drift", spec)[0] == 0

    client_for(backend.store).set_registered_model_alias(bikes, "champion", "1")
    code, out, _ = run(capsys, backend, "drift", spec, "-o", "json")
    assert code == 2
    assert json.loads(out)["drift"] == [
        {"model": bikes, "alias": "champion", "recorded": 2, "live": 1}
    ]
    assert run(capsys, backend, "apply", spec)[0] == 0
    assert live_aliases(backend.store, bikes) == {"champion": 2}
    assert run(capsys, backend, "drift", spec)[0] == 0


def test_a_record_past_the_tag_column_is_split_and_read_back(
    capsys: pytest.CaptureFixture[str], backend: Backend, unique: str, tmp_path: Path
) -> None:
    """MySQL refuses a tag value over VARCHAR(5000) (strict mode, MariaDB's default)."""
    bikes = f"{unique}-bikes"
    seed(backend.store, {bikes: 2})
    # 24 aliases of 240 characters: a record of about 6,000 characters, in 24 writes.
    aliases = {f"a{i:02}-" + "x" * 236: 1 + i % 2 for i in range(24)}
    path = tmp_path / "aliases.yaml"
    code, out, err = run(capsys, backend, "apply", str(write_spec(path, {bikes: aliases})))
    assert code == 0, out + err
    tags = tags_of(backend, bikes)
    assert len(record_part_tags(tags)) == 2
    assert all(len(value) <= MAX_TAG_VALUE for value in tags.values())
    record = Record.from_tags(tags)
    assert record is not None
    assert dict(record.aliases) == aliases
    assert run(capsys, backend, "plan", str(path), "--detailed-exitcode")[0] == 0

    # A smaller record replaces it whole: the parts go, the head holds it all.
    fewer = dict(list(aliases.items())[:2])
    code, out, err = run(
        capsys, backend, "apply", str(write_spec(path, {bikes: fewer})), "--allow-delete"
    )
    assert code == 0, out + err
    tags = tags_of(backend, bikes)
    assert record_part_tags(tags) == set()
    assert live_aliases(backend.store, bikes) == fewer


def test_a_held_lock_refuses_apply_until_unlocked(
    capsys: pytest.CaptureFixture[str], backend: Backend, unique: str, tmp_path: Path
) -> None:
    bikes = f"{unique}-bikes"
    seed(backend.store, {bikes: 1})
    spec = str(write_spec(tmp_path / "aliases.yaml", {bikes: {"champion": 1}}))
    lock = f"aliasctl.lock.{unique}"
    holder = '{"host": "ci-7", "user": "bot"}'
    tags = {TOKEN_TAG: "abc", EXPIRES_TAG: str(time.time() + 3600), "aliasctl.lock.holder": holder}
    client_for(backend.store).create_registered_model(lock, tags=tags)

    code, _, err = run(capsys, backend, "apply", spec)
    assert code == 1
    assert "held by bot@ci-7" in err
    assert live_aliases(backend.store, bikes) == {}
    code, out, _ = run(capsys, backend, "unlock", spec, "--force")
    assert code == 0, out
    code, out, err = run(capsys, backend, "apply", spec)
    assert code == 0, out + err
    assert live_aliases(backend.store, bikes) == {"champion": 1}
    assert client_for(backend.store).search_registered_models(f"name = '{lock}'") == []


def test_import_round_trips_utf8mb4_names_to_a_no_op_plan(
    capsys: pytest.CaptureFixture[str], backend: Backend, unique: str, tmp_path: Path
) -> None:
    # Four-byte characters need utf8mb4 (MySQL's `utf8` is three bytes at most).
    models = {f"{unique}-vélo-🚲": {"champion": 2}, f"{unique}-Größe": {"shadow": 1}}
    seed(backend.store, dict.fromkeys(models, 2), models)
    out = tmp_path / "aliases.yaml"
    code, _, err = run(
        capsys, backend, "import", "--filter", f"name LIKE '{unique}-%'", "--out", str(out)
    )
    assert code == 0, err
    assert load_spec(out).spec.declared() == models
    assert run(capsys, backend, "plan", str(out), "--detailed-exitcode")[0] == 0
    assert run(capsys, backend, "apply", str(out))[0] == 0
    assert all(RECORD_TAG in tags_of(backend, name) for name in models)


def test_an_alias_differing_only_in_case_blocks_apply(
    capsys: pytest.CaptureFixture[str], backend: Backend, unique: str, tmp_path: Path
) -> None:
    """MySQL folds case: setting `Champion` would overwrite the hand-set `champion`."""
    cased = f"{unique}-cased"
    seed(backend.store, {cased: 2}, {cased: {"champion": 1}})
    spec = str(write_spec(tmp_path / "aliases.yaml", {cased: {"Champion": 2}}))
    problem = (
        f"{cased}@Champion would replace {cased}@champion on a registry whose database "
        "folds case (MySQL)"
    )
    code, out, _ = run(capsys, backend, "plan", spec, "-o", "json")
    assert json.loads(out)["problems"] == [problem]
    code, out, err = run(capsys, backend, "apply", spec)
    assert code == 1
    assert problem in err
    assert "Traceback" not in err
    assert live_aliases(backend.store, cased) == {"champion": 1}
    assert RECORD_TAG not in tags_of(backend, cased)


@pytest.mark.parametrize("read_mode", ["bulk", "per-model"])
def test_a_model_name_differing_only_in_case_is_named_and_left_alone(
    capsys: pytest.CaptureFixture[str],
    backend: Backend,
    unique: str,
    tmp_path: Path,
    read_mode: str,
) -> None:
    """MySQL answers a lookup of `casemodel` with CaseModel's row, and would write there."""
    real = f"{unique}-CaseModel"
    seed(backend.store, {real: 1})
    spec = str(write_spec(tmp_path / "aliases.yaml", {real.lower(): {"champion": 1}}))
    code, _, err = run(capsys, backend, "apply", spec, "--read-mode", read_mode)
    assert code == 1
    assert f"{real.lower()}: registered model does not exist; did you mean {real!r}?" in err
    assert live_aliases(backend.store, real) == {}
    assert RECORD_TAG not in tags_of(backend, real)


def test_the_case_hint_is_free_when_read_and_a_bounded_search_otherwise(
    mysql_mlflow_server: MlflowServer, unique: str
) -> None:
    real = [f"{unique}-Model{i}" for i in range(6)]
    seed(mysql_mlflow_server.backend_uri, dict.fromkeys(real, 1))
    declared = {name.lower(): {"champion": 1} for name in real}
    options = Options(instance=unique)
    with FaultProxy(mysql_mlflow_server.uri) as proxy:
        registry = MlflowRegistry(proxy.uri, instance=unique)
        plan = prepare_plan(declared, registry, options)
        # The managed-model search, the `name IN (...)` search, then one lookup per name
        # up to the bound; the names past it get no hint.
        assert proxy.counts["forwarded"] == 2 + NEAR_NAME_LOOKUPS
    hinted = [p for p in messages(plan.problems) if p.endswith("?")]
    assert len(hinted) == NEAR_NAME_LOOKUPS
    assert len(plan.problems) == len(real)
    assert (
        f"{real[0].lower()}: registered model does not exist; did you mean {real[0]!r}?" in hinted
    )

    # Once aliasctl manages a model it is read on every plan: its hint costs no request.
    mine = {real[0]: {"champion": 1}}
    direct = MlflowRegistry(mysql_mlflow_server.backend_uri, instance=unique)
    assert apply_plan(prepare_plan(mine, direct, options), mine, direct, instance=unique).ok
    lowered = {real[0].lower(): {"champion": 1}}
    with FaultProxy(mysql_mlflow_server.uri) as proxy:
        plan = prepare_plan(lowered, MlflowRegistry(proxy.uri, instance=unique), options)
        assert proxy.counts["forwarded"] == 2
    assert f"did you mean {real[0]!r}?" in plan.problems[0].text
