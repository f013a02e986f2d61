"""A real HTTP receiver for notifications: records every request, answers as scripted."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """ThreadingHTTPServer on 127.0.0.1, port chosen by the OS.

    `script(path, *statuses)` makes the next requests to `path` answer with those
    statuses in turn; after that (and for any other path) it answers 200.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._scripts: dict[str, list[int]] = {}
        self._cond = threading.Condition()
        # Cleared, it holds every answer (after recording the request) until set again.
        self.gate = threading.Event()
        self.gate.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._cond:
                    receiver.requests.append(Received(self.path, dict(self.headers), body))
                    queued = receiver._scripts.get(self.path) or []
                    status = queued.pop(0) if queued else 200
                    receiver._cond.notify_all()
                receiver.gate.wait(30)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
                """Quiet: the test reads `requests`, not stderr."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # A short poll keeps shutdown() quick.
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def script(self, path: str, *statuses: int) -> None:
        with self._cond:
            self._scripts[path] = list(statuses)

    def at(self, path: str) -> list[Received]:
        with self._cond:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, condition: Callable[[list[Received]], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not condition(self.requests):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver: condition not met, got {self.requests!r}")
                self._cond.wait(left)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()
