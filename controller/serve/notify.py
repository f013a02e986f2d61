"""Deliver the controller's events to `--notify` URLs, without ever holding up a cycle.

Each URL has its own daemon thread and bounded queue, so a dead Slack hook does not
delay the JSON receiver and a slow receiver never blocks `send`. When a queue is full
the oldest event is dropped (with a warning): after an outage the latest news matters
most. A delivery is retried on connection errors, 429 and 5xx with jittered backoff,
never on other 4xx; the final failure is one warning line. URLs are logged as scheme
and host only: a Slack hook carries its secret in the path.

Every request carries X-Aliasctl-Delivery-Id (the same on retries, so a receiver can
drop duplicates) and X-Aliasctl-Timestamp; with a secret also X-Aliasctl-Signature,
the Standard Webhooks scheme MLflow signs its own deliveries with.
"""

from __future__ import annotations

import collections
import http.client
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import TYPE_CHECKING, Literal

from controller.errors import ControllerError
from controller.secrets import redact
from controller.serve.signing import ALIASCTL_HEADERS
from controller.serve.status import EventKind

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from controller.serve.status import Event

log = logging.getLogger("aliasctl.notify")

Format = Literal["json", "slack"]
DELIVERY_ID_HEADER = ALIASCTL_HEADERS.delivery_id
TIMESTAMP_HEADER = ALIASCTL_HEADERS.timestamp
SIGNATURE_HEADER = ALIASCTL_HEADERS.signature
_ICONS = {
    EventKind.ALIAS_MOVED: ":arrow_right:",
    EventKind.DRIFT_FOUND: ":warning:",
    EventKind.DRIFT_HEALED: ":white_check_mark:",
    EventKind.CYCLE_FAILED: ":x:",
    EventKind.CYCLE_RECOVERED: ":white_check_mark:",
    EventKind.HOLD_FOUND: ":octagonal_sign:",
    EventKind.HOLD_LIFTED: ":arrow_forward:",
    EventKind.VERSION_COPIED: ":package:",
}


class NotifyURLError(ControllerError):
    """A --notify value that is not an http(s) URL."""

    def __init__(self, url: str) -> None:
        super().__init__(f"--notify {redact_url(url)}: not an http:// or https:// URL")


def redact_url(url: str) -> str:
    """Scheme and host only: paths, queries and user info may hold secrets."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return "(not a URL)"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is not a number
        port = ""
    host = f"{parts.scheme}://{parts.hostname}{port}"
    hidden = parts.path.strip("/") or parts.query or parts.username
    return f"{host}/..." if hidden else host


def json_body(event: Event) -> bytes:
    return json.dumps(event.to_json()).encode()


def slack_body(event: Event) -> bytes:
    """Slack's incoming-webhook payload: one line of text (Slack wants &, < and > escaped)."""
    text = event.describe()
    if event.commit:
        text += f" (commit {event.commit[:12]})"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return json.dumps({"text": f"{_ICONS.get(event.kind, '')} aliasctl: {text}".strip()}).encode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a new target: a POST is never replayed elsewhere."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class _Sink:
    """One URL: a bounded queue and the thread that empties it."""

    def __init__(self, url: str, notifier: Notifier) -> None:
        self.url = url
        self.shown = redact_url(url)
        self._n = notifier
        self._queue: collections.deque[Event] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self.thread = threading.Thread(target=self._run, name=f"notify {self.shown}", daemon=True)
        self.thread.start()

    def put(self, events: Sequence[Event]) -> None:
        with self._cond:
            if self._closing:
                return
            dropped = 0
            for event in events:
                if len(self._queue) >= self._n.queue_size:
                    self._queue.popleft()
                    dropped += 1
                self._queue.append(event)
            self._cond.notify()
        if dropped:  # one line per send, not one per event: a flood must not flood the log
            log.warning(
                "notify %s: queue full, dropped the %d oldest event(s)", self.shown, dropped
            )

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue or self._n.aborted.is_set():
                    return
                event = self._queue.popleft()
            try:
                ok = self._deliver(event)
            except Exception as exc:  # a bug here must not kill the thread
                # The type only: an exception's text may quote the URL.
                log.warning("notify %s: %s", self.shown, type(exc).__name__)
                log.debug("notify %s: delivery failed", self.shown, exc_info=True)
                ok = False
            self._n.report(ok)

    def _deliver(self, event: Event) -> bool:
        n = self._n
        body = slack_body(event) if n.fmt == "slack" else json_body(event)
        # A failure's text may quote a credential; JSON escapes nothing that hides it.
        body = redact(body.decode()).encode()
        delivery_id = str(uuid.uuid4())
        problem, made = "", 0
        while made < n.attempts:
            if made:
                delay = min(n.backoff_seconds * 2 ** (made - 1), n.max_backoff_seconds)
                if n.aborted.wait(delay * random.uniform(0.5, 1.5)):  # noqa: S311 - jitter
                    break
            status, problem = self._post(body, delivery_id)
            made += 1
            if status is not None and 200 <= status < 300:
                return True
            if status is not None and status != 429 and status < 500:
                break  # the receiver refuses this request: sending it again changes nothing
        log.warning(
            "notify %s: %s not delivered after %d attempt(s): %s",
            self.shown,
            event.kind,
            made,
            problem,
        )
        return False

    def _post(self, body: bytes, delivery_id: str) -> tuple[int | None, str]:
        """Status code (None when no answer) and a short, URL-free description."""
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "aliasctl",
            DELIVERY_ID_HEADER: delivery_id,
            TIMESTAMP_HEADER: timestamp,
        }
        if self._n.secret:  # the scheme MLflow signs its webhooks with: one verifier for both
            headers |= ALIASCTL_HEADERS.signed(self._n.secret, delivery_id, timestamp, body)
        # The scheme was checked in Notifier.__init__: http or https only.
        request = urllib.request.Request(self.url, body, headers, method="POST")  # noqa: S310
        try:
            # The answer's body is not read: only its status matters, and a receiver's
            # body could be any size. Closing drops the connection (urllib keeps none).
            with self._n.opener.open(request, timeout=self._n.timeout) as response:
                return int(response.status), ""
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code, f"HTTP {exc.code}"
        except urllib.error.URLError as exc:
            reason = exc.reason
            text = f"{type(reason).__name__}: {reason}" if isinstance(reason, OSError) else "error"
            return None, text
        except OSError as exc:  # timeouts, resets
            return None, f"{type(exc).__name__}: {exc.strerror or exc}"
        except http.client.HTTPException as exc:  # a bad answer; its text may quote the URL
            return None, type(exc).__name__


