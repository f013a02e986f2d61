"""`aliasctl serve` as a real subprocess, and a few HTTP helpers to watch it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, TypeVar

from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

STARTUP_SECONDS = 60.0
_LISTENING = re.compile(r"serving on (http://\S+?) ")
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], seconds: float, what: str) -> T:
    """Poll `check` until it returns something truthy, or fail naming `what`."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")
        time.sleep(0.1)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - our own server
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def post(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, body, dict(headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def metric(text: str, name: str, **labels: str) -> float | None:
    """One sample's value from a /metrics page, parsed by prometheus_client's own parser."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


class ServeProcess:
    def __init__(self, root: Path, args: Sequence[str], env: Mapping[str, str]) -> None:
        self.log_path = root / "serve.log"
        self._log = self.log_path.open("wb")
        command = [sys.executable, "-m", "controller", "serve", "--listen", "127.0.0.1:0", *args]
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **env}
        )
        self.url = wait_for(self._listening, STARTUP_SECONDS, "aliasctl serve to listen")

    def _listening(self) -> str | None:
        if self.process.poll() is not None:
            self._log.close()
            raise AssertionError(f"aliasctl serve exited early:\n{self.log()}")
        found = _LISTENING.search(self.log())
        return found.group(1) if found else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics(self) -> str:
        status, body = get(f"{self.url}/metrics")
        assert status == 200, body
        return body

    def ready(self) -> bool:
        return get(f"{self.url}/readyz")[0] == 200

    def stop(self, seconds: float = 60) -> int:
        """SIGTERM, then wait for a clean exit; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"aliasctl serve ignored SIGTERM:\n{self.log()}") from None
        finally:
            self._log.close()
        return code
