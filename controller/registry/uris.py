"""Registry URIs: resolving, printing safely, and the local-store pitfalls caught before MLflow.

MLflow would quietly create an empty SQLite database at a mistyped path, read
`/mlruns` for `file://./mlruns` (the `.` is parsed as a host), and answer a
file store that is switched off with a 600-character paragraph. Each of these
gets one clear line here instead.

SageMaker's managed MLflow is reached through an ARN (`arn:aws:sagemaker:REGION:ACCOUNT:
mlflow-tracking-server/NAME`, or `...:mlflow-app/ID`) that only the `sagemaker-mlflow`
plugin resolves; without it MLflow lists every scheme it knows in a paragraph. An ARN
holds the account id: not a secret, but printed masked, since plans go to pull requests.
"""

from __future__ import annotations

import os
import re
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from controller.errors import RegistryError

FILE_STORE_SWITCH = "MLFLOW_ALLOW_FILE_STORE"
ARN_SCHEME = "arn"  # SageMaker's managed MLflow, through the sagemaker-mlflow plugin
REMOTE_SCHEMES = frozenset({"http", "https", "databricks", "databricks-uc", ARN_SCHEME})
SAGEMAKER_EXTRA = "aliasctl[sagemaker]"
# The partitions and resource types the plugin resolves (sagemaker-mlflow 0.2 to 0.5).
SAGEMAKER_ARN = re.compile(
    r"arn:(?:aws|aws-us-gov):sagemaker:[a-z0-9-]+:(?P<account>\d{12}):"
    r"(?:mlflow-tracking-server|mlflow-app)/[A-Za-z0-9][A-Za-z0-9._-]*"
)
SAGEMAKER_ARN_SHAPE = (
    "arn:aws:sagemaker:REGION:ACCOUNT:mlflow-tracking-server/NAME or ...:mlflow-app/ID"
)
# Where MLflow looks for a registry store of another scheme (the plugin registers `arn`).
REGISTRY_STORE_PLUGINS = "mlflow.model_registry_store"


def redact_uri(uri: str) -> str:
    """A registry URI safe to print: no user, password or query string; an ARN's account
    id masked but for its last four digits (enough to tell two accounts apart)."""
    if scheme(uri) == ARN_SCHEME:
        fields = uri.split(":")
        if len(fields) > 4 and fields[4].isdigit():
            fields[4] = "*" * max(0, len(fields[4]) - 4) + fields[4][-4:]
        return ":".join(fields)
    parts = urlsplit(uri)
    if not parts.netloc:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


BARE_SCHEMES = frozenset({"databricks", "databricks-uc"})
# Registries that copy each new version's files into storage of its own.
COPYING_SCHEMES = BARE_SCHEMES


def scheme(uri: str) -> str:
    """The URI's scheme; a bare path is MLflow's file store."""
    if uri in BARE_SCHEMES:  # MLflow takes "databricks-uc" alone for Unity Catalog
        return uri
    found = urlsplit(uri).scheme
    # A Windows drive letter ("C:\\mlruns") parses as a one-letter scheme.
    return "file" if not found or len(found) == 1 else found


def is_file_store(uri: str) -> bool:
    return scheme(uri) == "file"


def check_plugin_uri(uri: str) -> None:
    """An `arn:` URI must be a SageMaker MLflow ARN, and the plugin that resolves it there.

    Checked before `import mlflow`: nothing is read or written when either is missing.
    """
    if scheme(uri) != ARN_SCHEME:
        return
    if SAGEMAKER_ARN.fullmatch(uri) is None:
        raise RegistryError(
            redact_uri(uri),
            f"not a SageMaker MLflow ARN (expected {SAGEMAKER_ARN_SHAPE})",
        )
    if not entry_points(group=REGISTRY_STORE_PLUGINS, name=ARN_SCHEME):
        raise RegistryError(
            redact_uri(uri),
            f"the arn: registry URI needs the SageMaker plugin: pip install '{SAGEMAKER_EXTRA}'",
        )


def check_local_uri(uri: str) -> None:
    """Refuse local URIs that would silently point somewhere else than the user meant."""
    if uri.startswith("sqlite:///"):
        _check_sqlite(uri)
    elif is_file_store(uri):
        _check_file_store(uri)


def _check_sqlite(uri: str) -> None:
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    if path and path != ":memory:" and not Path(path).exists():
        raise RegistryError(
            uri,
            f"no registry database at {path} (run from the directory that holds it, "
            "or pass --registry-uri)",
        )


def _check_file_store(uri: str) -> None:
    parts = urlsplit(uri)
    if parts.scheme == "file" and parts.netloc not in {"", "localhost"}:
        meant = f"file:{parts.netloc}{parts.path}"
        raise RegistryError(
            redact_uri(uri),
            f"'{parts.netloc}' is the host part of this file: URI, so MLflow would read "
            f"{parts.path or '/'}; write {meant} for a path relative to the working directory, "
            "or file:///absolute/path",
        )
    if os.environ.get(FILE_STORE_SWITCH, "").lower() not in {"1", "true", "yes"}:
        raise RegistryError(
            uri,
            f"MLflow's file store is in maintenance mode and switched off: set "
            f"{FILE_STORE_SWITCH}=true, or migrate with `mlflow migrate-filestore`",
        )
    path = Path(parts.path) if parts.scheme == "file" else Path(uri)
    if not path.is_dir():
        raise RegistryError(uri, f"no file store at {path} (pass --registry-uri)")
