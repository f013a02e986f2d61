"""The reconcile contract against older MLflow servers (issues 13 and 17), through the CLI only.

Every test runs once per server version in ALIASCTL_OLD_MLFLOW_VERSIONS (tests/old_server.py;
`make test` runs 2.16.2 and 2.22.5, `make test-servers` every version in the Makefile's
OLD_MLFLOW_ALL), each server from its own venv on a database it created itself. Seeding and
checking use our 3.x client over REST, which these servers accept for everything done here
(models, versions, aliases, tags, `name = '...'` searches).
"""

from __future__ import annotations

import json
import re
import urllib.request
from typing import TYPE_CHECKING

import pytest
import yaml

from controller.core.state import RECORD_TAG, Record
from tests.conftest import client_for, invoke, live_aliases, seed, write_spec
from tests.support.fault_proxy import FaultProxy
from tests.support.gitrepo import commit_spec
from tests.support.old_server import DEFAULT_VERSIONS, ROOT
from tests.support.serve_process import ServeProcess, get, wait_for

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.gitrepo import GitRepo
    from tests.support.mlflow_server import MlflowServer
    from tests.support.old_server import OldMlflowServer

# The xdist group is per version: the old_mlflow_server fixture's params carry it.
pytestmark = [pytest.mark.server]


@pytest.fixture(autouse=True)
def _own_instance(monkeypatch: pytest.MonkeyPatch, unique: str, mlflow_http_defaults: None) -> None:
    """An instance per test (tests share the server, and the admin sees every model: none
    may prune another's), and MLflow's own HTTP timeouts for set-up."""
    monkeypatch.setenv("ALIASCTL_INSTANCE", unique)


def run(
    capsys: pytest.CaptureFixture[str], server: MlflowServer, command: str, *args: str
) -> tuple[int, str, str]:
    capsys.readouterr()  # drop what set-up printed (MLflow logs each version it creates)
    return invoke(capsys, command, *args, "--registry-uri", server.uri)


def record_of(server: MlflowServer, model: str) -> Record | None:
    raw = client_for(server.uri).get_registered_model(model).tags.get(RECORD_TAG)
    return None if raw is None else Record.decode(raw)


def test_the_server_is_the_version_under_test(old_mlflow_server: OldMlflowServer) -> None:
    """The server that answers is the MLflow the test's id names, not another venv's."""
    with urllib.request.urlopen(f"{old_mlflow_server.uri}/version", timeout=10) as answer:  # noqa: S310
        assert answer.read().decode().strip() == old_mlflow_server.version


def test_a_bare_pytest_tests_what_make_test_tests() -> None:
    """DEFAULT_VERSIONS is the Makefile's OLD_MLFLOW_VERSIONS, and every version the Makefile
    knows has its pins (an empty MLFLOW_PINS_<version> line is a decision, a missing one is not)."""
    makefile = (ROOT / "Makefile").read_text()

    def listed(name: str) -> list[str]:
        found = re.search(rf"^{name} := (.*)$", makefile, re.MULTILINE)
        assert found, name
        return found.group(1).split()

    assert tuple(listed("OLD_MLFLOW_VERSIONS")) == DEFAULT_VERSIONS
    assert set(DEFAULT_VERSIONS) <= set(listed("OLD_MLFLOW_ALL"))
    for version in listed("OLD_MLFLOW_ALL"):
        assert re.search(rf"^MLFLOW_PINS_{re.escape(version)} :=", makefile, re.MULTILINE), version


