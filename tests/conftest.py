"""Real registries for tests: SQLite per test, one `mlflow server` per session for REST."""

from __future__ import annotations

import os
import shutil
import uuid
import warnings
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pytest

from controller.cli.root import main
from tests.support.auth_server import AuthServer
from tests.support.gitrepo import GitRepo, isolate_git
from tests.support.mlflow_server import MlflowServer
from tests.support.mysql import MysqlServer
from tests.support.old_server import OldMlflowServer, version_params
from tests.support.postgres import PostgresServer
from tests.support.webhook_server import new_webhook_server

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from datetime import datetime
    from pathlib import Path

    from tests.support.environments import Staged
    from tests.support.logged_models import LoggedRegistry

# The headless-Chromium fixtures (chromium, desktop_page, phone_page, artifacts) and serve_html;
# a real Prometheus scraping an exporter the test controls (prometheus);
# xdist_group honoured under pytest 9.2 (tests/xdist_groups.py).
pytest_plugins = [
    "tests.support.browser",
    "tests.support.prometheus",
    "tests.support.xdist_groups",
]

# Keep MLflow quiet and local: no telemetry, no progress bars, no user config.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
for leaked in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "ALIASCTL_REGISTRY_URI"):
    os.environ.pop(leaked, None)


class Server(Protocol):
    def start(self) -> object: ...

    def stop(self) -> None: ...


S = TypeVar("S", bound=Server)


def running(server: S) -> Iterator[S]:
    """A session server for a fixture: started, yielded, stopped however the session ends."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _restore_mlflow_http_settings() -> Iterator[None]:
    """The adapter bounds MLflow's HTTP time through process-wide variables (a `--timeout 3`
    run leaves a 1 s request timeout behind): restore them, so that no test, nor a process
    a test starts, inherits another test's bound."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_HTTP_")}
    yield
    for name in [k for k in os.environ if k.startswith("MLFLOW_HTTP_")]:
        del os.environ[name]
    os.environ.update(saved)


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite registry, copied per test: migrations take seconds, a copy does not."""
    from mlflow import MlflowClient  # noqa: PLC0415

    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    uri = f"sqlite:///{path}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models()
    return path


@pytest.fixture
def sqlite_uri(tmp_path: Path, _template_db: Path) -> str:
    path = tmp_path / "mlflow.db"
    shutil.copy(_template_db, path)
    return f"sqlite:///{path}"


def client_for(uri: str) -> Any:
    from mlflow import MlflowClient  # noqa: PLC0415

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def seed(uri: str, models: Mapping[str, int], aliases: Mapping[str, Mapping[str, int]] = {}) -> Any:
    """Create models with N READY versions each (sources need not exist) and set aliases."""
    client = client_for(uri)
    for name, versions in models.items():
        client.create_registered_model(name)
        for number in range(1, versions + 1):
            client.create_model_version(name, f"s3://aliasctl-tests/{name}/{number}")
    for name, wanted in aliases.items():
        for alias, version in wanted.items():
            client.set_registered_model_alias(name, alias, str(version))
    return client


def live_aliases(uri: str, name: str) -> dict[str, int]:
    model = client_for(uri).get_registered_model(name)
    return {alias: int(version) for alias, version in model.aliases.items()}


@pytest.fixture(scope="session")
def relative(tmp_path_factory: pytest.TempPathFactory) -> LoggedRegistry:
    """Real logged models for the gates relative to the current version (relative_models.py)."""
    from tests.support.relative_models import build  # noqa: PLC0415

    # Building fixtures with mlflow's logging API warns about its own type hints: not ours.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build(tmp_path_factory.mktemp("relative"))


@pytest.fixture(scope="session")
def mlflow_server(
    tmp_path_factory: pytest.TempPathFactory, _template_db: Path
) -> Iterator[MlflowServer]:
    root = tmp_path_factory.mktemp("server")
    shutil.copy(_template_db, root / "mlflow.db")  # skip the server's own migrations
    server = MlflowServer(root, workers=2)
    yield from running(server)


@pytest.fixture(scope="session")
def auth_server(
    tmp_path_factory: pytest.TempPathFactory, _template_db: Path
) -> Iterator[AuthServer]:
    """`mlflow server --app-name basic-auth`; tests using it share xdist_group("auth")."""
    root = tmp_path_factory.mktemp("auth-server")
    shutil.copy(_template_db, root / "mlflow.db")  # the tracking store's migrations, not auth's
    server = AuthServer(root)
    yield from running(server)


@pytest.fixture(scope="session")
def webhook_server(
    tmp_path_factory: pytest.TempPathFactory, _template_db: Path
) -> Iterator[MlflowServer]:
    """An `mlflow server` that delivers webhooks to 127.0.0.1 over http, its webhook list
    cached for 1 s; tests using it share xdist_group(tests.support.webhook_server.WEBHOOK_GROUP)."""
    root = tmp_path_factory.mktemp("webhook-server")
    shutil.copy(_template_db, root / "mlflow.db")  # skip the server's own migrations
    yield from running(new_webhook_server(root))


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One PostgreSQL server per session (per xdist worker), started by the first test to ask."""
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    yield from running(server)


@pytest.fixture(scope="session", params=version_params())
def old_mlflow_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OldMlflowServer]:
    """An older MLflow server on its own fresh SQLite, once per version in
    ALIASCTL_OLD_MLFLOW_VERSIONS (tests/old_server.py); the tests on one version share
    xdist_group("old-<version>")."""
    version: str = request.param
    server = OldMlflowServer(tmp_path_factory.mktemp(f"old-server-{version}"), version)
    yield from running(server)


