"""The thin CLI: load -> compute -> render -> exit code.

Exit codes (Terraform's -detailed-exitcode): 0 success / nothing to do,
2 changes pending (plan --detailed-exitcode only), 1 any error, including
usage errors, so that 2 can never be mistaken for "changes".
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import TYPE_CHECKING

import click

from controller.cli.analyze import analyze
from controller.cli.apply import apply
from controller.cli.drift import drift_command
from controller.cli.history import history, rollback
from controller.cli.hold import hold
from controller.cli.importing import import_command
from controller.cli.options import EXIT_ERROR, EXIT_OK, print_error
from controller.cli.plan import plan
from controller.cli.promote import promote
from controller.cli.serve import serve
from controller.cli.unlock import unlock
from controller.cli.validate import schema, validate
from controller.cli.webhook import webhook
from controller.errors import ControllerError
from controller.secrets import RedactingStream

if TYPE_CHECKING:
    from datetime import datetime


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--debug",
    is_flag=True,
    help="Show tracebacks of unexpected errors (accepted anywhere; or ALIASCTL_DEBUG=1).",
)
@click.version_option(package_name="aliasctl")
def cli(debug: bool) -> None:
    """GitOps for MLflow registry aliases: aliases.yaml -> plan -> apply."""


for command in (
    validate, schema, plan, apply, analyze, hold, drift_command, history, rollback,
    import_command, promote, unlock, serve, webhook,
):  # fmt: skip
    cli.add_command(command)


def _take_debug(args: list[str]) -> tuple[list[str], bool]:
    """Pull --debug out from anywhere before `--` (click knows it only before the subcommand)."""
    end = args.index("--") if "--" in args else len(args)
    rest = [a for a in args[:end] if a != "--debug"] + args[end:]
    wanted = len(rest) < len(args) or os.environ.get("ALIASCTL_DEBUG", "").strip().lower() in {
        "1", "true", "yes", "on",
    }  # fmt: skip
    return rest, wanted


class _StderrHandler(logging.Handler):
    """Writes to sys.stderr as it is at each record (tests swap it per test)."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(self.format(record) + "\n")


def _log_to_stderr() -> None:
    """What aliasctl decided on the way (retries, a server that refuses `IN`), on stderr."""
    logger = logging.getLogger("aliasctl")
    logger.setLevel(logging.DEBUG)
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
        logger.addHandler(handler)


def main(argv: list[str] | None = None, *, now: datetime | None = None) -> None:
    """Entry point: one handler for every error, as in iterative/gto's gto_command.

    `now` fixes the clock for windows and freezes: for tests only (cli/options.py, current_time).
    """
    args, debug = _take_debug(sys.argv[1:] if argv is None else argv)
    # The one choke point of everything printed, by us, by log handlers or by MLflow.
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(sys.stdout), RedactingStream(sys.stderr)
    try:
        code = _run(args, debug, now)
    finally:
        sys.stdout, sys.stderr = streams
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _run(args: list[str], debug: bool, now: datetime | None) -> object:
    if debug:
        _log_to_stderr()
    try:
        code = cli.main(args=args, prog_name="aliasctl", standalone_mode=False, obj=now)
    except (click.exceptions.Abort, KeyboardInterrupt):
        # An interrupted apply is safe to re-run: it converges from wherever it stopped.
        print_error("interrupted; re-run the command (an interrupted apply converges on re-run)")
        code = EXIT_ERROR
    except click.ClickException as error:
        # Usage errors exit 1, never 2: 2 means "changes pending" to --detailed-exitcode.
        error.show()
        code = EXIT_ERROR
    except ControllerError as error:
        print_error(str(error))
        code = EXIT_ERROR
    except Exception as error:  # noqa: BLE001 - the one place that catches everything
        if debug:
            traceback.print_exc()
        hint = "" if debug else " (rerun with --debug for details)"
        print_error(f"internal error: {type(error).__name__}: {error}{hint}")
        code = EXIT_ERROR
    return code
