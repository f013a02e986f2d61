"""An `mlflow server` that sends webhooks to 127.0.0.1, and a local receiver for them.

Tests that use the `webhook_server` fixture share one server per xdist worker: mark
them `pytest.mark.xdist_group(WEBHOOK_GROUP)` so they all land on the same worker.
The server's webhook list is cached for `CACHE_TTL_SECONDS`: a webhook created or
changed may miss events for that long, so wait for deliveries, never sleep.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.support.mlflow_server import MlflowServer

if TYPE_CHECKING:
    from pathlib import Path

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
