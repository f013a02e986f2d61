"""A real `mlflow server` subprocess on 127.0.0.1, for the REST path (tests and bench)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path
    from types import TracebackType

STARTUP_SECONDS = 240  # generous: a loaded 2-core machine starts it slowly


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class MlflowServer:
    """Start with `start()`, stop with `stop()`; restartable on the same port and database."""

    def __init__(
        self,
        root: Path,
        port: int | None = None,
        workers: int = 2,
        *,
        backend_uri: str | None = None,
        python: str = sys.executable,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        startup_seconds: float = STARTUP_SECONDS,
        proxy_artifacts: bool = False,
    ):
        """`python` may be another venv's (an older MLflow); `env` adds to this process's.
        `proxy_artifacts`: clients reach root/artifacts only through the server
        (`mlflow-artifacts:/` URIs), as with a bucket the clients cannot see."""
        self.root = root
        self._backend_uri = backend_uri
        self.port = port or free_port()
        self.workers = workers
        self.python = python
        self.extra_args = tuple(extra_args)
        self.env = dict(env or {})
        self.startup_seconds = startup_seconds
        self.proxy_artifacts = proxy_artifacts
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = root / "server.log"

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def backend_uri(self) -> str:
        """The store the server writes to: `backend_uri` if given, else root/mlflow.db."""
        return self._backend_uri or f"sqlite:///{self.root / 'mlflow.db'}"

    def start(self) -> MlflowServer:
        self.root.mkdir(parents=True, exist_ok=True)
        command = [
            self.python,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--backend-store-uri",
            self.backend_uri,
            *self._artifact_args(),
            *self.extra_args,
        ]
        # No background job runner: its idle worker processes only take CPU from the test.
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            **self.env,
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self._wait_ready()
        return self

    def _artifact_args(self) -> list[str]:
        if self.proxy_artifacts:
            destination = str(self.root / "artifacts")
            return [
                "--default-artifact-root",
                "mlflow-artifacts:/",
                "--artifacts-destination",
                destination,
            ]
        return ["--default-artifact-root", str(self.root / "artifacts")]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_seconds
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                log = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"mlflow server exited early:\n{log}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer within {self.startup_seconds:g}s")

    def stop(self) -> None:
        """Kill the whole server process group at once, as a crash would."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, 9)
        self.process.wait(timeout=30)
        self.process = None

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
