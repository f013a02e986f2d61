"""`aliasctl webhook install|test` against a real `mlflow server` that delivers webhooks."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from controller.serve.signing import verify_headers
from controller.serve.webhook_event import SUBSCRIBED_EVENTS, DeliveryKind, parse_event
from tests.conftest import client_for, invoke, seed
from tests.support.receiver import Received, Receiver
from tests.support.webhook_server import WEBHOOK_GROUP

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.mlflow_server import MlflowServer

pytestmark = [pytest.mark.server, pytest.mark.xdist_group(WEBHOOK_GROUP)]

SECRET = "a-long-random-webhook-secret-for-tests"


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch, mlflow_http_defaults: None) -> None:
    monkeypatch.setenv("ALIASCTL_WEBHOOK_SECRET", SECRET)


@pytest.fixture
def client(webhook_server: MlflowServer, unique: str) -> Iterator[Any]:
    """The server's client; this test's webhooks (named or aimed by `unique`) deleted after,
    so the server does not keep delivering to receivers that are gone."""
    mlflow = client_for(webhook_server.uri)
    yield mlflow
    for hook in ours(mlflow, unique):
        mlflow.delete_webhook(hook.webhook_id)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def ours(mlflow: Any, unique: str) -> list[Any]:
    return [w for w in mlflow.list_webhooks(max_results=1000) if unique in w.name + w.url]


def install(
    capsys: pytest.CaptureFixture[str], server: MlflowServer, url: str, *rest: str
) -> tuple[int, str, str]:
    capsys.readouterr()
    return invoke(capsys, "webhook", "install", "--url", url, *rest, "--registry-uri", server.uri)


def test_install_twice_leaves_one_active_webhook(
    capsys: pytest.CaptureFixture[str], webhook_server: MlflowServer, client: Any, unique: str
) -> None:
    url = f"http://127.0.0.1:9/{unique}"
    code, out, err = install(capsys, webhook_server, url, "--name", unique)
    assert code == 0, err
    assert out.startswith(f"created webhook {unique} (id ")
    code, again, err = install(capsys, webhook_server, url, "--name", unique)
    assert code == 0, err
    assert again.startswith(f"unchanged webhook {unique} (id ")
    [hook] = ours(client, unique)
    assert hook.webhook_id in out
    assert hook.webhook_id in again
    assert (hook.name, hook.url, str(hook.status)) == (unique, url, "ACTIVE")
    assert sorted(str(e) for e in hook.events) == sorted(SUBSCRIBED_EVENTS)
    assert SECRET not in out + err + again


def test_install_moves_the_named_webhook_to_a_new_url_then_renames_it(
    capsys: pytest.CaptureFixture[str], webhook_server: MlflowServer, client: Any, unique: str
) -> None:
    old, new = f"http://127.0.0.1:9/{unique}/a", f"http://127.0.0.1:9/{unique}/b"
    assert install(capsys, webhook_server, old, "--name", unique)[0] == 0
    [created] = ours(client, unique)
    code, out, _ = install(capsys, webhook_server, new, "--name", unique)
    assert code == 0
    assert out.startswith(f"updated webhook {unique}")
    assert f"url {old} -> {new}" in out
    code, out, _ = install(capsys, webhook_server, new, "--name", f"{unique}-renamed")
    assert code == 0
    assert f"name {unique} -> {unique}-renamed" in out
    [hook] = ours(client, unique)
    assert (hook.webhook_id, hook.name, hook.url) == (created.webhook_id, f"{unique}-renamed", new)


def test_install_reactivates_and_keeps_one_of_several_duplicates(
    capsys: pytest.CaptureFixture[str], webhook_server: MlflowServer, client: Any, unique: str
) -> None:
    url = f"http://127.0.0.1:9/{unique}"
    events = ["model_version.created"]
    first = client.create_webhook(unique, url, events, status="DISABLED")
    second = client.create_webhook(unique, f"{url}/other", events)
    third = client.create_webhook(f"{unique}-same-url", url, events)
    code, out, err = install(capsys, webhook_server, url, "--name", unique)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"updated webhook {unique} (id {first.webhook_id})")
    assert "status DISABLED -> ACTIVE" in lines[0]
    assert sorted(lines[1:]) == sorted(
        f"deleted duplicate webhook {name} (id {hook.webhook_id}) -> {hook.url}"
        for name, hook in ((unique, second), (f"{unique}-same-url", third))
    )
    [hook] = ours(client, unique)
    assert hook.webhook_id == first.webhook_id
    assert str(hook.status) == "ACTIVE"
    assert sorted(str(e) for e in hook.events) == sorted(SUBSCRIBED_EVENTS)


def test_install_without_the_secret_is_one_line_and_creates_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    webhook_server: MlflowServer,
    client: Any,
    unique: str,
) -> None:
    monkeypatch.delenv("ALIASCTL_WEBHOOK_SECRET")
    code, out, err = install(capsys, webhook_server, f"http://127.0.0.1:9/{unique}")
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert "ALIASCTL_WEBHOOK_SECRET is not set" in err
    assert "Traceback" not in err
    assert ours(client, unique) == []


def test_a_url_the_server_refuses_is_one_line_with_the_settings_to_check(
    capsys: pytest.CaptureFixture[str], webhook_server: MlflowServer, client: Any, unique: str
) -> None:
    code, _, err = install(capsys, webhook_server, f"ftp://127.0.0.1/{unique}")
    assert code == 1
    assert err.count("\n") == 1
    assert "scheme" in err
    assert "MLFLOW_WEBHOOK_ALLOWED_SCHEMES" in err
    assert SECRET not in err


def test_a_server_without_the_webhook_api_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    """An MLflow 2.x server answers 404 to /api/2.0/mlflow/webhooks, as this stand-in does."""
    with Receiver(status=404, reply=b"<h1>Not Found</h1>") as old_server:
        uri = old_server.url
        capsys.readouterr()
        code, _, err = invoke(
            capsys, "webhook", "install", "--url", "http://x/y", "--registry-uri", uri
        )
    assert code == 1
    assert "no webhook API (webhooks need MLflow >= 3.3 with a SQL backend)" in err
    assert err.count("\n") == 1


def signed_by_us(delivery: Received) -> bool:
    return verify_headers(SECRET, delivery.headers, delivery.body, time.time()).ok


def test_webhook_test_delivers_a_signed_example_event(
    capsys: pytest.CaptureFixture[str],
    webhook_server: MlflowServer,
    client: Any,
    unique: str,
    receiver: Receiver,
) -> None:
    url = f"{receiver.url}/{unique}"
    assert install(capsys, webhook_server, url, "--name", unique)[0] == 0
    code, out, err = invoke(
        capsys, "webhook", "test", "--name", unique, "--registry-uri", webhook_server.uri
    )
    assert code == 0, err
    assert out == f"test delivery to {url}: delivered, HTTP 200: ok\n"
    [delivery] = receiver.deliveries  # the test delivery is synchronous
    assert signed_by_us(delivery)
    event = parse_event(delivery.body)
    assert event is not None
    # MLflow sends an example of the webhook's first event: a new version of its example model.
    assert (event.kind, event.model, event.version) == (
        DeliveryKind.VERSION_CREATED, "example_model", 1,
    )  # fmt: skip
    assert json.loads(delivery.body)["entity"] == "model_version"


def test_webhook_test_reports_a_refusal_and_exits_1(
    capsys: pytest.CaptureFixture[str], webhook_server: MlflowServer, client: Any, unique: str
) -> None:
    with Receiver(status=401, reply=b"bad signature") as refusing:
        url = f"{refusing.url}/{unique}"
        assert install(capsys, webhook_server, url, "--name", unique)[0] == 0
        [hook] = ours(client, unique)
        code, out, _ = invoke(
            capsys, "webhook", "test", "--id", hook.webhook_id, "--registry-uri", webhook_server.uri
        )
        assert len(refusing.deliveries) == 1
    assert code == 1
    assert out == f"test delivery to webhook {hook.webhook_id}: refused, HTTP 401: bad signature\n"


def test_webhook_test_without_a_webhook_says_what_to_run(
    capsys: pytest.CaptureFixture[str], webhook_server: MlflowServer, client: Any, unique: str
) -> None:
    code, _, err = invoke(
        capsys, "webhook", "test", "--url", f"http://127.0.0.1:9/{unique}",
        "--registry-uri", webhook_server.uri,
    )  # fmt: skip
    assert code == 1
    assert "no webhook with URL" in err
    assert "aliasctl webhook install" in err


def test_an_alias_set_and_deleted_on_the_server_arrive_signed_and_parsed(
    capsys: pytest.CaptureFixture[str],
    webhook_server: MlflowServer,
    client: Any,
    unique: str,
    receiver: Receiver,
) -> None:
    model = f"{unique}-model"
    seed(webhook_server.uri, {model: 2})
    assert install(capsys, webhook_server, f"{receiver.url}/{unique}", "--name", unique)[0] == 0

    def about(kind: DeliveryKind) -> Any:
        def wanted(delivery: Received) -> bool:
            event = parse_event(delivery.body)
            return event is not None and event.kind is kind and event.model == model

        return wanted

    # The server's webhook list may be cached from before the install (1 s here): set
    # the alias again each second until the delivery comes.
    poke = lambda: client.set_registered_model_alias(model, "champion", "2")  # noqa: E731
    delivery = receiver.first(about(DeliveryKind.ALIAS_SET), poke=poke)
    assert signed_by_us(delivery)
    event = parse_event(delivery.body)
    assert event is not None
    assert (event.alias, event.version) == ("champion", 2)

    client.delete_registered_model_alias(model, "champion")
    deleted = receiver.first(about(DeliveryKind.ALIAS_DELETED))
    assert signed_by_us(deleted)
    event = parse_event(deleted.body)
    assert event is not None
    assert (event.alias, event.version) == ("champion", None)
    assert deleted.headers["X-MLflow-Delivery-Id"] != delivery.headers["X-MLflow-Delivery-Id"]
