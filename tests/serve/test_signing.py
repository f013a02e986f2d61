"""Webhook signatures, replays and MLflow's payload: pure, no server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import tracemalloc
from email.message import Message

import pytest

from controller.serve.signing import (
    ALIASCTL_HEADERS,
    MLFLOW_HEADERS,
    Outcome,
    ReplayGuard,
    sign,
    verify,
    verify_headers,
)
from controller.serve.webhook_event import DeliveryKind, parse_event

SECRET = "s3cret-for-tests"
DELIVERY = "5b0d6d0e-0d8a-4b8e-9d1e-2f3c4a5b6c7d"
NOW = 1_790_000_000
BODY = json.dumps(
    {
        "entity": "model_version_alias",
        "action": "created",
        "timestamp": "2026-09-21T12:00:00+00:00",
        "data": {"name": "fraud", "alias": "champion", "version": "3"},
    }
).encode()


def independent_signature(secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    """What mlflow/webhooks/delivery.py computes, written out again here."""
    content = f"{delivery_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def test_sign_matches_mlflows_scheme() -> None:
    expected = independent_signature(SECRET, DELIVERY, str(NOW), BODY.decode())
    assert sign(SECRET, DELIVERY, NOW, BODY) == expected
    assert sign(SECRET, DELIVERY, str(NOW), BODY) == expected


def test_sign_matches_a_fixed_vector() -> None:
    # printf 'id.1.{}' | openssl dgst -sha256 -hmac key -binary | base64
    assert sign("key", "id", 1, b"{}") == "v1,5PVmP2AfJGwnp9flV+flrzfukNWA9zyUdqvI+IQalVs="
    assert sign("key", "id", 1, b"{}") != sign("key", "id", 2, b"{}")


def test_non_ascii_body_is_signed_over_its_utf8_bytes() -> None:
    body = '{"data": {"name": "modèle"}}'
    assert sign(SECRET, DELIVERY, NOW, body.encode()) == independent_signature(
        SECRET, DELIVERY, str(NOW), body
    )


def good(body: bytes = BODY, timestamp: int = NOW) -> str:
    return sign(SECRET, DELIVERY, timestamp, body)


def test_verify_accepts_a_fresh_genuine_delivery() -> None:
    result = verify(SECRET, DELIVERY, str(NOW), good(), BODY, now=NOW + 5)
    assert result.ok
    assert result.outcome is Outcome.OK


def test_verify_refuses_a_tampered_body() -> None:
    tampered = BODY.replace(b'"3"', b'"4"')
    result = verify(SECRET, DELIVERY, str(NOW), good(), tampered, now=NOW)
    assert result.outcome is Outcome.BAD_SIGNATURE
    assert not result.ok


def test_verify_refuses_another_secret() -> None:
    forged = sign("not-the-secret", DELIVERY, NOW, BODY)
    assert (
        verify(SECRET, DELIVERY, str(NOW), forged, BODY, now=NOW).outcome is Outcome.BAD_SIGNATURE
    )


def test_verify_refuses_a_changed_delivery_id_or_timestamp() -> None:
    signature = good()
    assert (
        verify(SECRET, "other-id", str(NOW), signature, BODY, NOW).outcome is Outcome.BAD_SIGNATURE
    )
    moved = str(NOW + 1)
    assert verify(SECRET, DELIVERY, moved, signature, BODY, NOW).outcome is Outcome.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("delivery_id", "timestamp", "signature"),
    [(None, str(NOW), "v1,x"), (DELIVERY, None, "v1,x"), (DELIVERY, str(NOW), None), ("", "", "")],
)
def test_verify_names_missing_headers(
    delivery_id: str | None, timestamp: str | None, signature: str | None
) -> None:
    result = verify(SECRET, delivery_id, timestamp, signature, BODY, NOW)
    assert result.outcome is Outcome.MISSING_HEADERS
    assert "header" in result.reason


def test_verify_refuses_a_timestamp_that_is_not_a_number() -> None:
    signature = sign(SECRET, DELIVERY, "soon", BODY)
    assert verify(SECRET, DELIVERY, "soon", signature, BODY, NOW).outcome is Outcome.BAD_TIMESTAMP


def test_verify_refuses_stale_and_future_timestamps_at_the_tolerance() -> None:
    signature = good()
    assert verify(SECRET, DELIVERY, str(NOW), signature, BODY, now=NOW + 300).ok
    stale = verify(SECRET, DELIVERY, str(NOW), signature, BODY, now=NOW + 301)
    assert stale.outcome is Outcome.STALE
    assert "301s ago" in stale.reason
    assert verify(SECRET, DELIVERY, str(NOW), signature, BODY, now=NOW - 300).ok
    future = verify(SECRET, DELIVERY, str(NOW), signature, BODY, now=NOW - 301)
    assert future.outcome is Outcome.FUTURE
    short = verify(SECRET, DELIVERY, str(NOW), signature, BODY, now=NOW + 11, max_age_seconds=10)
    assert short.outcome is Outcome.STALE


def test_a_forged_old_delivery_is_a_bad_signature_not_stale() -> None:
    forged = sign("guess", DELIVERY, NOW, BODY)
    result = verify(SECRET, DELIVERY, str(NOW), forged, BODY, now=NOW + 10_000)
    assert result.outcome is Outcome.BAD_SIGNATURE


def test_verify_accepts_any_of_several_signatures() -> None:
    rotated = f"v1,{'A' * 44} v1a,ignored-scheme {good()}"
    assert verify(SECRET, DELIVERY, str(NOW), rotated, BODY, NOW).ok
    only_others = f"v1,{'A' * 44} v2,{good().split(',')[1]}"
    assert verify(SECRET, DELIVERY, str(NOW), only_others, BODY, NOW).outcome is (
        Outcome.BAD_SIGNATURE
    )


def test_the_reason_never_shows_the_secret_or_the_signature() -> None:
    signature = good()
    for now in (NOW, NOW + 1000, NOW - 1000):
        reason = verify(SECRET, DELIVERY, str(NOW), signature, BODY, now).reason
        assert SECRET not in reason
        assert signature.split(",")[1] not in reason


def test_signed_headers_round_trip_through_case_insensitive_request_headers() -> None:
    for names in (MLFLOW_HEADERS, ALIASCTL_HEADERS):
        headers = Message()
        for name, value in names.signed(SECRET, DELIVERY, NOW, BODY).items():
            headers[name.lower()] = value  # as a proxy may send them
        assert verify_headers(SECRET, headers, BODY, NOW, names).ok
    aliasctl_signed = Message()
    for name, value in ALIASCTL_HEADERS.signed(SECRET, DELIVERY, NOW, BODY).items():
        aliasctl_signed[name] = value
    missing = verify_headers(SECRET, aliasctl_signed, BODY, NOW)  # read as MLflow's
    assert missing.outcome is Outcome.MISSING_HEADERS


# -- replays -----------------------------------------------------------------------------------


def test_replay_guard_admits_an_id_once() -> None:
    guard = ReplayGuard()
    assert guard.admit(DELIVERY, NOW)
    assert not guard.admit(DELIVERY, NOW + 1)
    assert guard.admit("another", NOW + 1)


def test_replay_guard_forgets_ids_after_its_window() -> None:
    guard = ReplayGuard(window_seconds=600)
    assert guard.admit(DELIVERY, NOW)
    assert not guard.admit(DELIVERY, NOW + 600)
    assert guard.admit("later", NOW + 601)
    assert len(guard) == 1  # the first id aged out
    assert guard.admit(DELIVERY, NOW + 602)


def test_replay_guard_window_covers_the_whole_acceptance_span() -> None:
    """A delivery verifies from tolerance-before to tolerance-after its timestamp."""
    guard = ReplayGuard()
    assert guard.window_seconds >= 2 * 300


def test_replay_guard_memory_stays_flat_under_a_flood() -> None:
    guard = ReplayGuard(max_entries=1000)
    tracemalloc.start()
    try:
        for number in range(2000):
            guard.admit(f"{number:036d}", NOW)
        after_warmup, _ = tracemalloc.get_traced_memory()
        for number in range(2000, 50_000):
            guard.admit(f"{number:036d}", NOW)
        after_flood, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(guard) == 1000
    assert after_flood - after_warmup < 64 * 1024  # 24x the ids, no growth beyond noise
    assert not guard.admit(f"{49_999:036d}", NOW)  # the newest are still remembered
    assert guard.admit(f"{0:036d}", NOW)  # the oldest went first


def test_replay_guard_admits_each_id_once_across_threads() -> None:
    guard = ReplayGuard()
    admitted: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def race() -> None:
        start.wait()
        for number in range(500):
            result = guard.admit(f"id-{number}", NOW)
            with lock:
                admitted.append(result)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert admitted.count(True) == 500
    assert len(admitted) == 4000


def test_replay_guard_refuses_a_zero_size() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        ReplayGuard(max_entries=0)


# -- payloads ----------------------------------------------------------------------------------


def test_parse_an_alias_set() -> None:
    event = parse_event(BODY)
    assert event is not None
    assert event.kind is DeliveryKind.ALIAS_SET
    assert (event.model, event.alias, event.version) == ("fraud", "champion", 3)
    assert event.timestamp == "2026-09-21T12:00:00+00:00"
    assert event.describe() == "alias set: fraud@champion -> 3"


def test_parse_an_alias_delete() -> None:
    body = {"entity": "model_version_alias", "action": "deleted", "timestamp": "t"}
    event = parse_event(json.dumps({**body, "data": {"name": "fraud", "alias": "old"}}).encode())
    assert event is not None
    assert event.kind is DeliveryKind.ALIAS_DELETED
    assert (event.model, event.alias, event.version) == ("fraud", "old", None)


def test_parse_tolerates_a_workspace_and_extra_keys() -> None:
    payload = json.loads(BODY)
    payload["workspace"] = "default"
    payload["data"]["extra"] = [1, 2]
    event = parse_event(json.dumps(payload).encode())
    assert event is not None
    assert event.model == "fraud"


def test_parse_a_new_version_names_its_model() -> None:
    data = {"name": "fraud", "version": "4", "source": "s3://b/4", "run_id": "r1", "tags": {}}
    body = json.dumps({"entity": "model_version", "action": "created", "data": data}).encode()
    event = parse_event(body)
    assert event is not None
    assert (event.kind, event.model, event.alias, event.version) == (
        DeliveryKind.VERSION_CREATED,
        "fraud",
        None,
        4,
    )
    assert not event.ignored
    assert event.describe() == "version created: fraud v4"
    nameless = json.dumps({"entity": "model_version", "action": "created", "data": {}})
    assert parse_event(nameless.encode()) is None


@pytest.mark.parametrize(
    ("entity", "action"),
    [
        ("model_version", "deleted"),
        ("registered_model", "created"),
        ("prompt_alias", "created"),
        ("model_version_alias", "updated"),
        ("something_new", "happened"),
    ],
)
def test_parse_marks_other_events_ignored(entity: str, action: str) -> None:
    body = json.dumps({"entity": entity, "action": action, "data": {"name": "m"}}).encode()
    event = parse_event(body)
    assert event is not None
    assert event.ignored
    assert event.model is None
    assert event.describe() == f"ignored {entity}.{action}"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00",
        b"[1, 2]",
        b'"a string"',
        b"null",
        b"{}",
        b'{"entity": "model_version_alias", "action": "created"}',
        b'{"entity": 1, "action": "created", "data": {}}',
        b'{"entity": "model_version_alias", "action": "created", "data": []}',
        b'{"entity": "model_version_alias", "action": "created", "data": {"name": "m"}}',
        b'{"entity": "model_version_alias", "action": "deleted", '
        b'"data": {"name": " ", "alias": "a"}}',
        b'{"entity": "model_version_alias", "action": "created", '
        b'"data": {"name": 5, "alias": "a"}}',
        b"[" * 100_000,
    ],
)
def test_parse_returns_none_for_junk(body: bytes) -> None:
    assert parse_event(body) is None


@pytest.mark.parametrize(
    ("sent", "read"), [("7", 7), (7, 7), ("x", None), (True, None), (None, None)]
)
def test_parse_reads_the_version_leniently(sent: object, read: int | None) -> None:
    payload = json.loads(BODY)
    payload["data"]["version"] = sent
    event = parse_event(json.dumps(payload).encode())
    assert event is not None
    assert event.kind is DeliveryKind.ALIAS_SET
    assert event.version == read
