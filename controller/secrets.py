"""Secrets never reach any output: one notion of what is secret, one function that hides it.

What is secret: the value of every credential variable MLflow and its plugins read
(MLflow's, Databricks', AWS', Azure's, Google's, GitHub's), of aliasctl's own webhook and
notification secrets, of any variable whose name says token, secret, password or key,
the password of any URI in the environment, and values the process learns at run time
(the password of a --registry-uri). Where it is hidden: `aliasctl`'s entry point routes
standard output and standard error through `RedactingStream`, so every line the CLI, a log
handler or MLflow itself prints passes `redact`; `serve` also redacts every HTTP body it
sends (status page, status JSON, metrics) and every notification.
"""

from __future__ import annotations

import os
import re
import threading
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

MASK = "***"
# Shorter values ("1", "true", a region) are settings, not secrets, and masking them would
# mangle ordinary text.
MIN_SECRET_LENGTH = 6
CREDENTIAL_VARIABLES = frozenset(
    {
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_TOKEN",
        "MLFLOW_FLASK_SERVER_SECRET_KEY",
        "MLFLOW_AUTH_ADMIN_PASSWORD",
        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY",
        "DATABRICKS_TOKEN",
        "DATABRICKS_PASSWORD",
        "DATABRICKS_CLIENT_SECRET",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AZURE_CLIENT_SECRET",
        "AZURE_STORAGE_ACCESS_KEY",
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_STORAGE_SAS_TOKEN",
        "GOOGLE_APPLICATION_CREDENTIALS_JSON",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "ALIASCTL_WEBHOOK_SECRET",
        "ALIASCTL_NOTIFY_SECRET",
        "ALIASCTL_STATUS_TOKEN",
    }
)
# Plugins bring variables of their own: a name that says what it holds is taken at its word.
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE_KEY|ACCESS_KEY|API_KEY|CONNECTION_STRING",
    re.IGNORECASE,
)

_learned: set[str] = set()
_learned_lock = threading.Lock()


def remember(*values: str | None) -> None:
    """Values learned at run time that are secret too (a URI's password)."""
    with _learned_lock:
        _learned.update(v for v in values if v and len(v) >= MIN_SECRET_LENGTH)


def is_secret_name(name: str) -> bool:
    """Whether a variable's name says its value is secret (a credential, a token)."""
    return name in CREDENTIAL_VARIABLES or SECRET_NAME.search(name) is not None


def holds_secret(name: str, value: str) -> bool:
    """Whether a variable is secret by its name or carries a URI with a password: what a
    child process is not given (an analysis' command)."""
    return is_secret_name(name) or ("://" in value and bool(_password(value)))


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value known now, longest first (so no part of one is left showing)."""
    env = os.environ if env is None else env
    found = set()
    for name, value in env.items():
        if is_secret_name(name):
            found.add(value)
        if "://" in value:
            found.add(_password(value))
    with _learned_lock:
        found |= _learned
    return sorted((v for v in found if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def _password(uri: str) -> str:
    try:
        return urlsplit(uri.strip()).password or ""
    except ValueError:
        return ""


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """`text` with every secret value replaced by ***."""
    for secret in [*secret_values(), *(e for e in extra if len(e) >= MIN_SECRET_LENGTH)]:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingStream:
    """A text stream that redacts everything written through it (the CLI's stdout, stderr)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(redact(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, fileno: the stream's own
        return getattr(self.stream, name)
