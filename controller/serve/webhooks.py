"""`POST /webhooks/mlflow`: verify, drop replays, and queue the model the event names.

Nothing here touches the registry: an accepted delivery only asks the loop to
reconcile its model soon, so a flood of deliveries costs one reconcile per
debounce window, and a forged one costs an HMAC.
"""

from __future__ import annotations

import logging
import time
from http import HTTPStatus
from typing import TYPE_CHECKING

from controller.serve.signing import (
    DEFAULT_TOLERANCE_SECONDS,
    MLFLOW_HEADERS,
    Outcome,
    ReplayGuard,
    verify_headers,
)
from controller.serve.webhook_event import DeliveryKind, parse_event

if TYPE_CHECKING:
    from collections.abc import Callable

    from controller.serve.loop import Sighting, WorkQueue
    from controller.serve.signing import HeaderLookup

log = logging.getLogger("aliasctl.serve.webhooks")


class WebhookReceiver:
    def __init__(
        self,
        secret: str | None,
        queue: WorkQueue,
        *,
        on_outcome: Callable[[str], None] = lambda _o: None,
        max_age_seconds: float = DEFAULT_TOLERANCE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._queue = queue
        self._on_outcome = on_outcome
        self._max_age = max_age_seconds
        self._clock = clock
        self._seen = ReplayGuard(window_seconds=2 * max_age_seconds)

    def handle(self, headers: HeaderLookup, body: bytes) -> tuple[int, str]:  # noqa: PLR0911
        """The HTTP status and a one-line answer; refusals never reconcile anything."""
        if not self._secret:
            return self._answer("bad_signature", HTTPStatus.UNAUTHORIZED, "no webhook secret set")
        now = self._clock()
        checked = verify_headers(self._secret, headers, body, now, MLFLOW_HEADERS, self._max_age)
        if checked.outcome in {Outcome.STALE, Outcome.FUTURE}:
            return self._answer("stale", HTTPStatus.UNAUTHORIZED, checked.reason)
        if not checked.ok:
            return self._answer("bad_signature", HTTPStatus.UNAUTHORIZED, checked.reason)
        delivery_id = headers.get(MLFLOW_HEADERS.delivery_id) or ""
        if not self._seen.admit(delivery_id, now):
            # 200: MLflow must not retry it; the first delivery already queued the model.
            return self._answer("replayed", HTTPStatus.OK, "already received")
        event = parse_event(body)
        if event is None:
            return self._answer("invalid", HTTPStatus.BAD_REQUEST, "not an MLflow event")
        if event.ignored or event.model is None:
            return self._answer("ignored", HTTPStatus.OK, event.describe())
        seen: Sighting | None = None  # for the loop: our own writes' echoes, likely drift
        if event.kind is DeliveryKind.ALIAS_SET and event.alias and event.version is not None:
            seen = (event.alias, event.version)
        elif event.kind is DeliveryKind.ALIAS_DELETED and event.alias:
            seen = (event.alias, None)
        self._queue.request(event.model, seen)
        return self._answer("accepted", HTTPStatus.ACCEPTED, event.describe())

    def _answer(self, outcome: str, status: HTTPStatus, reason: str) -> tuple[int, str]:
        log.info("webhook %s: %s", outcome.replace("_", " "), reason)
        self._on_outcome(outcome)
        return int(status), reason