def test_plan_and_apply_converge(
    old_mlflow_server: OldMlflowServer,
    unique: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bikes, fraud = f"{unique}-bikes", f"{unique}-fraud"
    seed(old_mlflow_server.uri, {bikes: 3, fraud: 2}, {bikes: {"staging": 1}})
    spec = write_spec(
        tmp_path / "aliases.yaml", {bikes: {"champion": 2, "challenger": 3}, fraud: {"champion": 1}}
    )

    code, out, err = run(capsys, old_mlflow_server, "plan", str(spec), "-o", "json")
    assert code == 0, out + err
    body = json.loads(out)
    assert [(c["model"], c["alias"], c["action"], c["after"]) for c in body["changes"]] == [
        (bikes, "challenger", "create", 3),
        (bikes, "champion", "create", 2),
        (fraud, "champion", "create", 1),
    ]
    assert body["unmanaged"] == [{"model": bikes, "alias": "staging", "version": 1}]

    code, out, err = run(capsys, old_mlflow_server, "apply", str(spec))
    assert code == 0, out + err
    assert live_aliases(old_mlflow_server.uri, bikes) == {
        "champion": 2,
        "challenger": 3,
        "staging": 1,
    }
    assert live_aliases(old_mlflow_server.uri, fraud) == {"champion": 1}
    code, out, err = run(capsys, old_mlflow_server, "plan", str(spec), "--detailed-exitcode")
    assert code == 0, out + err


def test_only_managed_aliases_are_pruned(
    old_mlflow_server: OldMlflowServer,
    unique: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bikes, gone = f"{unique}-bikes", f"{unique}-gone"
    seed(old_mlflow_server.uri, {bikes: 2, gone: 2}, {bikes: {"staging": 1}})
    spec = write_spec(
        tmp_path / "aliases.yaml",
        {bikes: {"champion": 1, "canary": 2}, gone: {"champion": 2}},
    )
    assert run(capsys, old_mlflow_server, "apply", str(spec))[0] == 0

    # canary leaves the file, and so does the whole `gone` model.
    write_spec(spec, {bikes: {"champion": 1}})
    code, out, err = run(capsys, old_mlflow_server, "apply", str(spec), "--allow-delete")
    assert code == 0, out + err
    assert live_aliases(old_mlflow_server.uri, bikes) == {"champion": 1, "staging": 1}
    assert live_aliases(old_mlflow_server.uri, gone) == {}
    assert record_of(old_mlflow_server, gone) is None
    record = record_of(old_mlflow_server, bikes)
    assert record is not None
    assert dict(record.aliases) == {"champion": 1}


def test_preflight_failure_writes_nothing(
    old_mlflow_server: OldMlflowServer,
    unique: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bikes, ghost = f"{unique}-bikes", f"{unique}-ghost"
    seed(old_mlflow_server.uri, {bikes: 2})
    spec = write_spec(
        tmp_path / "aliases.yaml", {bikes: {"champion": 1, "challenger": 9}, ghost: {"champion": 1}}
    )
    code, out, err = run(capsys, old_mlflow_server, "apply", str(spec))
    assert code == 1, out + err
    assert "pre-flight failed, nothing was written" in err
    assert f"{bikes}@challenger: version 9 does not exist" in err
    assert f"{ghost}: registered model does not exist" in err
    assert "Traceback" not in err
    assert live_aliases(old_mlflow_server.uri, bikes) == {}
    assert record_of(old_mlflow_server, bikes) is None


def test_drift_is_reported_then_healed(
    old_mlflow_server: OldMlflowServer,
    unique: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bikes = f"{unique}-bikes"
    seed(old_mlflow_server.uri, {bikes: 3})
    spec = write_spec(tmp_path / "aliases.yaml", {bikes: {"champion": 2}})
    assert run(capsys, old_mlflow_server, "apply", str(spec))[0] == 0
    client_for(old_mlflow_server.uri).set_registered_model_alias(bikes, "champion", "1")

    code, out, err = run(capsys, old_mlflow_server, "drift", str(spec), "-o", "json")
    assert code == 2, out + err
    assert json.loads(out)["drift"] == [
        {"model": bikes, "alias": "champion", "recorded": 2, "live": 1}
    ]
    code, out, err = run(capsys, old_mlflow_server, "apply", str(spec))
    assert code == 0, out + err
    assert live_aliases(old_mlflow_server.uri, bikes) == {"champion": 2}
    assert run(capsys, old_mlflow_server, "drift", str(spec))[0] == 0


def test_apply_stamps_the_commit_in_the_record(
    old_mlflow_server: OldMlflowServer,
    unique: str,
    repo: GitRepo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("GITHUB_ACTIONS", "GITHUB_ACTOR", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    bikes = f"{unique}-bikes"
    seed(old_mlflow_server.uri, {bikes: 2})
    commit = commit_spec(repo, {bikes: {"champion": 1}}, "Initial aliases")

    code, out, err = run(capsys, old_mlflow_server, "apply", str(repo.path("aliases.yaml")))
    assert code == 0, out + err
    record = record_of(old_mlflow_server, bikes)
    assert record is not None
    assert record.commit == commit
    assert record.instance == unique
    assert record.applied_at
    assert dict(record.aliases) == {"champion": 1}
    code, out, err = run(capsys, old_mlflow_server, "plan", str(repo.path("aliases.yaml")))
    assert code == 0, out + err
    assert f"{commit[:7]} at " in out


def test_import_all_finds_hand_set_aliases(
    old_mlflow_server: OldMlflowServer, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bikes = f"{unique}-bikes"
    seed(old_mlflow_server.uri, {bikes: 2}, {bikes: {"champion": 2, "shadow": 1}})
    code, out, err = run(capsys, old_mlflow_server, "import", "--all")
    assert code == 0, out + err
    # The server is shared: other tests' models are there too; ours must be among them.
    assert yaml.safe_load(out)["models"][bikes] == {"aliases": {"champion": 2, "shadow": 1}}


def test_a_record_search_that_answers_nothing_is_an_error_not_no_changes(
    old_mlflow_server: OldMlflowServer,
    unique: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bikes, gone = f"{unique}-bikes", f"{unique}-gone"
    seed(old_mlflow_server.uri, {bikes: 2, gone: 2})
    spec = write_spec(tmp_path / "aliases.yaml", {bikes: {"champion": 1}, gone: {"champion": 2}})
    assert run(capsys, old_mlflow_server, "apply", str(spec))[0] == 0
    write_spec(spec, {bikes: {"champion": 1}})  # `gone` leaves the file: its alias is pruned

    # Searches that answer nothing, as servers before 2.21 answered MLflow 3 clients.
    with FaultProxy(old_mlflow_server.uri, blank=("registered-models/search",)) as proxy:
        capsys.readouterr()
        code, out, err = invoke(
            capsys, "apply", str(spec), "--allow-delete", "--registry-uri", proxy.uri
        )
    assert code == 1, out + err
    version = old_mlflow_server.version
    assert f"the registry's search did not return {bikes}, which exists (MLflow {version})" in err
    assert "its searches cannot be trusted" in err
    assert "Traceback" not in err
    assert live_aliases(old_mlflow_server.uri, gone) == {"champion": 2}  # nothing written


def test_an_empty_search_is_checked_against_a_model_read_by_name(
    old_mlflow_server: OldMlflowServer,
    unique: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bikes = f"{unique}-bikes"
    seed(old_mlflow_server.uri, {bikes: 2})  # nothing managed yet: no record to cross-check
    spec = write_spec(tmp_path / "aliases.yaml", {bikes: {"champion": 1}})
    with FaultProxy(old_mlflow_server.uri, blank=("registered-models/search",)) as proxy:
        capsys.readouterr()
        code, out, err = invoke(capsys, "plan", str(spec), "--registry-uri", proxy.uri)
    assert code == 1, out + err
    assert f"the registry's search did not return {bikes}, which exists" in err

    # The real server answers: the same plan goes through.
    code, out, err = run(capsys, old_mlflow_server, "plan", str(spec))
    assert code == 0, out + err
    assert f"+ {bikes}@champion" in out


@pytest.mark.parametrize(
    "command",
    [["install", "--url", "http://127.0.0.1:9/webhooks/mlflow"], ["test"]],
    ids=["install", "test"],
)
def test_webhook_commands_refuse_an_old_server_before_any_webhook_request(
    old_mlflow_server: OldMlflowServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    monkeypatch.setenv("ALIASCTL_WEBHOOK_SECRET", "an-old-server-never-sees-this-secret")
    with FaultProxy(old_mlflow_server.uri) as proxy:  # counts every request it forwards
        capsys.readouterr()
        code, out, err = invoke(capsys, "webhook", *command, "--registry-uri", proxy.uri)
    assert (code, out) == (1, "")
    assert err == (
        f"Error: registry {proxy.uri}: webhooks need MLflow 3.3 or later, and this server "
        f"runs MLflow {old_mlflow_server.version}: `aliasctl serve` polls it every "
        "--interval instead\n"
    )
    asked = sorted(key for key in proxy.counts if " /" in key)
    assert asked == ["GET /version"]  # nothing under /api/2.0/mlflow/webhooks


def test_serve_says_it_polls_an_old_server_and_heals_a_hand_move(
    old_mlflow_server: OldMlflowServer, unique: str, tmp_path: Path
) -> None:
    uri = old_mlflow_server.uri
    model = f"{unique}-bikes"
    seed(uri, {model: 3})
    spec = write_spec(tmp_path / "aliases.yaml", {model: {"champion": 2}})
    serve = ServeProcess(
        tmp_path,
        [str(spec), "--registry-uri", uri, "--instance", unique, "--interval", "2"],
        {"ALIASCTL_WEBHOOK_SECRET": "a-secret-no-old-server-can-use"},
    )
    polling = (
        f"webhooks: not available on MLflow {old_mlflow_server.version} (they need 3.3 or later): "
        "polling every 2 s"
    )
    try:
        wait_for(lambda: polling in serve.log(), 30, "the webhooks line")
        wait_for(serve.ready, 120, "the first reconcile")
        assert live_aliases(uri, model) == {"champion": 2}
        status, body = get(f"{serve.url}/status.json")
        assert status == 200
        assert json.loads(body)["webhooks"] == {
            "state": "unavailable",
            "server_version": old_mlflow_server.version,
            "needs": "3.3",
            "secret_set": True,
            "interval_seconds": 2,
            "summary": polling.removeprefix("webhooks: "),
        }
        assert polling.removeprefix("webhooks: ") in get(f"{serve.url}/")[1]

        client_for(uri).set_registered_model_alias(model, "champion", "1")  # by hand, in the UI
        wait_for(lambda: live_aliases(uri, model) == {"champion": 2}, 60, "the heal by polling")

        def healed() -> list[str] | None:
            events = json.loads(get(f"{serve.url}/status.json")[1])["events"]
            kinds = [e["kind"] for e in events if e["model"] == model]
            return kinds if "drift_healed" in kinds else None

        assert wait_for(healed, 30, "the heal's event")[:2] == ["drift_healed", "drift_found"]
    finally:
        code = serve.stop()
    log = serve.log()
    assert code == 0, log
    assert log.count("webhooks:") == 1, log  # said once, at start
    assert "Traceback" not in log


def test_serve_says_so_when_the_server_does_not_tell_its_version(
    old_mlflow_server: OldMlflowServer, unique: str, tmp_path: Path
) -> None:
    """A proxy in front that hides /version (as some gateways do): unknown, and polling."""
    spec = write_spec(tmp_path / "aliases.yaml", {f"{unique}-bikes": {}})
    with FaultProxy(old_mlflow_server.uri, refuse={("GET", "/version"): 404}) as proxy:
        serve = ServeProcess(
            tmp_path,
            [str(spec), "--registry-uri", proxy.uri, "--instance", unique, "--interval", "60"],
            {"ALIASCTL_WEBHOOK_SECRET": ""},
        )
        unknown = (
            "webhooks: unknown (the server did not say its MLflow version): polling every "
            "60 s (ALIASCTL_WEBHOOK_SECRET is not set, so every delivery is refused)"
        )
        try:
            wait_for(lambda: unknown in serve.log(), 30, "the webhooks line")
            report = json.loads(get(f"{serve.url}/status.json")[1])["webhooks"]
            assert (report["state"], report["server_version"]) == ("unknown", None)
        finally:
            code = serve.stop()
        assert proxy.counts["GET /version"] == 1  # asked once, not per cycle
    assert code == 0, serve.log()
