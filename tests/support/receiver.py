"""A real HTTP endpoint on 127.0.0.1 for what aliasctl and MLflow send: records every POST.

It stands in for a notification receiver (scripted answers, held answers) and for
the target of MLflow's webhooks (`first(..., poke=...)` re-sends while a server's
webhook cache is stale).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from email.message import Message


@dataclass(frozen=True)
class Received:
    path: str
    headers: Message  # case-insensitive, as a server reads them
    body: bytes


class Receiver:
    """ThreadingHTTPServer on a port the OS chooses; a context manager.

    Every POST answers `status` with `reply`, unless `script(path, *statuses)` queued
    other statuses for that path. A GET is answered the same way, not recorded (a
    receiver standing in for a server without an API). While `gate` is cleared, answers
    wait (after the request is recorded).
    """

    def __init__(self, status: int = 200, reply: bytes = b"ok") -> None:
        self.status = status
        self.reply = reply
        self.requests: list[Received] = []
        self._scripts: dict[str, list[int]] = {}
        self._changed = threading.Condition()
        self.gate = threading.Event()
        self.gate.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._changed:
                    receiver.requests.append(Received(self.path, self.headers, body))
                    queued = receiver._scripts.get(self.path) or []
                    status = queued.pop(0) if queued else receiver.status
                    receiver._changed.notify_all()
                receiver.gate.wait(30)
                self._answer(status)

            def do_GET(self) -> None:
                self._answer(receiver.status)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(receiver.reply)))
                self.end_headers()
                self.wfile.write(receiver.reply)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
                """Quiet: the test reads `requests`, not stderr."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # A short poll keeps shutdown() quick.
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def script(self, path: str, *statuses: int) -> None:
        with self._changed:
            self._scripts[path] = list(statuses)

    def at(self, path: str) -> list[Received]:
        with self._changed:
            return [r for r in self.requests if r.path == path]

    @property
    def deliveries(self) -> list[Received]:
        with self._changed:
            return list(self.requests)

    def wait_for(self, condition: Callable[[list[Received]], bool], timeout: float = 10.0) -> None:
        """Until `condition` holds over everything received so far."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self.requests):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver: condition not met, got {self.requests!r}")
                self._changed.wait(left)

    def first(
        self,
        wanted: Callable[[Received], bool],
        timeout: float = 30,
        poke: Callable[[], object] | None = None,
    ) -> Received:
        """The first request `wanted` accepts; `poke` (if given) runs again every second
        without one, e.g. to set an alias again while the server's webhook cache is stale."""
        deadline = time.monotonic() + timeout
        next_poke = time.monotonic()
        with self._changed:
            while True:
                found = next((r for r in self.requests if wanted(r)), None)
                if found is not None:
                    return found
                now = time.monotonic()
                if now >= deadline:
                    got = [r.body[:200] for r in self.requests]
                    raise AssertionError(f"no wanted request within {timeout:g}s; got {got}")
                if poke is not None and now >= next_poke:
                    self._changed.release()
                    try:
                        poke()
                    finally:
                        self._changed.acquire()
                    next_poke = now + 1
                self._changed.wait(timeout=min(0.2, deadline - now))

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)
