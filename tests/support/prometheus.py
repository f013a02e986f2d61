"""A real Prometheus for the analysis tests, scraping an exporter the test controls.

Debian's `prometheus` package (`make prometheus`) runs as a plain process (its service is
never started): its own config, a TSDB in a temporary folder, 127.0.0.1 only. It scrapes,
every second, an in-process `prometheus_client` exporter with a registry of its own and
two series families a test sets: `model_error_rate{model,version}` (a gauge) and
`model_requests_total{model,version}` (a counter). As with tests/support/mysql.py, a
small supervisor owns the server and stops it when the test process closes its pipe or
dies. A missing binary fails the tests loudly: it is never a skip.

Fixtures (imported by conftest.py): `prometheus`, one Prometheus and exporter per session
and xdist worker; tests taking it share `xdist_group(PROMETHEUS_GROUP)` so that one worker
starts it. The server is shared: give each test model names of its own (the `unique`
fixture). `prometheus.exporter.set_error_rate(model, version, value)` sets a series,
`prometheus.wait_for(query, predicate)` polls the query API, within a deadline, until
Prometheus has scraped what the test set.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from tests.support.mlflow_server import free_port
from tests.support.postgres import _SUPERVISOR

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

PROMETHEUS_GROUP = "prometheus"
STARTUP_SECONDS = 60
STOP_SECONDS = 30
SCRAPED_SECONDS = 30  # scrapes run every second: anything set shows within a few
POLL_SECONDS = 0.1
# Prometheus ends cleanly on SIGTERM (it flushes its head block); SIGINT works too.
SUPERVISOR = _SUPERVISOR.replace("signal.SIGINT", "signal.SIGTERM")
CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: exporter
    static_configs:
      - targets: ["{target}"]
"""


def binary() -> str:
    found = shutil.which("prometheus") or shutil.which("prometheus", path="/usr/bin:/usr/sbin")
    if found is None:
        raise RuntimeError("prometheus is not installed: run `make prometheus` (Debian's package)")
    return found


class Exporter:
    """What Prometheus scrapes: series the test sets, on 127.0.0.1 at a free port."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.error_rate = Gauge(
            "model_error_rate", "Share of failed predictions.", ["model", "version"],
            registry=self.registry,
        )  # fmt: skip
        self.requests = Counter(
            "model_requests", "Predictions served.", ["model", "version"], registry=self.registry
        )
        self.server, self.thread = start_http_server(0, "127.0.0.1", registry=self.registry)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.server_port}"

    def set_error_rate(self, model: str, version: int | str, value: float) -> None:
        self.error_rate.labels(model=model, version=str(version)).set(value)

    def count_requests(self, model: str, version: int | str, amount: float = 1) -> None:
        self.requests.labels(model=model, version=str(version)).inc(amount)

    def forget(self, model: str, version: int | str) -> None:
        """Stop exporting the model's series: Prometheus marks them stale at the next scrape."""
        with contextlib.suppress(KeyError):
            self.error_rate.remove(model, str(version))
        with contextlib.suppress(KeyError):
            self.requests.remove(model, str(version))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=STOP_SECONDS)


class PrometheusServer:
    """`start()`/`stop()`; `address` is its base URL; `query` and `wait_for` read its API."""

    def __init__(self, root: Path, exporter: Exporter) -> None:
        self.root = root
        self.exporter = exporter
        self.port = free_port()
        self.log_path = root / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PrometheusServer:
        config = self.root / "prometheus.yml"
        config.write_text(CONFIG.format(target=self.exporter.target))
        (self.root / "data").mkdir(exist_ok=True)
        command = [
            binary(), f"--config.file={config}", f"--storage.tsdb.path={self.root / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", SUPERVISOR, "", *command],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited early:\n{self._log_tail()}")
            try:
                ready = f"{self.address}/-/ready"
                with urllib.request.urlopen(ready, timeout=2) as answer:  # noqa: S310 - http://
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"prometheus not ready within {STARTUP_SECONDS}s:\n{self._log_tail()}"
                )
            time.sleep(POLL_SECONDS)

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def query(self, promql: str) -> Any:
        """The query's `data.result` (the API's own answer, as JSON)."""
        url = f"{self.address}/api/v1/query?{urlencode({'query': promql})}"
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - http://
            return json.load(answer)["data"]["result"]

    def wait_for(
        self, promql: str, holds: Callable[[Any], bool], timeout: float = SCRAPED_SECONDS
    ) -> Any:
        """Poll the query until `holds(result)`; AssertionError (the last result) past `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if holds(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{promql!r} still gives {result!r} after {timeout:g}s")
            time.sleep(POLL_SECONDS)

    def wait_for_value(self, promql: str, value: float, timeout: float = SCRAPED_SECONDS) -> None:
        """Until the query's one sample is `value` (NaN matches NaN)."""

        def shows(result: Any) -> bool:
            if len(result) != 1:
                return False
            got = float(result[0]["value"][1])
            return (math.isnan(got) and math.isnan(value)) or got == value

        self.wait_for(promql, shows, timeout)

    def stop(self) -> None:
        """Stopped at EOF by the supervisor (SIGTERM); the group killed if it hangs."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            process.wait(timeout=STOP_SECONDS)


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A real Prometheus scraping `prometheus.exporter` every second; tests share
    xdist_group(PROMETHEUS_GROUP)."""
    exporter = Exporter()
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), exporter)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        exporter.stop()
