"""`aliasctl serve` against real `mlflow server`s: healed through the webhook, and outages."""

from __future__ import annotations

import json
import time
from importlib.metadata import version
from typing import TYPE_CHECKING

import pytest

from controller.serve.signing import ALIASCTL_HEADERS, verify_headers
from tests.conftest import client_for, invoke, live_aliases, seed, write_spec
from tests.support.fault_proxy import FaultProxy
from tests.support.mlflow_server import MlflowServer
from tests.support.receiver import Receiver
from tests.support.serve_process import ServeProcess, get, metric, wait_for
from tests.support.webhook_server import WEBHOOK_GROUP

if TYPE_CHECKING:
    from pathlib import Path

SECRET = "e2e-webhook-secret"
NOTIFY_SECRET = "e2e-notify-secret"
FREEZE_FOREVER = (
    "freezes:\n  - name: change-freeze\n    from: 2026-01-01T00:00\n    to: 2099-01-01T00:00\n"
)


def verified_events(receiver: Receiver, model: str) -> list[dict[str, object]]:
    """The notifications about `model`, each checked against its signature."""
    events = []
    for request in receiver.at("/events"):
        headers = {k.lower(): v for k, v in request.headers.items()}
        checked = verify_headers(
            NOTIFY_SECRET, _Lookup(headers), request.body, time.time(), ALIASCTL_HEADERS
        )
        assert checked.ok, checked.reason
        event = json.loads(request.body)
        if event["model"] == model:
            events.append(event)
    return events


class _Lookup:
    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers

    def get(self, name: str, /) -> str | None:
        return self._headers.get(name.lower())