class Notifier:
    """Send events to every URL in the background; `send` returns at once.

    `on_result(ok)` is called once per event and URL, after the last attempt
    (`Metrics.notification` fits). Exceptions never reach the caller.
    """

    def __init__(
        self,
        urls: Sequence[str],
        fmt: Format = "json",
        secret: str | None = None,
        on_result: Callable[[bool], None] | None = None,
        *,
        timeout: float = 5.0,
        attempts: int = 4,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 8.0,
        queue_size: int = 1000,
    ) -> None:
        for url in urls:
            parts = urllib.parse.urlsplit(url)
            bad = any(c.isspace() or not c.isprintable() for c in url)
            if parts.scheme not in {"http", "https"} or not parts.hostname or bad:
                raise NotifyURLError(url)
        if fmt not in {"json", "slack"}:
            raise ValueError(f"unknown notification format {fmt!r}")
        self.fmt = fmt
        self.secret = secret or None
        self.on_result = on_result
        self.timeout = timeout
        self.attempts = max(attempts, 1)
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.queue_size = max(queue_size, 1)
        self.opener = urllib.request.build_opener(_NoRedirect)
        self.aborted = threading.Event()
        self._sinks = [_Sink(url, self) for url in dict.fromkeys(urls)]

    def send(self, events: Iterable[Event]) -> None:
        """Queue each event for each URL; never blocks on the network, never raises."""
        try:
            batch = tuple(events)
            if batch:
                for sink in self._sinks:
                    sink.put(batch)
        except Exception as exc:  # noqa: BLE001 - notifications must never stop the controller
            log.warning("notify: could not queue events: %s: %s", type(exc).__name__, exc)

    def close(self, timeout: float) -> bool:
        """Deliver what is queued for up to `timeout` seconds, then stop.

        True when every queue was emptied in time. Later `send` calls are ignored.
        """
        deadline = time.monotonic() + timeout
        for sink in self._sinks:
            sink.close()
        for sink in self._sinks:
            sink.thread.join(max(deadline - time.monotonic(), 0.0))
        drained = not any(sink.thread.is_alive() for sink in self._sinks)
        if not drained:
            # Cut the backoff waits short; a request in flight ends within `timeout`.
            self.aborted.set()
            log.warning("notify: stopped with notifications still queued")
        return drained

    def report(self, ok: bool) -> None:
        if self.on_result is None:
            return
        try:
            self.on_result(ok)
        except Exception as exc:  # noqa: BLE001 - a metrics hiccup must not stop delivery
            log.warning("notify: on_result failed: %s: %s", type(exc).__name__, exc)
