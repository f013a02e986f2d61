"""The reconcile contract on PostgreSQL: through an `mlflow server` backed by it, and direct.

Each contract test runs twice: against a real `mlflow server` whose backend store is a
PostgreSQL database (the REST path) and with a `postgresql://` URI given to aliasctl
(MLflow's SQL store over psycopg). Set-up and checks go straight to the database: they
are not what is under test.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from controller.apply import apply_plan
from controller.core.change import Declared
from controller.core.state import RECORD_TAG
from controller.reconcile import Options, prepare_plan
from controller.registry.mlflow.adapter import MlflowRegistry
from controller.registry.uris import redact_uri
from tests.conftest import client_for, invoke, live_aliases, seed, write_spec
from tests.registry.mlflow.test_rest import _apply_process, _wait_for_alias_writes, requests_in_log

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.mlflow_server import MlflowServer
    from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.xdist_group("postgres")


@dataclass(frozen=True)
class Backend:
    uri: str  # what aliasctl is given
    store: str  # the PostgreSQL database behind it, for set-up and checks
    password: str  # the database's password: no output may contain it
    # Tests share the server: each is its own controller instance, so none prunes another's.
    instance: str


@pytest.fixture(params=["server", "direct"])
def backend(
    request: pytest.FixtureRequest, postgres_server: PostgresServer, unique: str
) -> Backend:
    if request.param == "server":
        server: MlflowServer = request.getfixturevalue("postgres_mlflow_server")
        return Backend(server.uri, server.backend_uri, postgres_server.password, unique)
    uri: str = request.getfixturevalue("postgres_uri")
    return Backend(uri, uri, postgres_server.password, unique)


def run(capsys: pytest.CaptureFixture[str], backend: Backend, *args: str) -> tuple[int, str, str]:
    """One CLI command against the backend: exit code, stdout, stderr (never the password)."""
    code, out, err = invoke(
        capsys, *args, "--registry-uri", backend.uri, "--instance", backend.instance
    )
    assert_no_password(backend.password, out + err)
    return code, out, err


def assert_no_password(password: str, text: str) -> None:
    leaked = password in text
    assert not leaked, "the database password was printed"  # said without repeating it


def record_of(backend: Backend, model: str) -> str | None:
    tag: str | None = client_for(backend.store).get_registered_model(model).tags.get(RECORD_TAG)
    return tag


def test_plan_and_apply_converge_and_print_no_password(
    capsys: pytest.CaptureFixture[str], backend: Backend, unique: str, tmp_path: Path
) -> None:
    bikes = f"{unique}-bikes"
    seed(backend.store, {bikes: 4}, {bikes: {"staging": 1}})
    spec = str(write_spec(tmp_path / "aliases.yaml", {bikes: {"champion": 3, "challenger": 4}}))

    code, out, err = run(capsys, backend, "plan", spec, "--detailed-exitcode", "-o", "json")
    assert code == 2
    body = json.loads(out)
    assert [(c["alias"], c["action"], c["after"]) for c in body["changes"]] == [
        ("challenger", "create", 4),
        ("champion", "create", 3),
    ]
    assert body["unmanaged"] == [{"model": bikes, "alias": "staging", "version": 1}]
    # The URI is printed without user and password.
    assert body["registry"] == redact_uri(backend.uri)
    assert urlsplit(body["registry"]).password is None

    code, out, err = run(capsys, backend, "plan", spec)
    assert code == 0
    assert f"+ {bikes}@champion" in out
    code, out, err = run(capsys, backend, "apply", spec)
    assert code == 0, out + err
    assert live_aliases(backend.store, bikes) == {"champion": 3, "challenger": 4, "staging": 1}

    code, out, err = run(capsys, backend, "plan", spec, "--detailed-exitcode")
    assert code == 0, out + err


def test_managed_aliases_are_pruned_and_unmanaged_ones_left(
    capsys: pytest.CaptureFixture[str], backend: Backend, unique: str, tmp_path: Path
) -> None:
    bikes, fraud = f"{unique}-bikes", f"{unique}-fraud"
    seed(backend.store, {bikes: 4, fraud: 2}, {bikes: {"staging": 2}, fraud: {"manual": 1}})
    path = tmp_path / "aliases.yaml"
    both = {bikes: {"champion": 3, "canary": 4}, fraud: {"champion": 2}}
    code, out, err = run(capsys, backend, "apply", str(write_spec(path, both)))
    assert code == 0, out + err

    # canary leaves the file: deleted; staging was never declared: untouched.
    fewer = {bikes: {"champion": 3}, fraud: {"champion": 2}}
    code, out, err = run(capsys, backend, "apply", str(write_spec(path, fewer)))
    assert code == 0, out + err
    assert live_aliases(backend.store, bikes) == {"champion": 3, "staging": 2}

    # fraud leaves the file: its managed alias goes, its record too, `manual` stays.
    only_bikes = {bikes: {"champion": 3}}
    code, out, err = run(
        capsys, backend, "apply", str(write_spec(path, only_bikes)), "--allow-delete"
    )
    assert code == 0, out + err
    assert live_aliases(backend.store, fraud) == {"manual": 1}
    assert record_of(backend, fraud) is None
    assert live_aliases(backend.store, bikes) == {"champion": 3, "staging": 2}


def test_missing_version_fails_preflight_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], backend: Backend, unique: str, tmp_path: Path
) -> None:
    bikes, fraud = f"{unique}-bikes", f"{unique}-fraud"
    seed(backend.store, {bikes: 2, fraud: 1}, {bikes: {"staging": 1}})
    declared = {bikes: {"champion": 2, "challenger": 7}, fraud: {"champion": 1}}
    spec = str(write_spec(tmp_path / "aliases.yaml", declared))

    code, _, err = run(capsys, backend, "apply", spec)
    assert code == 1
    assert f"{bikes}@challenger: version 7 does not exist" in err
    assert "Traceback" not in err
    assert live_aliases(backend.store, bikes) == {"staging": 1}
    assert live_aliases(backend.store, fraud) == {}
    assert record_of(backend, bikes) is None
    assert record_of(backend, fraud) is None


def test_alias_moved_by_hand_is_reported_then_healed(
    capsys: pytest.CaptureFixture[str], backend: Backend, unique: str, tmp_path: Path
) -> None:
    bikes = f"{unique}-bikes"
    seed(backend.store, {bikes: 3})
    spec = str(write_spec(tmp_path / "aliases.yaml", {bikes: {"champion": 2}}))
    assert run(capsys, backend, "apply", spec)[0] == 0
    assert run(capsys, backend, "drift", spec)[0] == 0

    client_for(backend.store).set_registered_model_alias(bikes, "champion", "1")
    code, out, err = run(capsys, backend, "drift", spec, "-o", "json")
    assert code == 2
    assert json.loads(out)["drift"] == [
        {"model": bikes, "alias": "champion", "recorded": 2, "live": 1}
    ]
    code, out, err = run(capsys, backend, "plan", spec)
    assert code == 0
    assert f"{bikes}@champion: set to 2, now 1" in out

    code, out, err = run(capsys, backend, "apply", spec)
    assert code == 0, out + err
    assert live_aliases(backend.store, bikes) == {"champion": 2}
    assert run(capsys, backend, "drift", spec)[0] == 0


class AliasWatcher:
    """Reads every alias of the watched models from PostgreSQL, over and over, in a thread,
    and keeps each value seen outside {old, new}."""

    def __init__(
        self, postgres: PostgresServer, database: str, old: Declared, new: Declared
    ) -> None:
        self.postgres, self.database, self.old, self.new = postgres, database, old, new
        self.reads = 0
        self.outside: set[tuple[str, str, int]] = set()
        self.error: Exception | None = None  # a watcher that died would watch nothing
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        try:
            self._read_until_done()
        except Exception as error:  # noqa: BLE001 - reported by the test, in its thread
            self.error = error

    def _read_until_done(self) -> None:
        with self.postgres.connect(self.database) as connection:
            while not self._done.is_set():
                rows = connection.execute(
                    "SELECT name, alias, version FROM registered_model_aliases "
                    "WHERE name = ANY(%s)",
                    (list(self.old),),
                ).fetchall()
                self.reads += 1
                for name, alias, version in rows:
                    if version not in {self.old[name].get(alias), self.new[name].get(alias)}:
                        self.outside.add((name, alias, version))
                self._done.wait(0.02)  # a read every 20 ms: the server needs the CPU more

    def __enter__(self) -> AliasWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join(timeout=30)


def test_server_killed_mid_apply_then_rerun_converges(
    postgres_mlflow_server: MlflowServer,
    postgres_server: PostgresServer,
    unique: str,
    tmp_path: Path,
) -> None:
    server = postgres_mlflow_server
    names = [f"{unique}-k{i}" for i in range(25)]
    seed(server.backend_uri, dict.fromkeys(names, 3))
    old = {name: {"champion": 1, "challenger": 2, "canary": 1} for name in names}
    direct = MlflowRegistry(server.backend_uri)
    mine = Options(instance=unique)
    assert apply_plan(prepare_plan(old, direct, mine), old, direct, instance=unique).ok
    # Per model: two updates, a delete and a create: 100 changes.
    new = {name: {"champion": 2, "challenger": 3, "shadow": 1} for name in names}
    spec = write_spec(tmp_path / "aliases.yaml", new)
    database = urlsplit(server.backend_uri).path.lstrip("/")

    with AliasWatcher(postgres_server, database, old, new) as watcher:
        start = requests_in_log(server, "registered-models/alias")
        # Serial writes: the kill must land mid-way even on a loaded machine.
        apply = _apply_process(spec, server.uri, unique, parallelism=1)
        _wait_for_alias_writes(server, start, 25)
        server.stop()
        out, err = apply.communicate(timeout=120)
        assert apply.returncode == 1, out + err
        assert "Traceback" not in err
        assert_no_password(postgres_server.password, out + err)

        server.start()
        rerun = _apply_process(spec, server.uri, unique)
        out, err = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, out + err
    assert watcher.error is None
    assert watcher.reads > 1
    assert watcher.outside == set()
    for name in names:
        assert live_aliases(server.backend_uri, name) == new[name]
    assert not prepare_plan(new, MlflowRegistry(server.uri), mine).has_changes
