"""Standard Webhooks v1 signatures, as MLflow signs its deliveries (pure: no I/O, no clock).

MLflow (mlflow/webhooks/delivery.py) sends three headers and signs
`{delivery_id}.{timestamp}.{raw body}` with HMAC-SHA256 under the webhook's secret,
taken as UTF-8 text (not Standard Webhooks' base64 `whsec_` key): the header reads
`v1,<base64 digest>`. Checking the timestamp's age and dropping replays is the
receiver's job. The same `sign` signs aliasctl's own notifications, under headers
of their own: header names stay out of the crypto functions and live in `Headers`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300  # Standard Webhooks' five minutes, both ways


@dataclass(frozen=True)
class Headers:
    """The names of the three headers one sender uses."""

    delivery_id: str
    timestamp: str
    signature: str

    def signed(
        self, secret: str, delivery_id: str, timestamp: int | str, body: bytes
    ) -> dict[str, str]:
        """The three headers for an outgoing delivery of `body`."""
        return {
            self.delivery_id: delivery_id,
            self.timestamp: str(timestamp),
            self.signature: sign(secret, delivery_id, timestamp, body),
        }


MLFLOW_HEADERS = Headers("X-MLflow-Delivery-Id", "X-MLflow-Timestamp", "X-MLflow-Signature")
ALIASCTL_HEADERS = Headers("X-Aliasctl-Delivery-Id", "X-Aliasctl-Timestamp", "X-Aliasctl-Signature")


class HeaderLookup(Protocol):
    """http.server's request headers (case-insensitive), or any mapping."""

    def get(self, name: str, /) -> str | None: ...


def sign(secret: str, delivery_id: str, timestamp: int | str, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(secret, f"{delivery_id}.{timestamp}.{body}")>`, as MLflow does."""
    return f"{SIGNATURE_VERSION},{_digest(secret, delivery_id, str(timestamp), body)}"


def _digest(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    content = f"{delivery_id}.{timestamp}.".encode() + body
    mac = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


class Outcome(StrEnum):
    OK = "ok"
    MISSING_HEADERS = "missing_headers"  # an unsigned delivery: no secret set on the webhook?
    BAD_TIMESTAMP = "bad_timestamp"  # not an integer number of seconds
    BAD_SIGNATURE = "bad_signature"  # another secret, or a changed body: refuse
    STALE = "stale"  # signed right, but too old: a replay, or the sender's clock is behind
    FUTURE = "future"  # signed right, but too far ahead: the sender's clock is ahead


@dataclass(frozen=True)
class Verification:
    outcome: Outcome
    reason: str  # one line for the log; never the secret nor a signature

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


def verify(
    secret: str,
    delivery_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    max_age_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> Verification:
    """Check one delivery over its raw body, before parsing it.

    The signature is checked before the timestamp, so that "stale" and "future" only
    ever describe a delivery the secret's holder really sent. `signature` may hold
    several space-separated `version,value` pairs (Standard Webhooks, during a secret
    rotation); any matching `v1` one is enough, other versions are skipped.
    """
    if not delivery_id or not timestamp or not signature:
        missing = [
            name
            for name, value in (
                ("id", delivery_id),
                ("timestamp", timestamp),
                ("signature", signature),
            )
            if not value
        ]
        return Verification(Outcome.MISSING_HEADERS, f"no delivery {', '.join(missing)} header")
    try:
        sent_at = int(timestamp.strip())
    except ValueError:
        return Verification(Outcome.BAD_TIMESTAMP, "the timestamp is not a number of seconds")
    expected = _digest(secret, delivery_id, timestamp.strip(), body).encode()
    candidates = [
        value.encode()
        for version, _, value in (part.partition(",") for part in signature.split())
        if version == SIGNATURE_VERSION
    ]
    # compare_digest on each candidate: no early exit on the first differing byte.
    if not any([hmac.compare_digest(expected, candidate) for candidate in candidates]):  # noqa: C419
        return Verification(Outcome.BAD_SIGNATURE, "the signature does not match the secret")
    age = now - sent_at
    if age > max_age_seconds:
        return Verification(Outcome.STALE, f"signed {age:.0f}s ago (limit {max_age_seconds:g}s)")
    if -age > max_age_seconds:
        return Verification(
            Outcome.FUTURE, f"signed {-age:.0f}s in the future (limit {max_age_seconds:g}s)"
        )
    return Verification(Outcome.OK, "signature verified")


def verify_headers(
    secret: str,
    headers: HeaderLookup,
    body: bytes,
    now: float,
    names: Headers = MLFLOW_HEADERS,
    max_age_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> Verification:
    """`verify` with the three values read from a request's headers."""
    return verify(
        secret,
        headers.get(names.delivery_id),
        headers.get(names.timestamp),
        headers.get(names.signature),
        body,
        now,
        max_age_seconds,
    )


class ReplayGuard:
    """Delivery ids seen recently, bounded by count and by age; thread-safe.

    Admit a delivery only after `verify` says ok, so a forger cannot flush real ids
    out with junk ones. A timestamp is accepted within the tolerance either side of
    now, so one id can verify for twice the tolerance: ids are kept that long by
    default. Past `max_entries` the oldest are forgotten first (memory stays flat
    under a flood; a replay of a forgotten id is then still refused once stale).
    """

    def __init__(
        self,
        max_entries: int = 10_000,
        window_seconds: float = 2 * DEFAULT_TOLERANCE_SECONDS,
    ):
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.window_seconds = window_seconds
        self._seen: OrderedDict[str, float] = OrderedDict()  # id -> when admitted, oldest first
        self._lock = threading.Lock()

    def admit(self, delivery_id: str, now: float) -> bool:
        """True the first time an id is seen within the window (and remembers it), else False."""
        with self._lock:
            self._forget_before(now - self.window_seconds)
            if delivery_id in self._seen:
                return False
            self._seen[delivery_id] = now
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)
            return True

    def _forget_before(self, cutoff: float) -> None:
        while self._seen:
            oldest_id, admitted_at = next(iter(self._seen.items()))
            if admitted_at >= cutoff:
                return
            del self._seen[oldest_id]

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)
