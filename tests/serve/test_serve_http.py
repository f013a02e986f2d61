"""`POST /webhooks/mlflow` of a running `aliasctl serve`: forged, stale, replayed, flooded."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING

from controller.serve.http import Endpoints, make_server
from controller.serve.page import render_page
from controller.serve.signing import MLFLOW_HEADERS
from tests.conftest import client_for, live_aliases, seed, write_spec
from tests.support.page_samples import many
from tests.support.serve_process import ServeProcess, get, metric, post, wait_for

if TYPE_CHECKING:
    from pathlib import Path

SECRET = "http-test-secret"


def delivery(
    model: str,
    *,
    secret: str = SECRET,
    sent_at: float | None = None,
    delivery_id: str | None = None,
    entity: str = "model_version_alias",
) -> tuple[bytes, dict[str, str]]:
    """A delivery as MLflow sends one (its body shape, headers and signature scheme)."""
    body = json.dumps(
        {
            "entity": entity,
            "action": "created",
            "timestamp": "2026-11-26T12:00:00.000000Z",
            "data": {"name": model, "alias": "champion", "version": "1"},
        }
    ).encode()
    headers = MLFLOW_HEADERS.signed(
        secret, delivery_id or str(uuid.uuid4()), int(sent_at or time.time()), body
    )
    return body, {**headers, "Content-Type": "application/json"}


def test_only_signed_fresh_unseen_deliveries_reconcile(tmp_path: Path, sqlite_uri: str) -> None:
    seed(sqlite_uri, {"bikes": 3})
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 2}})
    serve = ServeProcess(
        tmp_path,
        [str(spec), "--registry-uri", sqlite_uri, "--interval", "3600", "--debounce", "0.5"],
        {"ALIASCTL_WEBHOOK_SECRET": SECRET},
    )
    url = f"{serve.url}/webhooks/mlflow"

    def reconciles() -> float:
        text = serve.metrics()
        return sum(
            metric(text, "aliasctl_reconciles_total", result=r) or 0
            for r in ("success", "blocked", "failed")
        )

    try:
        wait_for(serve.ready, 60, "the first reconcile")
        assert reconciles() == 1
        client_for(sqlite_uri).set_registered_model_alias("bikes", "champion", "1")  # by hand

        forged, headers = delivery("bikes", secret="not-the-secret")
        assert post(url, forged, headers)[0] == 401
        body, headers = delivery("bikes")
        tampered = body.replace(b'"1"', b'"3"')
        assert post(url, tampered, headers)[0] == 401
        assert post(url, body, {"Content-Type": "application/json"})[0] == 401  # unsigned
        stale, headers = delivery("bikes", sent_at=time.time() - 3600)
        status, answer = post(url, stale, headers)
        assert (status, "ago" in answer) == (401, True)
        assert (
            post(
                url, b"not json", MLFLOW_HEADERS.signed(SECRET, "x1", int(time.time()), b"not json")
            )[0]
            == 400
        )
        other, headers = delivery("bikes", entity="registered_model")
        assert post(url, other, headers)[0] == 200  # another kind of event: ignored
        text = serve.metrics()
        assert metric(text, "aliasctl_webhook_deliveries_total", outcome="bad_signature") == 3
        assert metric(text, "aliasctl_webhook_deliveries_total", outcome="stale") == 1
        assert metric(text, "aliasctl_webhook_deliveries_total", outcome="invalid") == 1
        assert metric(text, "aliasctl_webhook_deliveries_total", outcome="ignored") == 1
        # Counted before each answer: none of those was accepted, so none queued a reconcile.
        assert metric(text, "aliasctl_webhook_deliveries_total", outcome="accepted") == 0

        genuine, headers = delivery("bikes", delivery_id="delivery-1")
        assert post(url, genuine, headers)[0] == 202
        wait_for(lambda: live_aliases(sqlite_uri, "bikes") == {"champion": 2}, 30, "the heal")
        assert post(url, genuine, headers) == (200, "already received\n")  # a replay
        assert metric(serve.metrics(), "aliasctl_webhook_deliveries_total", outcome="replayed") == 1

        before = reconciles()
        for _ in range(300):  # a flood, within one debounce window or a few
            body, headers = delivery("bikes")
            assert post(url, body, headers)[0] == 202
        assert get(f"{serve.url}/healthz")[0] == 200
        wait_for(lambda: reconciles() > before, 30, "the flood's reconcile")
        accepted = metric(serve.metrics(), "aliasctl_webhook_deliveries_total", outcome="accepted")
        assert accepted == 301
        # 300 deliveries cost a handful of reconciles, not 300.
        assert reconciles() - before <= 10
    finally:
        assert serve.stop() == 0
    assert SECRET not in serve.log()


def test_the_status_page_is_gzipped_for_a_browser_that_accepts_it() -> None:
    snapshot = many(1000)
    server = make_server(
        ("127.0.0.1", 0),
        Endpoints(
            snapshot=lambda: snapshot,
            metrics=lambda: (b"", "text/plain"),
            page=render_page,
            webhook=lambda _h, _b: (404, "not here"),
        ),
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            assert answer.headers["Content-Encoding"] == "gzip"
            packed = answer.read()
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert answer.headers["Content-Encoding"] is None
            plain = answer.read()
    finally:
        server.shutdown()
        server.server_close()
    unpacked = gzip.decompress(packed)
    assert len(packed) * 5 < len(unpacked)
    assert unpacked.count(b"<tr class=alias ") == plain.count(b"<tr class=alias ") >= 1000


def test_the_status_page_and_json_ask_for_the_token_when_one_is_set(
    tmp_path: Path, sqlite_uri: str
) -> None:
    seed(sqlite_uri, {"bikes": 2})
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 2}})
    token = "status-token-for-the-page"
    serve = ServeProcess(
        tmp_path,
        [str(spec), "--registry-uri", sqlite_uri, "--interval", "3600"],
        {"ALIASCTL_STATUS_TOKEN": token},
    )

    def status(path: str, authorization: str | None = None) -> tuple[int, str | None]:
        headers = {"Authorization": authorization} if authorization else {}
        request = urllib.request.Request(f"{serve.url}{path}", headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                return answer.status, None
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("WWW-Authenticate")

    basic = base64.b64encode(f"anyone:{token}".encode()).decode()
    wrong = base64.b64encode(b"anyone:guess").decode()
    try:
        wait_for(serve.ready, 60, "the first reconcile")
        for path in ("/", "/status.json"):
            assert status(path) == (401, 'Basic realm="aliasctl", charset="UTF-8"')
            assert status(path, f"Bearer {token}") == (200, None)
            assert status(path, f"Basic {basic}") == (200, None)  # a browser's prompt
            assert status(path, f"Basic {wrong}")[0] == 401
            assert status(path, f"Bearer {token}x")[0] == 401
        for path in ("/healthz", "/readyz", "/metrics"):  # probes and Prometheus stay open
            assert status(path) == (200, None)
    finally:
        assert serve.stop() == 0
    assert token not in serve.log()
