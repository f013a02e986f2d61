"""A real MariaDB server on 127.0.0.1 for tests, from Debian's `mariadb-server` (`make mariadb`).

`mariadb-install-db` makes a data folder once per session, then `mariadbd` runs as a
plain process (as the `mysql` user when we are root: mariadbd refuses root unless told).
Settings are given on the command line with `--no-defaults`, so the machine's my.cnf
never changes what is tested: utf8mb4 with MariaDB's default case-insensitive collation
(what Debian configures), strict mode as MariaDB ships it, durability off.

As in tests/postgres.py, a small supervisor process owns the server and stops it when the
test process closes its pipe or dies, so no server outlives the run.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from tests.support.mlflow_server import free_port
from tests.support.postgres import _SUPERVISOR, Secret, SecretUri, _let_traverse

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

STARTUP_SECONDS = 60
STOP_SECONDS = 30
USER = "aliasctl"
TEMPLATE = "mlflow_template"
CHARSET = "utf8mb4"
COLLATION = "utf8mb4_general_ci"  # Debian's default: folds case (and accents)
# PostgreSQL's supervisor, ending the server with SIGTERM: mariadbd ignores SIGINT.
SUPERVISOR = _SUPERVISOR.replace("signal.SIGINT", "signal.SIGTERM")


def _run_as() -> str:
    """Who runs mariadbd: `mysql` when we are root (the package creates that user), else us."""
    return "mysql" if os.geteuid() == 0 else ""


def binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise RuntimeError(f"{name} is not installed: run `make mariadb` (Debian's mariadb-server)")
    return found


class MysqlServer:
    """install-db once, then `start()`/`stop()`; `uri(database)` carries a password."""

    def __init__(self, root: Path, port: int | None = None):
        self.root = root
        self.data = root / "data"
        self.socket = root / "sock"
        self.port = port or free_port()
        self.password = Secret(secrets.token_hex(16))
        self.log_path = root / "mariadb.log"
        self.user = _run_as()
        self.process: subprocess.Popen[bytes] | None = None

    def uri(self, database: str = "") -> SecretUri:
        return SecretUri(
            f"mysql+pymysql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"
            f"?charset={CHARSET}"
        )

    def _install_db(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(mode=0o700)
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            os.chown(self.data, entry.pw_uid, entry.pw_gid)
            _let_traverse(self.root)
        command = [binary("mariadb-install-db"), "--no-defaults", f"--datadir={self.data}"]
        command += ["--auth-root-authentication-method=normal", "--skip-test-db"]
        if self.user:
            command.append(f"--user={self.user}")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"mariadb-install-db failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )

    def start(self) -> MysqlServer:
        fresh = not (self.data / "mysql").exists()
        if fresh:
            self._install_db()
        command = [binary("mariadbd"), "--no-defaults", f"--datadir={self.data}"]
        command += [f"--port={self.port}", "--bind-address=127.0.0.1", f"--socket={self.socket}"]
        command += [f"--character-set-server={CHARSET}", f"--collation-server={COLLATION}"]
        command += [f"--pid-file={self.root / 'mariadbd.pid'}", "--skip-log-bin"]
        # Tests crash MLflow, never MariaDB: durability only costs time here, and one shared
        # tablespace spares a file per table (MLflow's schema has 65).
        command += ["--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0"]
        command += ["--innodb-file-per-table=0", "--innodb-buffer-pool-size=64M"]
        command += ["--max-connections=400"]
        if self.user:
            command.append(f"--user={self.user}")
        with self.log_path.open("ab") as log:
            # mariadbd demotes itself (--user): the supervisor runs it as is.
            self.process = subprocess.Popen(
                [sys.executable, "-c", SUPERVISOR, "", *command],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self._wait_ready()
        if fresh:
            self._create_user()
        return self

    def _root_connect(self) -> Any:
        import pymysql  # noqa: PLC0415

        # install-db leaves root passwordless on the socket (normal authentication).
        return pymysql.connect(unix_socket=str(self.socket), user="root", autocommit=True)

    def _wait_ready(self) -> None:
        """Until the socket takes a connection: mariadbd opens it once it is ready.

        A plain socket, not pymysql: a refused pymysql connect leaks its socket (a
        ResourceWarning, an error under this suite's filterwarnings)."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if self.process is not None and self.process.poll() is not None:
                log = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"mariadbd exited early:\n{log}")
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                try:
                    probe.connect(str(self.socket))
                    return
                except OSError:
                    pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mariadbd did not answer within {STARTUP_SECONDS}s")
            time.sleep(0.1)

    def _create_user(self) -> None:
        """A password user over TCP, as in production (the URI then carries a password)."""
        with contextlib.closing(self._root_connect()) as connection, connection.cursor() as cursor:
            cursor.execute(f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY %s", (self.password,))
            cursor.execute(f"GRANT ALL ON *.* TO '{USER}'@'127.0.0.1'")

    def stop(self) -> None:
        """Normal shutdown at EOF (the supervisor signals it); kill the group if it hangs."""
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
    def connect(self, database: str | None = None) -> Iterator[Any]:
        import pymysql  # noqa: PLC0415

        connection = pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user=USER,
            password=self.password,
            database=database,
            charset=CHARSET,
            autocommit=True,
        )
        with contextlib.closing(connection):
            yield connection

    def execute(self, statement: str, *params: object) -> tuple[Any, ...]:
        with self.connect() as connection, connection.cursor() as cursor:
            cursor.execute(statement, params or None)
            return tuple(cursor.fetchall())

    def table_count(self, database: str) -> int:
        rows = self.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", database
        )
        return int(rows[0][0])

    def create_database(self, name: str) -> SecretUri:
        self.execute(f"CREATE DATABASE `{name}` CHARACTER SET {CHARSET} COLLATE {COLLATION}")
        return self.uri(name)

    def create_mlflow_template(self, name: str = TEMPLATE) -> str:
        """A database holding MLflow's whole schema, migrated once, to copy per test."""
        import sqlalchemy  # noqa: PLC0415
        from mlflow.store.db.utils import _initialize_tables  # noqa: PLC0415

        uri = self.create_database(name)
        engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
        try:
            _initialize_tables(engine)  # type: ignore[no-untyped-call]
        finally:
            engine.dispose()
        return name

    def copy_database(self, template: str, name: str) -> SecretUri:
        """MariaDB has no CREATE DATABASE ... TEMPLATE: copy each table's definition and rows
        (MLflow's migrations take many seconds; a copy a fraction of one)."""
        uri = self.create_database(name)
        with self.connect(name) as connection, connection.cursor() as cursor:
            cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
            cursor.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
                (template,),
            )
            for (table,) in cursor.fetchall():
                cursor.execute(f"SHOW CREATE TABLE `{template}`.`{table}`")
                create = cursor.fetchone()[1]
                cursor.execute(create)  # unqualified: lands in `name`, foreign keys included
                # Names from the server's own catalogue, never from input.
                copy = f"INSERT INTO `{table}` SELECT * FROM `{template}`.`{table}`"  # noqa: S608
                cursor.execute(copy)
        return uri
