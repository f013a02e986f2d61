"""The controller's HTTP endpoints, on the standard library's threading server.

Every handler only reads the latest snapshot or queues work, so a slow
registry never makes `/healthz` or `/metrics` slow; a stuck client is cut off
by the socket timeout.
"""

from __future__ import annotations

import base64
import gzip
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from controller.secrets import redact

if TYPE_CHECKING:
    from collections.abc import Callable

    from controller.serve.signing import HeaderLookup
    from controller.serve.status import Snapshot

log = logging.getLogger("aliasctl.serve.http")

MAX_WEBHOOK_BYTES = 1 << 20  # MLflow's alias events are a few hundred bytes
CLIENT_TIMEOUT_SECONDS = 10.0
WEBHOOK_PATH = "/webhooks/mlflow"
GZIP_ABOVE = 8192  # bytes of HTML; smaller pages go out as they are
HTML = "text/html; charset=utf-8"
# The pages that show the registry's state; /healthz, /readyz and /metrics stay open for
# probes and Prometheus (they show no error text but readiness's reason).
PROTECTED = frozenset({"/", "/status.json"})


@dataclass(frozen=True)
class Endpoints:
    snapshot: Callable[[], Snapshot]
    metrics: Callable[[], tuple[bytes, str]]  # body, content type
    page: Callable[[Snapshot, datetime], str]
    # (headers, raw body) -> (HTTP status, one-line answer)
    webhook: Callable[[HeaderLookup, bytes], tuple[int, str]]
    # When set, `/` and `/status.json` answer only a request that presents it.
    status_token: str | None = None


def authorized(header: str | None, token: str | None) -> bool:
    """Whether an Authorization header carries the status token: Bearer (scripts), or Basic
    with it as the password (a browser asks for it; any user name)."""
    if token is None:
        return True
    scheme_, _, value = (header or "").partition(" ")
    if scheme_.lower() == "basic":
        try:
            value = base64.b64decode(value, validate=True).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return False
    elif scheme_.lower() != "bearer":
        return False
    return hmac.compare_digest(value.encode(), token.encode())


def _redacted(text: str) -> bytes:
    """Every body leaves through here: errors shown on the page may quote a credential."""
    return redact(text).encode()


def make_server(address: tuple[str, int], endpoints: Endpoints) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        server_version = "aliasctl"
        sys_version = ""
        timeout = CLIENT_TIMEOUT_SECONDS

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(HTTPStatus.OK, b"ok\n", "text/plain; charset=utf-8")
            elif path == "/readyz":
                snapshot = endpoints.snapshot()
                if snapshot.ready:
                    self._send(HTTPStatus.OK, b"ready\n", "text/plain; charset=utf-8")
                else:
                    why = snapshot.last_error or "no reconcile has reached the registry yet"
                    body = _redacted(f"not ready: {why}\n")
                    self._send(HTTPStatus.SERVICE_UNAVAILABLE, body, "text/plain; charset=utf-8")
            elif path in PROTECTED and not authorized(
                self.headers.get("Authorization"), endpoints.status_token
            ):
                self.send_response(HTTPStatus.UNAUTHORIZED)
                self.send_header("WWW-Authenticate", 'Basic realm="aliasctl", charset="UTF-8"')
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path == "/status.json":
                body = _redacted(json.dumps(endpoints.snapshot().to_json(), indent=2))
                self._send(HTTPStatus.OK, body + b"\n", "application/json")
            elif path == "/metrics":
                body, content_type = endpoints.metrics()
                self._send(HTTPStatus.OK, _redacted(body.decode()), content_type)
            elif path == "/":
                html = _redacted(endpoints.page(endpoints.snapshot(), datetime.now(UTC)))
                if "gzip" in self.headers.get("Accept-Encoding", "") and len(html) > GZIP_ABOVE:
                    # 10,000 aliases: 4 MB of HTML, 80 KB gzipped (bench/bench_page.py).
                    self._send(HTTPStatus.OK, gzip.compress(html, 6), HTML, encoding="gzip")
                else:
                    self._send(HTTPStatus.OK, html, HTML)
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != WEBHOOK_PATH:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
                return
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self._send(HTTPStatus.LENGTH_REQUIRED, b"length required\n", "text/plain")
                return
            if not 0 <= length <= MAX_WEBHOOK_BYTES:
                self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"too large\n", "text/plain")
                return
            body = self.rfile.read(length)
            status, answer = endpoints.webhook(self.headers, body)  # case-insensitive
            self._send(HTTPStatus(status), f"{answer}\n".encode(), "text/plain; charset=utf-8")

        def _send(
            self, status: HTTPStatus, body: bytes, content_type: str, encoding: str = ""
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if encoding:
                self.send_header("Content-Encoding", encoding)
                self.send_header("Vary", "Accept-Encoding")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
            log.debug("%s %s", self.address_string(), format % args)

    server = ThreadingHTTPServer(address, Handler)
    server.daemon_threads = True
    return server
