"""Reaching an MLflow registry: its URI, bounded HTTP time, a database probe, errors.

Shared by the registry adapter and the webhook adapter. MLflow is imported lazily:
`import mlflow` takes seconds, and commands that never reach a registry skip it.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import urlsplit

from controller.errors import Fault, RegistryError
from controller.registry.faults import diagnose
from controller.registry.seam import DEFAULT_TIMEOUT_SECONDS, MAX_PARALLELISM, ServerVersion
from controller.registry.uris import (
    ARN_SCHEME,
    REMOTE_SCHEMES,
    check_plugin_uri,
    redact_uri,
    scheme,
)
from controller.secrets import redact

log = logging.getLogger("aliasctl.registry")
DATABASE_SCHEMES = frozenset({"postgresql", "mysql"})  # their drivers take connect_timeout
AUTH_FAILED = (
    "authentication failed (401): check MLFLOW_TRACKING_USERNAME and "
    "MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN"
)
# SageMaker signs requests with SigV4 from botocore's credential chain, not MLflow's variables.
AWS_AUTH_FAILED = (
    "authentication failed (401): check the AWS credentials botocore finds (AWS_PROFILE, "
    "AWS_ACCESS_KEY_ID, a role) and SAGEMAKER_MLFLOW_ASSUME_ROLE_ARN if set"
)


def resolve_uri(registry_uri: str | None) -> str:
    """--registry-uri, else MLflow's own resolution (MLFLOW_REGISTRY_URI, tracking URI, default).

    An `arn:` URI is checked here, before MLflow opens a store: well formed, plugin installed.
    """
    if registry_uri:
        uri = registry_uri
    else:
        import mlflow  # noqa: PLC0415 - keep mlflow out of commands that never reach a registry

        uri = str(mlflow.get_registry_uri())
    check_plugin_uri(uri)
    return uri


def installed_mlflow_version() -> ServerVersion | None:
    """The MLflow this process runs: what answers for a local (database or file) store."""
    from importlib.metadata import version  # noqa: PLC0415

    return ServerVersion.parse(version("mlflow"))


def ask_server_version(uri: str, store: Any) -> ServerVersion | None:
    """`GET /version` of the server behind a REST store, once, without retries.

    None where it cannot be told: a store that is not REST, no answer, not a version.
    """
    if not hasattr(store, "get_host_creds"):
        return None  # a plugin's store that is not REST: nothing to ask
    from mlflow.exceptions import MlflowException  # noqa: PLC0415 - slow import
    from mlflow.utils.rest_utils import http_request  # noqa: PLC0415

    try:
        creds = store.get_host_creds()
        answer = http_request(creds, "/version", "GET", max_retries=0)  # type: ignore[no-untyped-call]
    except (MlflowException, OSError) as error:
        log.debug("no answer from /version: %s", translate_error(uri, error).detail)
        return None
    return ServerVersion.parse(answer.text) if answer.status_code == 200 else None


def bound_http_time(timeout_seconds: float | None) -> None:
    """Make an unreachable server fail within about `timeout_seconds`, not minutes.

    MLflow's client retries 7 times with exponential backoff and a 120 s timeout
    per request by default. Variables the user set explicitly are left alone
    unless --timeout was given.
    """
    budget = timeout_seconds or DEFAULT_TIMEOUT_SECONDS
    retries = 2
    # Backoff sleeps about 0 + 2 s (+ up to 1 s jitter each); the rest is split over attempts.
    per_request = max(1, int((budget - 4) / (retries + 1)))
    settings = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(retries),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(per_request),
    }
    for name, value in settings.items():
        if timeout_seconds is not None or name not in os.environ:
            os.environ[name] = value
    # Keep a connection per parallel writer alive (MLflow's default pool holds 10).
    os.environ.setdefault("MLFLOW_HTTP_POOL_MAXSIZE", str(MAX_PARALLELISM))


def scrub(text: str, uri: str, *extra: str) -> str:
    """`text` without any credential: the environment's, the URI's password and `extra`."""
    return redact(text, [urlsplit(uri).password or "", *extra])


def translate_error(uri: str, error: Exception) -> RegistryError:
    """MLflow's (or a driver's) error as ours: classified, one line, no secret in it."""
    found = diagnose(str(getattr(error, "error_code", "")), str(error))
    detail = found.detail
    if found.fault is Fault.AUTH and scheme(uri) == ARN_SCHEME:
        detail = AWS_AUTH_FAILED
    elif found.fault is Fault.AUTH and scheme(uri) in REMOTE_SCHEMES:
        detail = AUTH_FAILED
    elif found.fault is Fault.AUTH:
        detail = "the database refused the user and password in the URI"
    return RegistryError(redact_uri(uri), scrub(detail, uri), fault=found.fault)


def probe_database(uri: str, timeout_seconds: float) -> None:
    """Reach a database URI once, within the budget, before MLflow does.

    MLflow's SQL store retries a failed first connection 10 times with backoff
    (about 100 s, not configurable) and then raises SQLAlchemy's own error; and on a
    database without its tables it creates them, so an empty one is refused here.
    """
    if scheme(uri).split("+")[0] not in DATABASE_SCHEMES:
        return
    import sqlalchemy  # noqa: PLC0415 - mlflow's own dependency, for this check only

    engine = sqlalchemy.create_engine(
        uri, connect_args={"connect_timeout": max(1, int(timeout_seconds))}
    )
    try:
        with engine.connect() as connection:
            has_registry = sqlalchemy.inspect(connection).has_table("registered_models")
    except sqlalchemy.exc.SQLAlchemyError as error:
        raise translate_error(uri, error) from None
    finally:
        engine.dispose()
    if not has_registry:
        # MLflow would create its schema here: a typo in the database name must not do that.
        raise RegistryError(
            redact_uri(uri),
            "this database holds no MLflow registry (no registered_models table); aliasctl "
            "never creates one: give the database your MLflow server uses",
        )
