"""Secrets never reach any output: planted credentials, looked for in every output.

The secret is planted where a message will quote it (a folder name, a URI's password),
the way a real error quotes a path or a URL it was given.
"""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING

import pytest

from controller.secrets import (
    MASK,
    RedactingStream,
    holds_secret,
    is_secret_name,
    redact,
    remember,
    secret_values,
)
from tests.conftest import invoke, seed, write_spec
from tests.support.receiver import Receiver
from tests.support.serve_process import ServeProcess, get, wait_for

if TYPE_CHECKING:
    from pathlib import Path

PLANTED = {
    "MLFLOW_TRACKING_PASSWORD": "planted-mlflow-pw-1",
    "DATABRICKS_CLIENT_SECRET": "planted-dbx-secret-2",
    "AWS_SECRET_ACCESS_KEY": "plantedAwsSecret3",
    "AZURE_CLIENT_SECRET": "planted-azure-secret-4",
    "SOMEPLUGIN_API_KEY": "planted-plugin-key-5",  # a plugin's own variable, by its name
    "ALIASCTL_NOTIFY_SECRET": "planted-notify-secret-6",
}


def test_what_counts_as_secret() -> None:
    env = {
        **PLANTED,
        "MLFLOW_TRACKING_URI": "https://bot:planted-uri-pw@mlflow.internal",
        "AWS_REGION": "eu-west-1",  # a setting, not a secret
        "SOME_TOKEN": "abc",  # too short to be one: masking it would mangle text
    }
    found = secret_values(env)
    # Other tests in this process may have taught it secrets of their own (`remember`).
    assert set(found) >= {*PLANTED.values(), "planted-uri-pw"}
    assert not {"eu-west-1", "abc"} & set(found)
    assert found == sorted(found, key=len, reverse=True)


def test_which_variables_a_child_process_is_not_given() -> None:
    assert all(is_secret_name(name) for name in PLANTED)
    assert is_secret_name("AWS_SECRET_ACCESS_KEY")
    assert is_secret_name("my_service_api_key")  # a plugin's own name, taken at its word
    assert not is_secret_name("AWS_REGION")
    assert holds_secret("WAREHOUSE_URL", "postgresql://etl:pw@db/x")  # a URI's password
    assert not holds_secret("WAREHOUSE_URL", "postgresql://db/x")
    assert not holds_secret("PATH", "/usr/bin:/bin")


def test_redact_hides_every_known_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PLANTED.items():
        monkeypatch.setenv(name, value)
    remember("learned-at-run-time")
    text = " ".join([*PLANTED.values(), "learned-at-run-time", "champion"])
    assert redact(text) == " ".join([MASK] * (len(PLANTED) + 1) + ["champion"])


def test_a_redacting_stream_hides_what_passes_through_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_plantedtoken")
    import sys  # noqa: PLC0415

    stream = RedactingStream(sys.stdout)
    stream.write("token ghp_plantedtoken used\n")
    stream.flush()
    assert capsys.readouterr().out == "token *** used\n"


def test_the_cli_error_line_never_quotes_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in PLANTED.items():
        monkeypatch.setenv(name, value)
    folder = tmp_path / PLANTED["AWS_SECRET_ACCESS_KEY"]
    folder.mkdir()
    spec = folder / "aliases.yaml"
    spec.write_text("models:\n  bikes:\n    aliases:\n      champion: two\n")

    code, out, err = invoke(capsys, "validate", str(spec))

    assert code == 1
    assert f"{MASK}/aliases.yaml" in err
    assert not any(secret in out + err for secret in PLANTED.values())


def test_a_registry_password_never_shows_even_with_debug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 1}})
    uri = f"http://bot:planted-registry-pw@127.0.0.1:{port}"

    code, out, err = invoke(
        capsys, "--debug", "plan", str(spec), "--registry-uri", uri, "--timeout", "3"
    )

    assert code == 1
    assert "planted-registry-pw" not in out + err
    assert "Traceback" not in err


def test_serve_redacts_its_log_page_json_readiness_and_notifications(
    tmp_path: Path, sqlite_uri: str
) -> None:
    seed(sqlite_uri, {"bikes": 2})
    folder = tmp_path / PLANTED["AWS_SECRET_ACCESS_KEY"]
    folder.mkdir()
    spec = write_spec(folder / "aliases.yaml", {"bikes": {"champion": 2}})
    with Receiver() as notified:
        serve = ServeProcess(
            tmp_path,
            [
                *(str(spec), "--registry-uri", sqlite_uri, "--interval", "1"),
                *("--notify", f"{notified.url}/events"),
            ],
            PLANTED,
        )
        try:
            wait_for(serve.ready, 60, "the first reconcile")
            # A bad commit: the cycle's failure quotes the file's path, secret and all.
            spec.write_text("models:\n  bikes:\n    aliases:\n      champion: [2\n")

            def not_ready() -> str | None:
                status, body = get(f"{serve.url}/readyz")
                return body if status == 503 else None

            ready = wait_for(not_ready, 60, "not ready")
            notified.wait_for(lambda got: any(b"cycle_failed" in r.body for r in got), 30)
            outputs = {
                "readyz": ready,
                "status.json": get(f"{serve.url}/status.json")[1],
                "page": get(f"{serve.url}/")[1],
                "notifications": "".join(r.body.decode() for r in notified.at("/events")),
            }
        finally:
            code = serve.stop()
    outputs["log"] = serve.log()
    assert code == 0, outputs["log"]
    assert f"{MASK}/aliases.yaml" in json.loads(outputs["status.json"])["last_cycle"]["error"]
    for where, text in outputs.items():
        assert f"{MASK}/aliases.yaml" in text, where
        leaked = [secret for secret in PLANTED.values() if secret in text]
        assert not leaked, f"{where} shows {leaked}"
