"""Against `mlflow server --app-name basic-auth`: credentials, permissions, and no leaks.

Each test creates its own bot user, which holds only what the test grants it
(the server's default permission is NO_PERMISSIONS), and runs aliasctl in-process
with the bot's credentials in MLflow's variables, as CI would.
"""

from __future__ import annotations

import collections
import re
import time
import urllib.request
import uuid
from typing import TYPE_CHECKING

import pytest

from controller.core.state import RECORD_TAG, Record
from tests.conftest import invoke, live_aliases, seed, write_spec
from tests.support.auth_server import ADMIN, basic_token

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from tests.support.auth_server import AuthServer

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("auth")]


@pytest.fixture(autouse=True)
def _own_instance(monkeypatch: pytest.MonkeyPatch, unique: str, mlflow_http_defaults: None) -> None:
    """An instance per test (tests share the server, and the admin sees every model: none
    may prune another's), and MLflow's own HTTP timeouts for set-up."""
    monkeypatch.setenv("ALIASCTL_INSTANCE", unique)


@pytest.fixture
def bot(auth_server: AuthServer, unique: str) -> str:
    name = f"{unique}-bot"
    auth_server.create_user(name)
    return name


def seed_as_admin(
    server: AuthServer, models: Mapping[str, int], aliases: Mapping[str, Mapping[str, int]] = {}
) -> None:
    with server.as_user(ADMIN):
        seed(server.uri, models, aliases)


def aliases_of(server: AuthServer, model: str) -> dict[str, int]:
    with server.as_user(ADMIN):
        return live_aliases(server.uri, model)


def record_tag(server: AuthServer, model: str) -> str:
    with server.as_user(ADMIN):
        tags = server.admin_client().get_registered_model(model).tags
    return str(tags[RECORD_TAG])


def run(
    capsys: pytest.CaptureFixture[str], server: AuthServer, command: str, *args: str
) -> tuple[int, str, str]:
    """`aliasctl [--debug] COMMAND ARGS --registry-uri URI`, in-process."""
    capsys.readouterr()  # drop what set-up printed (MLflow logs each version it creates)
    debug = ("--debug",) if "--debug" in args else ()
    rest = [a for a in args if a != "--debug"]
    return invoke(capsys, *debug, command, *rest, "--registry-uri", server.uri)


