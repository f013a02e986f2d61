"""Notifications sent to a real local HTTP receiver: once per event and URL, signed, retried."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from controller.serve.notify import (
    DELIVERY_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Notifier,
    NotifyURLError,
    redact_url,
)
from controller.serve.status import Event, EventKind
from tests.support.receiver import Receiver

if TYPE_CHECKING:
    from collections.abc import Iterator

NOW = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
DRIFT = Event(EventKind.DRIFT_FOUND, NOW, "churn", "champion", 3, 2, "abc123", "moved by hand")
MOVED = Event(EventKind.ALIAS_MOVED, NOW, "churn", "champion", 2, 3, "abc123def4567890")
FAILED = Event(EventKind.CYCLE_FAILED, NOW, reason="registry unreachable")
FAST = 0.01  # backoff between attempts, seconds


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib honours http_proxy: keep the local receiver reachable where one is set."""
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


class Results:
    """on_result's calls, with a wait for the n-th (it comes after a delivery's last attempt)."""

    def __init__(self) -> None:
        self.values: list[bool] = []
        self._cond = threading.Condition()

    def __call__(self, ok: bool) -> None:
        with self._cond:
            self.values.append(ok)
            self._cond.notify_all()

    def wait(self, n: int, timeout: float = 10.0) -> list[bool]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.values) >= n, timeout), self.values
            return list(self.values)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_each_event_reaches_each_url_exactly_once_as_its_json(receiver: Receiver) -> None:
    results = Results()
    notifier = Notifier([f"{receiver.url}/a", f"{receiver.url}/b"], "json", on_result=results)
    notifier.send([DRIFT, MOVED, FAILED])
    assert notifier.close(10)
    for path in ("/a", "/b"):
        got = receiver.at(path)
        assert [json.loads(r.body) for r in got] == [
            DRIFT.to_json(),
            MOVED.to_json(),
            FAILED.to_json(),
        ]
        assert set(json.loads(got[0].body)) == {
            *("kind", "model", "alias", "from", "to", "commit", "reason", "time"),
        }
        assert all(r.headers["Content-Type"] == "application/json" for r in got)
        assert all(SIGNATURE_HEADER not in r.headers for r in got)  # no secret, no signature
        assert len({r.headers[DELIVERY_ID_HEADER] for r in got}) == 3
    assert results.values == [True] * 6


def test_signature_verifies_with_the_shared_secret(receiver: Receiver) -> None:
    secret = "s3cret-for-tests"
    notifier = Notifier([f"{receiver.url}/hook"], "json", secret)
    notifier.send([DRIFT, MOVED])
    assert notifier.close(10)
    got = receiver.at("/hook")
    assert len(got) == 2
    for r in got:
        delivery_id, timestamp = r.headers[DELIVERY_ID_HEADER], r.headers[TIMESTAMP_HEADER]
        signed = f"{delivery_id}.{timestamp}.".encode() + r.body
        mac = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
        assert r.headers[SIGNATURE_HEADER] == "v1," + base64.b64encode(mac).decode()
        forged = hmac.new(b"other", signed, hashlib.sha256).digest()
        assert r.headers[SIGNATURE_HEADER] != "v1," + base64.b64encode(forged).decode()
        assert int(timestamp) >= int(NOW.timestamp())


def test_slack_payload_is_one_escaped_line_of_text(receiver: Receiver) -> None:
    notifier = Notifier([f"{receiver.url}/services/T1/B2/xyz"], "slack")
    notifier.send([DRIFT, MOVED])
    assert notifier.close(10)
    bodies = [json.loads(r.body) for r in receiver.at("/services/T1/B2/xyz")]
    assert bodies == [
        {"text": ":warning: aliasctl: drift found churn@champion 3 -&gt; 2: moved by hand"
         " (commit abc123)"},
        {"text": ":arrow_right: aliasctl: alias moved churn@champion 2 -&gt; 3"
         " (commit abc123def456)"},
    ]  # fmt: skip


@pytest.mark.parametrize("failures", [(503, 503), (429,), (502, 500, 504)])
def test_retries_on_429_and_5xx_then_delivers_once(
    receiver: Receiver, failures: tuple[int, ...]
) -> None:
    results = Results()
    receiver.script("/flaky", *failures)
    notifier = Notifier(
        [f"{receiver.url}/flaky"], on_result=results, attempts=4, backoff_seconds=FAST
    )
    notifier.send([DRIFT])
    assert notifier.close(10)
    got = receiver.at("/flaky")
    assert len(got) == len(failures) + 1
    assert len({r.headers[DELIVERY_ID_HEADER] for r in got}) == 1  # a retry is the same delivery
    assert results.values == [True]