@pytest.mark.server
@pytest.mark.xdist_group(WEBHOOK_GROUP)
def test_an_alias_moved_by_hand_is_healed_through_the_webhook(
    tmp_path: Path,
    webhook_server: MlflowServer,
    unique: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri = webhook_server.uri
    model = f"{unique}-bikes"
    seed(uri, {model: 3})
    spec = write_spec(tmp_path / "aliases.yaml", {model: {"champion": 2}})
    client = client_for(uri)
    with Receiver() as notified:
        serve = ServeProcess(
            tmp_path,
            [
                *(str(spec), "--registry-uri", uri, "--instance", unique),
                *("--interval", "3600", "--debounce", "0.2", "--notify", f"{notified.url}/events"),
            ],
            {"ALIASCTL_WEBHOOK_SECRET": SECRET, "ALIASCTL_NOTIFY_SECRET": NOTIFY_SECRET},
        )
        hook_id = None
        try:
            wait_for(serve.ready, 120, "the first reconcile")
            assert live_aliases(uri, model) == {"champion": 2}
            available = (
                f"webhooks: available on MLflow {version('mlflow')}: signed deliveries "
                "accepted, and a full reconcile every 3600 s"
            )
            assert available in serve.log()  # said at start, before the first reconcile
            webhooks = json.loads(get(f"{serve.url}/status.json")[1])["webhooks"]
            assert (webhooks["state"], webhooks["secret_set"]) == ("available", True)
            monkeypatch.setenv("ALIASCTL_WEBHOOK_SECRET", SECRET)
            url = f"{serve.url}/webhooks/mlflow"
            code, _, err = invoke(
                capsys, "webhook", "install", "--url", url, "--name", unique, "--registry-uri", uri
            )
            assert code == 0, err
            hook_id = next(w.webhook_id for w in client.list_webhooks() if w.name == unique)

            def accepted() -> float:
                return (
                    metric(serve.metrics(), "aliasctl_webhook_deliveries_total", outcome="accepted")
                    or 0
                )

            def webhook_live() -> bool:
                # The server caches its webhook list for a second: an unmanaged alias as a probe.
                client.set_registered_model_alias(model, "probe", "1")
                try:
                    wait_for(lambda: accepted() >= 1, 2, "a delivery")
                except AssertionError:
                    return False
                return True

            wait_for(webhook_live, 60, "the webhook to deliver")
            client.set_registered_model_alias(model, "champion", "1")  # by hand, in the UI
            wait_for(lambda: live_aliases(uri, model)["champion"] == 2, 30, "the heal")
            # MLflow's event about the heal itself comes back, and starts no reconcile.
            echo = f"webhook echoes of aliasctl's own writes, no reconcile: ['{model}']"
            wait_for(lambda: echo in serve.log(), 30, "the heal's echo")

            notified.wait_for(lambda _r: len(verified_events(notified, model)) >= 3, 30)
            kinds = [
                (e["kind"], e["alias"], e["from"], e["to"])
                for e in verified_events(notified, model)
            ]
            assert kinds == [
                ("alias_moved", "champion", None, 2),
                ("drift_found", "champion", 2, 1),
                ("drift_healed", "champion", 1, 2),
            ]
            text = serve.metrics()
            assert metric(text, "aliasctl_alias_in_sync", model=model, alias="champion") == 1
            assert (metric(text, "aliasctl_reconciles_total", result="success") or 0) >= 2
            assert metric(text, "aliasctl_drifted_aliases") == 0
            status, page = get(f"{serve.url}/")
            assert status == 200
            assert model in page
            assert "drift healed" in page

            # A merged promotion to a version not registered yet waits; its registration
            # (model_version.created) brings it in, long before the next interval.
            write_spec(spec, {model: {"champion": 4}})
            client.create_model_version(model, f"s3://aliasctl-tests/{model}/4")
            wait_for(lambda: live_aliases(uri, model)["champion"] == 4, 30, "the promotion")
        finally:
            if hook_id is not None:
                client.delete_webhook(hook_id)
            code = serve.stop()
    assert code == 0, serve.log()
    assert "Traceback" not in serve.log()
    assert SECRET not in serve.log()
    assert NOTIFY_SECRET not in serve.log()


@pytest.mark.server
@pytest.mark.xdist_group(WEBHOOK_GROUP)
def test_a_hand_move_during_a_freeze_is_not_healed_into_the_held_back_promotion(
    tmp_path: Path,
    webhook_server: MlflowServer,
    unique: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri = webhook_server.uri
    model = f"{unique}-bikes"
    seed(uri, {model: 3})
    spec = write_spec(tmp_path / "aliases.yaml", {model: {"champion": 1}})
    assert invoke(capsys, "apply", str(spec), "--registry-uri", uri, "--instance", unique)[0] == 0
    # The promotion to 3 is merged while a freeze is on: it waits.
    write_spec(spec, {model: {"champion": 3}})
    with spec.open("a") as file:
        file.write(FREEZE_FOREVER)
    client = client_for(uri)
    serve = ServeProcess(
        tmp_path,
        [
            *(str(spec), "--registry-uri", uri, "--instance", unique),
            *("--interval", "3600", "--debounce", "0.2"),
        ],
        {"ALIASCTL_WEBHOOK_SECRET": SECRET},
    )
    hook_id = None
    try:
        wait_for(serve.ready, 120, "the first reconcile")
        assert live_aliases(uri, model) == {"champion": 1}
        monkeypatch.setenv("ALIASCTL_WEBHOOK_SECRET", SECRET)
        url = f"{serve.url}/webhooks/mlflow"
        code, _, err = invoke(
            capsys, "webhook", "install", "--url", url, "--name", unique, "--registry-uri", uri
        )
        assert code == 0, err
        hook_id = next(w.webhook_id for w in client.list_webhooks() if w.name == unique)

        def reconciles() -> float:
            text = serve.metrics()
            return sum(
                metric(text, "aliasctl_reconciles_total", result=result) or 0
                for result in ("success", "blocked", "failed")
            )

        def webhook_live() -> bool:
            before = reconciles()
            client.set_registered_model_alias(model, "probe", "1")  # unmanaged: a probe
            try:
                wait_for(lambda: reconciles() > before, 2, "a webhook-driven reconcile")
            except AssertionError:
                return False
            return True

        wait_for(webhook_live, 60, "the webhook to deliver")
        client.set_registered_model_alias(model, "champion", "2")  # by hand, during the freeze

        def champion_status() -> dict[str, object] | None:
            status, body = get(f"{serve.url}/status.json")
            assert status == 200, body
            (champion,) = [a for a in json.loads(body)["aliases"] if a["model"] == model]
            return champion if champion["live"] == 2 else None

        champion = wait_for(champion_status, 30, "a cycle that saw the hand move")
        # That cycle did not "heal" the alias into the frozen promotion.
        assert champion["state"] == "blocked"
        assert live_aliases(uri, model)["champion"] == 2
    finally:
        if hook_id is not None:
            client.delete_webhook(hook_id)
        code = serve.stop()
    assert code == 0, serve.log()
    assert "Traceback" not in serve.log()

    # apply judges the same case the same way: the move to 3 is a promotion, frozen.
    code, out, err = invoke(capsys, "apply", str(spec), "--registry-uri", uri, "--instance", unique)
    assert code == 1, out + err
    assert "freeze" in err
    assert live_aliases(uri, model) == {"champion": 2, "probe": 1}


@pytest.mark.server
def test_the_registry_killed_and_restarted_while_serve_runs(
    tmp_path: Path, sqlite_uri: str
) -> None:
    server = MlflowServer(tmp_path / "server", workers=1, backend_uri=sqlite_uri).start()
    try:
        seed(server.uri, {"bikes": 3})
        spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 2}})
        serve = ServeProcess(
            tmp_path,
            [str(spec), "--registry-uri", server.uri, "--interval", "2", "--timeout", "3"],
            {"ALIASCTL_WEBHOOK_SECRET": SECRET},
        )
        try:
            wait_for(serve.ready, 120, "the first reconcile")
            server.stop()  # killed, as a crash would

            def unready() -> str | None:
                status, body = get(f"{serve.url}/readyz")
                return body if status == 503 else None

            assert "not ready" in wait_for(unready, 60, "serve to notice the outage")
            assert get(f"{serve.url}/healthz")[0] == 200
            failed = metric(serve.metrics(), "aliasctl_reconciles_total", result="failed")
            assert (failed or 0) >= 1
            # While it is down, someone moves the alias straight in the database.
            client_for(server.backend_uri).set_registered_model_alias("bikes", "champion", "1")
            server.start()
            wait_for(lambda: live_aliases(server.uri, "bikes") == {"champion": 2}, 120, "heal")
            wait_for(serve.ready, 60, "ready again")
        finally:
            code = serve.stop()
    finally:
        server.stop()
    assert code == 0, serve.log()
    assert "Traceback" not in serve.log()