def test_right_credentials_plan_and_apply(
    auth_server: AuthServer,
    bot: str,
    unique: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = f"{unique}-bikes"
    seed_as_admin(auth_server, {model: 3}, {model: {"staging": 1}})
    auth_server.grant(bot, model, "MANAGE")
    auth_server.login(monkeypatch, bot)
    spec = write_spec(tmp_path / "aliases.yaml", {model: {"champion": 2, "challenger": 3}})

    code, out, err = run(capsys, auth_server, "plan", str(spec), "--detailed-exitcode")
    assert code == 2, out + err
    assert f"{model}@champion" in out
    assert f"{model}@challenger" in out
    code, out, err = run(capsys, auth_server, "apply", str(spec))
    assert code == 0, out + err
    assert aliases_of(auth_server, model) == {"champion": 2, "challenger": 3, "staging": 1}
    code, out, err = run(capsys, auth_server, "plan", str(spec), "--detailed-exitcode")
    assert code == 0, out + err


@pytest.mark.parametrize("who", ["wrong password", "unknown user"])
def test_wrong_credentials_are_one_line_without_traceback(
    who: str,
    auth_server: AuthServer,
    bot: str,
    unique: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = f"{unique}-bikes"
    seed_as_admin(auth_server, {model: 2})
    auth_server.grant(bot, model, "MANAGE")
    wrong = "wrong-" + uuid.uuid4().hex
    auth_server.login(monkeypatch, bot if who == "wrong password" else f"{unique}-nobody", wrong)
    spec = write_spec(tmp_path / "aliases.yaml", {model: {"champion": 2}})

    for command in ("plan", "apply"):
        code, out, err = run(capsys, auth_server, command, str(spec))
        assert code == 1, out + err
        assert out == ""
        assert len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err
        assert wrong not in err
    assert aliases_of(auth_server, model) == {}


def test_password_never_appears_in_output_saved_plan_or_record(
    auth_server: AuthServer,
    bot: str,
    unique: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, readonly = f"{unique}-bikes", f"{unique}-readonly"
    seed_as_admin(auth_server, {model: 3, readonly: 2})
    auth_server.grant(bot, model, "MANAGE")
    auth_server.grant(bot, readonly, "READ")
    auth_server.login(monkeypatch, bot)
    spec = write_spec(tmp_path / "aliases.yaml", {model: {"champion": 2}})
    saved = tmp_path / "plan.json"
    seen: list[str] = []

    def step(expected: int, command: str, *args: str) -> None:
        code, out, err = run(capsys, auth_server, command, *args)
        assert code == expected, out + err
        seen.extend((out, err))

    step(0, "plan", str(spec))
    step(0, "plan", str(spec), "-o", "json")
    step(0, "plan", str(spec), "-o", "markdown")
    step(0, "plan", str(spec), "--debug", "--out", str(saved))
    seen.append(saved.read_text())
    step(0, "apply", str(saved), "--debug", "-o", "json")
    write_spec(spec, {model: {"champion": 3, "challenger": 2}})
    step(0, "apply", str(spec), "--debug")
    step(0, "apply", str(spec), "-o", "json")
    assert aliases_of(auth_server, model) == {"champion": 3, "challenger": 2}
    record = record_tag(auth_server, model)
    assert Record.decode(record) is not None
    seen.append(record)
    # Error paths too: a refused write, and a refused login, both with --debug.
    write_spec(spec, {readonly: {"champion": 1}})
    step(1, "apply", str(spec), "--debug")
    auth_server.login(monkeypatch, bot, "not-" + auth_server.passwords[bot])
    step(1, "plan", str(spec), "--debug")

    text = "\n".join(seen)
    for user, password in auth_server.passwords.items():
        assert password not in text, f"{user}'s password leaked"
        assert basic_token(user, password) not in text, f"{user}'s auth header leaked"


def test_permission_error_is_named_before_any_alias_moves(
    auth_server: AuthServer,
    bot: str,
    unique: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 7 §2: EDIT may move an alias, only MANAGE may delete one; find that out first."""
    model = f"{unique}-bikes"
    seed_as_admin(auth_server, {model: 3})
    spec = write_spec(tmp_path / "aliases.yaml", {model: {"champion": 1, "canary": 1}})
    with auth_server.as_user(ADMIN):
        code, out, err = run(capsys, auth_server, "apply", str(spec))
    assert code == 0, out + err
    auth_server.grant(bot, model, "EDIT")
    auth_server.login(monkeypatch, bot)
    # Moves champion (EDIT is enough) and deletes the managed canary (needs MANAGE).
    write_spec(spec, {model: {"champion": 2}})

    code, out, err = run(capsys, auth_server, "apply", str(spec))
    text = out + err
    assert code == 1, text
    assert "Traceback" not in text
    assert model in text
    assert re.search(r"delet\w* .*alias|alias.* delet", text, re.IGNORECASE), text
    assert "MANAGE" in text, text
    assert aliases_of(auth_server, model) == {"champion": 1, "canary": 1}, "champion moved"

    auth_server.grant(bot, model, "MANAGE")
    code, out, err = run(capsys, auth_server, "apply", str(spec))
    assert code == 0, out + err
    assert aliases_of(auth_server, model) == {"champion": 2}


def refusals_in_log(server: AuthServer) -> collections.Counter[str]:
    """Requests the server refused with 403, by method and path (uvicorn's access log)."""
    refused = re.compile(r'"(\w+ /api/\S+) HTTP/[\d.]+" 403')
    return collections.Counter(refused.findall(server.log_path.read_text(errors="replace")))


def wait_for_log(server: AuthServer) -> None:
    """The one worker logs requests in order: once a marker request shows, all before it did."""
    marker = uuid.uuid4().hex
    with urllib.request.urlopen(f"{server.uri}/health?{marker}", timeout=10):  # noqa: S310
        pass
    deadline = time.monotonic() + 30
    while marker not in server.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, "the server's access log stopped"
        time.sleep(0.05)


def test_a_refused_write_is_not_retried(
    auth_server: AuthServer,
    bot: str,
    unique: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = f"{unique}-bikes"
    # An update only (no create): one alias write and one record write, each refused once.
    seed_as_admin(auth_server, {model: 2}, {model: {"champion": 1}})
    auth_server.grant(bot, model, "READ")
    auth_server.login(monkeypatch, bot)
    spec = write_spec(tmp_path / "aliases.yaml", {model: {"champion": 2}})
    wait_for_log(auth_server)
    before = refusals_in_log(auth_server)

    code, out, err = run(capsys, auth_server, "apply", str(spec))
    assert code == 1, out + err
    assert "Traceback" not in out + err
    wait_for_log(auth_server)
    refused = refusals_in_log(auth_server) - before
    assert refused, "the server refused nothing: the bot had too much permission"
    assert max(refused.values()) == 1, f"a refused request was sent again: {refused}"
    assert aliases_of(auth_server, model) == {"champion": 1}


def test_webhooks_are_admin_only_and_the_error_says_so(
    auth_server: AuthServer,
    bot: str,
    unique: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"https://aliasctl.invalid/{unique}"
    secret = f"{unique}-webhook-secret-value"
    monkeypatch.setenv("ALIASCTL_WEBHOOK_SECRET", secret)
    auth_server.login(monkeypatch, bot)
    code, out, err = run(capsys, auth_server, "webhook", "install", "--url", url)
    assert code == 1, out + err
    assert "permission denied: webhooks are admin-only on a basic-auth server" in err
    assert len(err.strip().splitlines()) == 1, err
    assert secret not in out + err
    auth_server.login(monkeypatch, ADMIN)  # passes the check; this server refuses the URL
    code, out, err = run(capsys, auth_server, "webhook", "install", "--url", url, "--name", unique)
    assert code == 1, out + err
    assert "permission" not in err
    assert "Cannot resolve Webhook URL hostname 'aliasctl.invalid'" in err
    assert "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS" in err
    assert len(err.strip().splitlines()) == 1, err