@pytest.fixture
def mlflow_http_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow's own HTTP timeout and retries for this test's set-up.

    The CLI, run in-process by earlier tests, leaves its --timeout budget in os.environ;
    a 1 s read timeout makes seeding a busy server retry a create and fail on its own write.
    """
    for name in ("TIMEOUT", "MAX_RETRIES", "BACKOFF_FACTOR"):
        monkeypatch.delenv(f"MLFLOW_HTTP_REQUEST_{name}", raising=False)


@pytest.fixture(scope="session")
def _postgres_template(postgres_server: PostgresServer) -> str:
    """MLflow's migrations run once, into a template database that each test copies."""
    return postgres_server.create_mlflow_template()


@pytest.fixture
def postgres_uri(postgres_server: PostgresServer, _postgres_template: str) -> str:
    """A `postgresql://` URI (with a password) of a fresh database holding MLflow's schema."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    return postgres_server.create_database(name, template=_postgres_template)


@pytest.fixture(scope="session")
def postgres_mlflow_server(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer,
    _postgres_template: str,
) -> Iterator[MlflowServer]:
    """A real `mlflow server` whose backend store is a PostgreSQL database of its own."""
    backend = postgres_server.create_database("mlflow_server", template=_postgres_template)
    # One worker: each worker imports MLflow at start, and the crash test restarts it.
    server = MlflowServer(tmp_path_factory.mktemp("pg-mlflow"), workers=1, backend_uri=backend)
    yield from running(server)


@pytest.fixture(scope="session")
def mysql_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MysqlServer]:
    """One MariaDB server per session (per xdist worker); tests using it share
    xdist_group("mysql")."""
    server = MysqlServer(tmp_path_factory.mktemp("mysql"))
    yield from running(server)


@pytest.fixture(scope="session")
def _mysql_template(mysql_server: MysqlServer) -> str:
    """MLflow's migrations run once, into a database that each test copies."""
    return mysql_server.create_mlflow_template()


@pytest.fixture(scope="session")
def mysql_uri(mysql_server: MysqlServer, _mysql_template: str) -> str:
    """A `mysql+pymysql://` URI (with a password) of a database holding MLflow's schema, one
    per session like the server's: tests keep apart by `unique` names and instances (a copy
    per test cost 1 to 2.5 s each on a loaded machine: MariaDB creates 65 tables)."""
    return mysql_server.copy_database(_mysql_template, "mlflow_direct")


@pytest.fixture(scope="session")
def mysql_mlflow_server(
    tmp_path_factory: pytest.TempPathFactory, mysql_server: MysqlServer, _mysql_template: str
) -> Iterator[MlflowServer]:
    """A real `mlflow server` whose backend store is a MariaDB database of its own."""
    backend = mysql_server.copy_database(_mysql_template, "mlflow_server")
    server = MlflowServer(tmp_path_factory.mktemp("mysql-mlflow"), workers=1, backend_uri=backend)
    yield from running(server)


@pytest.fixture
def unique() -> str:
    """A model-name prefix, so tests sharing the session server never collide."""
    return f"t{uuid.uuid4().hex[:8]}"


def write_spec(path: Path, declared: Mapping[str, Mapping[str, int]]) -> Path:
    """The file declaring `declared`; no models at all is `models: {}`, a valid empty file."""
    lines = ["models:" + (" {}" if not declared else "")]
    for model, aliases in declared.items():
        lines += [f"  {model}:", "    aliases:" + (" {}" if not aliases else "")]
        lines += [f"      {alias}: {version}" for alias, version in aliases.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def invoke(
    capsys: pytest.CaptureFixture[str], *args: str, now: datetime | None = None
) -> tuple[int, str, str]:
    """Run the CLI in-process (no mlflow import per call): exit code, stdout, stderr.

    `now` fixes the clock that promotion windows and freezes are judged at.
    """
    with pytest.raises(SystemExit) as exited:
        main(list(args), now=now)
    out, err = capsys.readouterr()
    code = exited.value.code
    assert isinstance(code, int)
    return code, out, err


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    """A fresh git repository; git (ours and the controller's) ignores the user's config."""
    isolate_git(monkeypatch, tmp_path)
    return GitRepo.init(tmp_path / "repo")


# Environments: two registries of their own (issue 20). Tests using them share
# xdist_group("environments"), so one worker starts both.
def _environment_server(root: Path, template: Path) -> MlflowServer:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, root / "mlflow.db")  # skip the server's own migrations
    # Artifacts only through the server: both hand out `mlflow-artifacts:/` URIs, so a
    # download resolved by the wrong server fails instead of reading the other's files.
    return MlflowServer(root, workers=1, proxy_artifacts=True)


@pytest.fixture(scope="session")
def staging_server(
    tmp_path_factory: pytest.TempPathFactory, _template_db: Path
) -> Iterator[MlflowServer]:
    """A staging `mlflow server`: its own database and artifact store."""
    yield from running(_environment_server(tmp_path_factory.mktemp("staging"), _template_db))


@pytest.fixture(scope="session")
def production_server(
    tmp_path_factory: pytest.TempPathFactory, _template_db: Path
) -> Iterator[MlflowServer]:
    """A production `mlflow server`: its own database and artifact store."""
    yield from running(_environment_server(tmp_path_factory.mktemp("production"), _template_db))


@pytest.fixture(scope="session")
def staged(staging_server: MlflowServer) -> Staged:
    """A real scikit-learn version logged to staging once (tests/support/environments.py)."""
    from tests.support.environments import stage_model  # noqa: PLC0415

    # mlflow's logging API warns about its own type hints: not ours.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return stage_model(staging_server.uri)
