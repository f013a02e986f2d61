"""A database URI (PostgreSQL, MySQL) reached straight, before MLflow is let near it.

The same three refusals on both backends: nothing listens, a wrong password, a database
without MLflow's tables. Each is one line, within the --timeout, with no password in it,
and the database is left as it was (MLflow would create its schema in an empty one).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

import pytest

from controller.registry.uris import redact_uri
from tests.conftest import invoke, write_spec
from tests.support.mlflow_server import free_port

if TYPE_CHECKING:
    from pathlib import Path


class DatabaseServer(Protocol):
    def create_database(self, name: str) -> str: ...

    def table_count(self, database: str) -> int: ...


@dataclass(frozen=True)
class Backend:
    scheme: str
    uri: str  # a database with MLflow's schema in it
    server: DatabaseServer


@pytest.fixture(
    params=[
        pytest.param("postgres", marks=pytest.mark.xdist_group("postgres")),
        pytest.param("mysql", marks=pytest.mark.xdist_group("mysql")),
    ]
)
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "postgres":
        return Backend(
            "postgresql",
            request.getfixturevalue("postgres_uri"),
            request.getfixturevalue("postgres_server"),
        )
    return Backend(
        "mysql+pymysql",
        request.getfixturevalue("mysql_uri"),
        request.getfixturevalue("mysql_server"),
    )


@pytest.mark.parametrize("scheme", ["postgresql", "mysql+pymysql"])
def test_an_unreachable_database_is_one_line_within_the_timeout(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, scheme: str
) -> None:
    spec = write_spec(tmp_path / "a.yaml", {"bikes": {"champion": 1}})
    uri = f"{scheme}://aliasctl:not-a-real-pw@127.0.0.1:{free_port()}/mlflow"
    code, out, err = invoke(capsys, "plan", str(spec), "--registry-uri", uri, "--timeout", "3")
    assert code == 1
    assert err.strip().splitlines() == [
        f"Error: registry {redact_uri(uri)}: cannot reach the registry: it refused connections"
    ]
    assert "not-a-real-pw" not in out + err


def test_a_wrong_database_password_is_one_line_and_never_printed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, backend: Backend
) -> None:
    parts = urlsplit(backend.uri)
    wrong = backend.uri.replace(f":{parts.password}@", ":wrong-password-123@", 1)
    spec = write_spec(tmp_path / "a.yaml", {"bikes": {"champion": 1}})
    code, out, err = invoke(capsys, "plan", str(spec), "--registry-uri", wrong, "--debug")
    assert code == 1
    assert "the database refused the user and password in the URI" in err
    assert "Traceback" not in err
    assert "wrong-password-123" not in out + err
    assert str(parts.password) not in out + err


def test_an_empty_database_is_refused_and_left_empty(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, backend: Backend
) -> None:
    """A typo in the database name must not give some other database MLflow's schema."""
    name = f"empty_{uuid.uuid4().hex[:12]}"
    uri = str(backend.server.create_database(name))
    spec = write_spec(tmp_path / "a.yaml", {"bikes": {"champion": 1}})
    code, out, err = invoke(capsys, "plan", str(spec), "--registry-uri", uri)
    assert code == 1
    assert str(urlsplit(uri).password) not in out + err
    assert err.strip().splitlines() == [
        f"Error: registry {redact_uri(uri)}: this database holds no MLflow registry "
        "(no registered_models table); aliasctl never creates one: give the database your "
        "MLflow server uses"
    ]
    assert backend.server.table_count(name) == 0
