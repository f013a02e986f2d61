"""A real `mlflow server --app-name basic-auth` for tests: users, grants, and who is calling.

Every password is generated per run and lives only in this process and the server's
environment. Admin calls (create a user, grant, seed models) run with the admin's
credentials in MLflow's variables for their duration and restore the caller's after,
so a test that has logged in as a bot stays logged in as that bot.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import warnings
from typing import TYPE_CHECKING, Any

from tests.support.mlflow_server import MlflowServer

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import pytest

ADMIN = "admin"
USERNAME_VAR = "MLFLOW_TRACKING_USERNAME"
PASSWORD_VAR = "MLFLOW_TRACKING_PASSWORD"
LEVELS = ("READ", "USE", "EDIT", "MANAGE")
# First start migrates the auth database and hashes the admin password: slow on a busy machine.
AUTH_STARTUP_SECONDS = 240

# `default_permission` is what a user gets on a model nobody granted them; MLflow ships READ.
# NO_PERMISSIONS makes a bot hold exactly what a test grants. The credential cache skips a
# PBKDF2 hash per request (about 1 s each on a loaded 2-core machine); with one worker it is
# never stale, and it caches only successful logins, so wrong passwords still fail.
CONFIG = """\
[mlflow]
default_permission = NO_PERMISSIONS
database_uri = sqlite:///{db}
admin_username = {admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
grant_default_workspace_access = false
auth_cache_ttl_seconds = 600
"""


def basic_token(username: str, password: str) -> str:
    """The value of an Authorization: Basic header, to check it never leaks either."""
    return base64.b64encode(f"{username}:{password}".encode()).decode()


class AuthServer:
    """One basic-auth server; `passwords` maps each user it created to their password."""

    def __init__(self, root: Path):
        self.root = root
        self.passwords = {ADMIN: secrets.token_urlsafe(24)}
        config = root / "basic_auth.ini"
        root.mkdir(parents=True, exist_ok=True)
        config.write_text(CONFIG.format(db=root / "basic_auth.db", admin=ADMIN))
        env = {
            "MLFLOW_AUTH_CONFIG_PATH": str(config),
            "MLFLOW_AUTH_ADMIN_PASSWORD": self.passwords[ADMIN],
            "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
        }
        self.server = MlflowServer(
            root,
            workers=1,
            extra_args=("--app-name", "basic-auth"),
            env=env,
            startup_seconds=AUTH_STARTUP_SECONDS,
        )

    @property
    def uri(self) -> str:
        return self.server.uri

    @property
    def log_path(self) -> Path:
        return self.server.log_path

    def start(self) -> AuthServer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @contextlib.contextmanager
    def as_user(self, username: str, password: str | None = None) -> Iterator[None]:
        """MLflow clients created or called inside act as `username`; the caller's login after."""
        saved = {name: os.environ.get(name) for name in (USERNAME_VAR, PASSWORD_VAR)}
        os.environ[USERNAME_VAR] = username
        os.environ[PASSWORD_VAR] = self.passwords[username] if password is None else password
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def login(self, monkeypatch: pytest.MonkeyPatch, username: str, password: str = "") -> None:
        """For the rest of the test, aliasctl (in-process) calls as `username`."""
        monkeypatch.setenv(USERNAME_VAR, username)
        monkeypatch.setenv(PASSWORD_VAR, password or self.passwords[username])

    def _auth_client(self) -> Any:
        with warnings.catch_warnings():
            # The auth app imports starlette's deprecated WSGI middleware (not our code).
            warnings.filterwarnings("ignore", "starlette.middleware.wsgi is deprecated")
            from mlflow.server import get_app_client  # noqa: PLC0415

            return get_app_client("basic-auth", self.uri)

    def create_user(self, username: str) -> str:
        """A new user with no permissions at all; returns the generated password."""
        password = secrets.token_urlsafe(18)
        with self.as_user(ADMIN):
            self._auth_client().create_user(username, password)
        self.passwords[username] = password
        return password

    def grant(self, username: str, model: str, level: str) -> None:
        """Give `username` exactly `level` on registered model `model` (replacing any grant)."""
        from mlflow.exceptions import MlflowException  # noqa: PLC0415

        assert level in LEVELS, level
        with self.as_user(ADMIN):
            auth = self._auth_client()
            try:
                auth.grant_user_permission(username, "registered_model", model, level)
            except MlflowException as error:
                if error.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                auth.revoke_user_permission(username, "registered_model", model)
                auth.grant_user_permission(username, "registered_model", model, level)

    def permission(self, username: str, model: str) -> str:
        with self.as_user(ADMIN):
            found = self._auth_client().get_user_permission(username, "registered_model", model)
        return str(found.permission)

    def admin_client(self) -> Any:
        """An MlflowClient for the server; call it inside `as_user(ADMIN)`."""
        from mlflow import MlflowClient  # noqa: PLC0415

        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
