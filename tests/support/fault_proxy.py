"""An HTTP proxy in front of a real mlflow server that injects the faults of a noisy network.

For a share of writes (POST, PATCH, DELETE) it either answers 503 without
forwarding (a load balancer while the server restarts) or forwards the request
and then cuts the connection without answering (the write happened, the client
never hears so). Reads pass through. Seeded, so a failure can be replayed.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from types import TracebackType

WRITES = frozenset({"POST", "PATCH", "DELETE"})
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


class _QuietServer(ThreadingHTTPServer):
    """A client that gives up mid-exchange is part of the weather here, not an error to print."""

    def handle_error(self, request: object, client_address: object) -> None:
        return


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        fault_rate: float = 0.0,
        seed: int = 7,
        refuse: dict[tuple[str, str], int] | None = None,
        write_delay: float = 0.0,
        blank: tuple[str, ...] = (),
        cut_first: tuple[str, ...] = (),
    ):
        self.upstream = urlsplit(upstream)
        self.fault_rate = fault_rate
        # (method, path fragment) -> status answered to every such request, never forwarded.
        self.refuse = refuse or {}
        # A slow registry: each write waits this long before it is forwarded.
        self.write_delay = write_delay
        # Path fragments whose successful answers arrive empty (`{}`): an MLflow-compatible
        # service whose searches find nothing, as servers before 2.21 did for MLflow 3 clients.
        self.blank = blank
        # Path fragments whose first write is forwarded and its answer then cut: the write
        # happened, the client never hears so (once each, then they pass).
        self.cut_first = set(cut_first)
        self.first_alias_write = threading.Event()
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()  # "forwarded", "503", "cut", "refused", path...
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _decide(self, method: str, path: str) -> str:
        with self.lock:
            self.counts[f"{method} {path.split('?', maxsplit=1)[0]}"] += 1
            for refused_method, fragment in self.refuse:
                if method == refused_method and fragment in path:
                    self.counts["refused"] += 1
                    return "refuse"
            cut = next((f for f in sorted(self.cut_first) if f in path), None)
            if method in WRITES and cut is not None:
                self.cut_first.discard(cut)
                self.counts["cut"] += 1
                return "cut"
            if method in WRITES and self.rng.random() < self.fault_rate:
                fault = self.rng.choice(("503", "cut"))
                self.counts[fault] += 1
                return fault
            self.counts["forwarded"] += 1
            return "forward"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                decision = proxy._decide(self.command, self.path)
                if decision == "503":
                    self._answer(503, b"upstream restarting")
                    return
                if decision == "refuse":
                    status = next(s for (_, f), s in proxy.refuse.items() if f in self.path)
                    self._answer(status, b'{"error_code": "PERMISSION_DENIED", "message": "no"}')
                    return
                if self.command in WRITES and "registered-models/alias" in self.path:
                    proxy.first_alias_write.set()
                if self.command in WRITES and proxy.write_delay:
                    time.sleep(proxy.write_delay)  # the registry's slowness, not a test's wait
                upstream = http.client.HTTPConnection(
                    proxy.upstream.hostname or "127.0.0.1", proxy.upstream.port, timeout=60
                )
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                finally:
                    upstream.close()
                if decision == "cut":
                    self.close_connection = True  # the write happened; the answer never comes
                    return
                if response.status == 200 and any(f in self.path for f in proxy.blank):
                    payload = b"{}"
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _answer(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            # PUT: artifact uploads through a server that proxies its artifact store.
            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _relay  # noqa: N815

        return Handler

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
