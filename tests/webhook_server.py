"""An `mlflow server` that sends webhooks to 127.0.0.1, and a local receiver for them.

Tests that use the `webhook_server` fixture share one server per xdist worker: mark
them `pytest.mark.xdist_group(WEBHOOK_GROUP)` so they all land on the same worker.
The server's webhook list is cached for `CACHE_TTL_SECONDS`: a webhook created or
changed may miss events for that long, so wait for deliveries, never sleep.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from tests.mlflow_server import MlflowServer

if TYPE_CHECKING:
    from collections.abc import Callable
    from email.message import Message
    from pathlib import Path
    from types import TracebackType

WEBHOOK_GROUP = "webhook"  # the xdist_group of every test using `webhook_server`
CACHE_TTL_SECONDS = 1


def webhook_server_env(encryption_key: str) -> dict[str, str]:
    """What a server needs to deliver to a receiver on this machine, over plain http."""
    return {
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        # Fixed for the session: a restarted server must still decrypt the stored secrets.
        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": encryption_key,
        "MLFLOW_WEBHOOK_CACHE_TTL": str(CACHE_TTL_SECONDS),
    }


def new_webhook_server(root: Path) -> MlflowServer:
    """One worker: webhook caches and delivery pools are per server process."""
    from cryptography.fernet import Fernet  # noqa: PLC0415 - an MLflow dependency

    key = Fernet.generate_key().decode()
    return MlflowServer(root, workers=1, env=webhook_server_env(key))


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: Message  # case-insensitive, as a server reads them
    body: bytes


class Receiver:
    """A local HTTP endpoint that records every POST and answers `status` with `reply`."""

    def __init__(self, status: int = 200, reply: bytes = b"ok"):
        self.status = status
        self.reply = reply
        self._deliveries: list[Delivery] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._changed:
                    receiver._deliveries.append(Delivery(self.path, self.headers, body))
                    receiver._changed.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(receiver.reply)))
                self.end_headers()
                self.wfile.write(receiver.reply)

            def do_GET(self) -> None:
                """Answered, not recorded: lets a receiver stand in for a server without an API."""
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(receiver.reply)))
                self.end_headers()
                self.wfile.write(receiver.reply)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                """Quiet: pytest's output is for failures."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def deliveries(self) -> list[Delivery]:
        with self._changed:
            return list(self._deliveries)

    def wait_for(
        self,
        wanted: Callable[[Delivery], bool],
        timeout: float = 30,
        poke: Callable[[], object] | None = None,
    ) -> Delivery:
        """The first delivery `wanted` accepts; `poke` (if given) runs again every second
        without one, e.g. to set an alias again while the server's webhook cache is stale."""
        deadline = time.monotonic() + timeout
        next_poke = time.monotonic()
        with self._changed:
            while True:
                found = next((d for d in self._deliveries if wanted(d)), None)
                if found is not None:
                    return found
                now = time.monotonic()
                if now >= deadline:
                    got = [d.body[:200] for d in self._deliveries]
                    raise AssertionError(f"no wanted delivery within {timeout:g}s; got {got}")
                if poke is not None and now >= next_poke:
                    self._changed.release()
                    try:
                        poke()
                    finally:
                        self._changed.acquire()
                    next_poke = now + 1
                self._changed.wait(timeout=min(0.2, deadline - now))