@pytest.mark.server
@pytest.mark.xdist_group("server")
def test_sigterm_mid_apply_finishes_the_writes_in_flight_and_the_next_run_converges(
    tmp_path: Path, mlflow_server: MlflowServer, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    models = [f"{unique}-m{i}" for i in range(4)]
    seed(mlflow_server.uri, dict.fromkeys(models, 2))
    declared = {m: {f"a{i}": 1 for i in range(10)} for m in models}
    spec = write_spec(tmp_path / "aliases.yaml", declared)
    with FaultProxy(mlflow_server.uri, write_delay=0.5) as slow:
        serve = ServeProcess(
            tmp_path,
            [str(spec), "--registry-uri", slow.uri, "--instance", unique, "--interval", "3600"],
            {},
        )
        try:
            assert slow.first_alias_write.wait(120), serve.log()
            # A slow registry holds the cycle, never the endpoints.
            assert get(f"{serve.url}/healthz")[0] == 200
            assert metric(serve.metrics(), "aliasctl_reconciles_total", result="success") == 0
        finally:
            code = serve.stop()
    log = serve.log()
    assert code == 0, log
    assert "finishing the write in flight" in log
    assert "Traceback" not in log
    live = {m: live_aliases(mlflow_server.uri, m) for m in models}
    done = sum(len(aliases) for aliases in live.values())
    assert 0 < done < 40  # stopped part way...
    assert all(v == 1 for aliases in live.values() for v in aliases.values())  # ...never torn
    code, _, err = invoke(
        capsys, "apply", str(spec), "--registry-uri", mlflow_server.uri, "--instance", unique
    )
    assert code == 0, err
    assert all(live_aliases(mlflow_server.uri, m) == declared[m] for m in models)
