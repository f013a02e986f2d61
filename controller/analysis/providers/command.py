"""The `command` provider: run an argv; its exit code is the reading (0 passes).

The program runs without a shell, stdin closed, with aliasctl's environment minus every
variable controller/secrets.py counts as secret (credentials, tokens, a URI with a
password), plus the variables the spec's `env:` names. Its output (stdout and stderr
together) is kept for people, the last TAIL_LINES lines, redacted. A program that cannot
be started, runs past its timeout or is killed by a signal is a ProviderError: the check
could not tell, which is not a failure of the version.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import TYPE_CHECKING

from controller.analysis.reading import Reading, provider_error
from controller.analysis.template import render
from controller.desired.analysis import seconds
from controller.secrets import holds_secret, redact

if TYPE_CHECKING:
    from collections.abc import Mapping

    from controller.desired.analysis import CommandCheck

NAME = "command"
TAIL_LINES = 20


def run(spec: CommandCheck, values: Mapping[str, str]) -> Reading:
    argv = [render(arg, values) for arg in spec.argv]
    try:
        # A session of its own: on timeout the whole group goes, not only the first process
        # (a shell script's children would otherwise outlive it, holding the output pipe).
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=child_environment(spec.env),
            start_new_session=True,
        )
    except FileNotFoundError:
        raise provider_error(NAME, f"cannot run {argv[0]!r}: no such program") from None
    except PermissionError:
        raise provider_error(NAME, f"cannot run {argv[0]!r}: permission denied") from None
    except OSError as error:
        raise provider_error(NAME, f"cannot run {argv[0]!r}: {error.strerror or error}") from None
    with process:
        try:
            output, _ = process.communicate(timeout=seconds(spec.timeout))
        except subprocess.TimeoutExpired:
            _kill_group(process)
            output, _ = process.communicate()
            raise provider_error(
                NAME, f"{argv[0]!r} ran past its timeout ({spec.timeout}){_after(output)}"
            ) from None
    if process.returncode < 0:
        name = signal.Signals(-process.returncode).name
        raise provider_error(NAME, f"{argv[0]!r} was killed by {name}{_after(output)}")
    return Reading(process.returncode, tail(output))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # gone on its own meanwhile
        os.killpg(process.pid, signal.SIGKILL)


def child_environment(passed: list[str]) -> dict[str, str]:
    """aliasctl's environment without its secrets, and with the `env:` names given through."""
    env = {name: value for name, value in os.environ.items() if not holds_secret(name, value)}
    for name in passed:
        if name not in os.environ:
            raise provider_error(NAME, f"the environment variable {name} (env:) is not set")
        env[name] = os.environ[name]
    return env


def tail(output: bytes | str | None) -> str:
    """The last TAIL_LINES lines, redacted."""
    if not output:
        return ""
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
    return redact("\n".join(text.rstrip().splitlines()[-TAIL_LINES:]))


def _after(output: bytes | str | None) -> str:
    shown = tail(output)
    return f"; its output ended:\n{shown}" if shown else ""