def test_gives_up_after_the_last_attempt(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    results = Results()
    receiver.script("/down", 503, 503, 503, 503)
    notifier = Notifier(
        [f"{receiver.url}/down"], on_result=results, attempts=3, backoff_seconds=FAST
    )
    with caplog.at_level(logging.WARNING, logger="aliasctl.notify"):
        notifier.send([DRIFT])
        assert results.wait(1) == [False]
    assert len(receiver.at("/down")) == 3
    assert "drift_found not delivered after 3 attempt(s): HTTP 503" in caplog.text
    assert notifier.close(10)


def test_4xx_is_not_retried(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    results = Results()
    receiver.script("/bad", 400)
    notifier = Notifier(
        [f"{receiver.url}/bad"], on_result=results, attempts=4, backoff_seconds=FAST
    )
    with caplog.at_level(logging.WARNING, logger="aliasctl.notify"):
        notifier.send([DRIFT])
        assert results.wait(1) == [False]
    assert len(receiver.at("/bad")) == 1
    assert "after 1 attempt(s): HTTP 400" in caplog.text
    assert notifier.close(10)


def test_unreachable_url_is_logged_without_its_secret_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    results = Results()
    url = f"http://127.0.0.1:{closed_port()}/services/T000/B000/secretpart"
    notifier = Notifier([url], "slack", on_result=results, attempts=2, backoff_seconds=FAST)
    with caplog.at_level(logging.WARNING, logger="aliasctl.notify"):
        notifier.send([DRIFT])
        assert results.wait(1) == [False]
        assert notifier.close(10)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "not delivered after 2 attempt(s): ConnectionRefusedError" in warnings[0].getMessage()
    assert "http://127.0.0.1:" in caplog.text
    assert "secretpart" not in caplog.text
    assert "T000" not in caplog.text


def test_send_returns_while_the_receiver_is_still_answering(receiver: Receiver) -> None:
    receiver.gate.clear()  # the receiver records the request, then holds its answer
    notifier = Notifier([f"{receiver.url}/slow"])
    notifier.send([DRIFT])
    notifier.send([MOVED])  # the first is still in flight: queued, not waited for
    receiver.wait_for(lambda got: len(got) == 1)
    assert len(receiver.at("/slow")) == 1
    receiver.gate.set()
    assert notifier.close(10)
    assert [json.loads(r.body)["kind"] for r in receiver.at("/slow")] == [
        "drift_found",
        "alias_moved",
    ]


def test_a_full_queue_drops_the_oldest_with_a_warning(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.gate.clear()
    notifier = Notifier([f"{receiver.url}/q"], queue_size=2)
    notifier.send([FAILED])
    receiver.wait_for(lambda got: len(got) == 1)  # FAILED is in flight, the queue is empty
    with caplog.at_level(logging.WARNING, logger="aliasctl.notify"):
        notifier.send([DRIFT, MOVED, DRIFT])
    assert "queue full, dropped the 1 oldest event(s)" in caplog.text
    receiver.gate.set()
    assert notifier.close(10)
    kinds = [json.loads(r.body)["kind"] for r in receiver.at("/q")]
    assert kinds == ["cycle_failed", "alias_moved", "drift_found"]


def test_close_drains_the_queue_then_ignores_sends(receiver: Receiver) -> None:
    events = [Event(EventKind.ALIAS_MOVED, NOW, "m", f"a{i}", i, i + 1) for i in range(25)]
    notifier = Notifier([f"{receiver.url}/x", f"{receiver.url}/y"])
    notifier.send(events)
    assert notifier.close(30)
    for path in ("/x", "/y"):
        assert [json.loads(r.body)["alias"] for r in receiver.at(path)] == [e.alias for e in events]
    notifier.send([DRIFT])
    assert len(receiver.requests) == 50


def test_close_gives_up_at_its_timeout_when_a_receiver_hangs(receiver: Receiver) -> None:
    receiver.gate.clear()
    notifier = Notifier([f"{receiver.url}/hang"], timeout=20)
    notifier.send([DRIFT, MOVED])
    receiver.wait_for(lambda got: len(got) == 1)
    assert notifier.close(0.05) is False
    receiver.gate.set()


def test_empty_sends_post_nothing(receiver: Receiver) -> None:
    notifier = Notifier([f"{receiver.url}/e"])
    notifier.send([])
    notifier.send(iter(()))
    notifier.send(e for e in [DRIFT] if e.model is None)
    assert notifier.close(10)
    assert receiver.requests == []


def test_a_broken_event_source_does_not_raise(receiver: Receiver) -> None:
    def events() -> Iterator[Event]:
        yield DRIFT
        raise RuntimeError("boom")

    notifier = Notifier([f"{receiver.url}/b"])
    notifier.send(events())
    assert notifier.close(10)
    assert receiver.requests == []


def test_no_urls_is_a_quiet_no_op() -> None:
    notifier = Notifier([])
    notifier.send([DRIFT])
    assert notifier.close(1)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/XXXX", "https://hooks.slack.com/..."),
        ("http://user:pw@host.example:8080/x?token=1", "http://host.example:8080/..."),
        ("https://example.com?token=1", "https://example.com/..."),
        ("https://example.com/", "https://example.com"),
    ],
)
def test_logged_urls_show_scheme_and_host_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    "url",
    ["ftp://host/secretpath", "hooks.slack.com/services/secretpath", "https://h/secretpath x"],
)
def test_a_url_that_is_not_http_is_refused_without_its_path(url: str) -> None:
    with pytest.raises(NotifyURLError) as info:
        Notifier([url])
    assert "not an http:// or https:// URL" in str(info.value)
    assert "secretpath" not in str(info.value)


def test_a_failing_on_result_does_not_stop_delivery(receiver: Receiver) -> None:
    def broken(ok: bool) -> None:
        raise RuntimeError("metrics down")

    notifier = Notifier([f"{receiver.url}/r"], on_result=broken)
    notifier.send([DRIFT, MOVED])
    assert notifier.close(10)
    assert len(receiver.at("/r")) == 2
