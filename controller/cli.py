"""The thin CLI: load -> compute -> render -> exit code.

Exit codes (Terraform's -detailed-exitcode): 0 success / nothing to do,
2 changes pending (plan --detailed-exitcode only), 1 any error, including
usage errors, so that 2 can never be mistaken for "changes".
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from controller.cli_housekeeping import import_command, unlock
from controller.cli_options import (
    DEFAULT_FILE,
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    OUTPUTS,
    check_reason,
    current_time,
    file_argument,
    lock_options,
    open_registry,
    reconcile_options,
    registry_options,
    safety_options,
)
from controller.cli_serve import serve
from controller.cli_webhook import webhook
from controller.errors import ControllerError, PreflightError
from controller.secrets import RedactingStream
from controller.spec import json_schema, load_spec, split_target

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


cli.add_command(import_command)
cli.add_command(unlock)
cli.add_command(serve)
cli.add_command(webhook)


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> int:
    """Check alias files offline (no registry, no mlflow import)."""
    failed = False
    for path in files or (Path(DEFAULT_FILE),):
        try:
            spec = load_spec(path).spec
        except ControllerError as error:
            _error(str(error))
            failed = True
            continue
        aliases = sum(len(m.aliases) for m in spec.models.values())
        click.echo(f"{path}: valid ({len(spec.models)} models, {aliases} aliases)")
    return EXIT_ERROR if failed else EXIT_OK


@cli.command()
def schema() -> int:
    """Print the JSON Schema of aliases.yaml (for editor completion)."""
    click.echo(json.dumps(json_schema(), indent=2))
    return EXIT_OK


@cli.command()
@file_argument
@registry_options
@safety_options
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there is nothing to do, 2 when changes are pending, 1 on error.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save the plan, with digests of the file and the live state, for `apply PLAN.json`.",
)
def plan(
    file: Path,
    registry_uri: str | None,
    timeout: float | None,
    instance: str,
    read_mode: str,
    output: str,
    allow_delete: bool,
    max_deletes: int,
    drift: str,
    verify_timeout: float,
    break_glass: str | None,
    detailed_exitcode: bool,
    out: Path | None,
) -> int:
    """Show what apply would change, changing nothing."""
    from controller import savedplan  # noqa: PLC0415
    from controller.reconcile import prepare_plan  # noqa: PLC0415
    from controller.render import plan_json, render_plan  # noqa: PLC0415

    loaded = load_spec(file)
    registry = open_registry(registry_uri, timeout, read_mode, instance)
    options = reconcile_options(
        loaded,
        instance,
        allow_delete,
        max_deletes,
        drift,
        verify_timeout,
        break_glass,
        evidence=True,  # the plan is what a reviewer reads
    )
    the_plan = prepare_plan(loaded.spec.declared(), registry, options)
    click.echo(render_plan(the_plan, registry.display_uri, output))
    if the_plan.problems:
        return EXIT_ERROR
    if out is not None:
        body = plan_json(the_plan, registry.display_uri)
        savedplan.save(out, the_plan, body, file, options)
        click.echo(f"Saved the plan to {out}; `aliasctl apply {out}` applies exactly it.", err=True)
    if detailed_exitcode and the_plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


@cli.command()
@click.argument(
    "file", type=click.Path(path_type=Path), default=DEFAULT_FILE, required=False,
    metavar="[FILE|PLAN.json]",
)  # fmt: skip
@registry_options
@safety_options
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=16,
    show_default=True,
    help="Concurrent registry writes (a remote registry only; a local database is written "
    "serially).",
)
@lock_options(
    0, "Seconds to wait for the registry lock when another apply holds it (0: fail at once)."
)
def apply(
    file: Path,
    registry_uri: str | None,
    timeout: float | None,
    instance: str,
    read_mode: str,
    output: str,
    allow_delete: bool,
    max_deletes: int,
    drift: str,
    verify_timeout: float,
    break_glass: str | None,
    parallelism: int,
    lock_timeout: float,
    lock_lease: float,
) -> int:
    """Plan, then make the registry match the file; verify by re-reading.

    Given a plan saved by `plan --out`, apply exactly that plan, or refuse it
    (changing nothing) when the file or the registry changed since.
    """
    from controller import savedplan  # noqa: PLC0415
    from controller.apply import apply_plan  # noqa: PLC0415
    from controller.lock import held, lock_name  # noqa: PLC0415
    from controller.provenance import make_stamp  # noqa: PLC0415
    from controller.reconcile import DriftMode, prepare_plan  # noqa: PLC0415
    from controller.render import plan_json, render_apply  # noqa: PLC0415

    saved = savedplan.load(file) if savedplan.is_saved_plan(file) else None
    if saved is not None:
        savedplan.check_file(saved)
        file = saved.spec_file
    loaded = load_spec(file)
    registry = open_registry(registry_uri, timeout, read_mode, instance)
    declared = loaded.spec.declared()
    if saved is not None:
        options = savedplan.apply_options(saved, loaded, current_time(), check_reason(break_glass))
    else:
        options = reconcile_options(
            loaded, instance, allow_delete, max_deletes, drift, verify_timeout, break_glass
        )
    say = partial(click.echo, err=True)
    name = lock_name(registry, options.instance, declared)
    # Plan under the lock too: what is applied is what was planned against.
    with held(
        registry, name, timeout_seconds=lock_timeout, lease_seconds=lock_lease, say=say
    ) as lock:
        the_plan = prepare_plan(declared, registry, options)
        if the_plan.problems:
            raise PreflightError(the_plan.problems)
        if saved is not None:
            body = plan_json(the_plan, registry.display_uri)
            savedplan.check_live(saved, the_plan, registry.display_uri, body)
        result = apply_plan(
            the_plan,
            declared,
            registry,
            instance=options.instance,
            stamp=make_stamp(file, os.environ, options.now, the_plan.used_break_glass),
            parallelism=parallelism,
            must_stop=lock.lost,
        )
    click.echo(render_apply(the_plan, result, registry.display_uri, output))
    if not result.ok:
        return EXIT_ERROR
    return EXIT_CHANGES if options.drift is DriftMode.WARN and the_plan.drift else EXIT_OK


@cli.command("drift")
@file_argument
@registry_options
def drift_command(
    file: Path,
    registry_uri: str | None,
    timeout: float | None,
    instance: str,
    read_mode: str,
    output: str,
) -> int:
    """Report aliases moved outside aliasctl since its last apply (exit 2 when any)."""
    from controller.reconcile import Options, prepare_plan  # noqa: PLC0415
    from controller.render import render_drift  # noqa: PLC0415

    loaded = load_spec(file)
    registry = open_registry(registry_uri, timeout, read_mode, instance)
    options = Options(instance=instance, evidence=False)
    the_plan = prepare_plan(loaded.spec.declared(), registry, options)
    click.echo(render_drift(the_plan, registry.display_uri, output))
    return EXIT_CHANGES if the_plan.drift else EXIT_OK


@cli.command()
@click.argument("target", required=False, metavar="[MODEL[@ALIAS]]")
@file_argument
@click.option(
    "--at",
    "at",
    metavar="TIMESTAMP|REV",
    help="Show what each alias pointed to at this moment (ISO date/time, UTC if no zone) "
    "or git revision.",
)
@click.option("--output", "-o", type=click.Choice(OUTPUTS), default="text")
def history(target: str | None, file: Path, at: str | None, output: str) -> int:
    """Timeline of alias changes from the git history of the file."""
    from controller.history import (  # noqa: PLC0415
        entry_at_revision,
        parse_moment,
        read_timeline,
        select,
    )
    from controller.render_history import render_at, render_history  # noqa: PLC0415

    if target and file == Path(DEFAULT_FILE) and _looks_like_file(target):
        file, target = Path(target), None  # `history FILE`: the one argument is the file
    model, alias = _split_target(target) if target else (None, None)
    if at is None:
        timeline = select(read_timeline(file), model, alias)
        click.echo(render_history(timeline, output))
        return EXIT_OK
    moment = parse_moment(at)
    timeline = read_timeline(file)
    if moment is not None:
        entry = timeline.state_at(moment)
    else:
        entry = entry_at_revision(file, timeline, at)
    click.echo(render_at(select(timeline, model, alias), entry, at, (model, alias), output))
    return EXIT_OK


@cli.command()
@click.argument("target", metavar="MODEL@ALIAS")
@file_argument
@click.option(
    "--to",
    "to",
    metavar="VERSION|REV",
    help="Version number, or the git revision whose value to restore (all digits means a "
    "version: give a revision as a name or a hash with a letter). Default: the value before "
    "the change that set the current one.",
)
@click.option("--commit", "make_commit", is_flag=True, help="Also commit the edited file.")
def rollback(target: str, file: Path, to: str | None, make_commit: bool) -> int:
    """Point MODEL@ALIAS back to its previous version by editing the file.

    Then the usual loop carries it out: pull request, merge, apply.
    """
    from controller import rollback as rb  # noqa: PLC0415

    model, alias = _split_target(target)
    if alias is None:
        raise click.BadParameter("expected MODEL@ALIAS", param_hint="TARGET")
    change = rb.prepare_rollback(file, model, alias, to)
    if change.target == change.current:
        click.echo(f"{change.key} already points to {change.current}: nothing to roll back.")
        return EXIT_OK
    rb.edit_file(file, change)
    click.echo(f"{file}: {change.key} {change.current} -> {change.target}")
    if change.changed_in is not None and change.revert_equivalent:
        click.echo(f"Equivalent: {rb.revert_command(change.changed_in)}")
    if make_commit:
        sha = rb.commit(file, change)
        click.echo(f"Committed {sha[:7]}: {rb.commit_message(change).splitlines()[0]}")
    click.echo("Next: open a pull request; merging it applies the rollback.")
    return EXIT_OK


def _looks_like_file(argument: str) -> bool:
    return argument.endswith((".yaml", ".yml")) or Path(argument).is_file()


def _split_target(target: str) -> tuple[str, str | None]:
    model, alias = split_target(target)
    if not model:
        raise click.BadParameter(f"{target!r}: expected MODEL or MODEL@ALIAS")
    return model, alias or None


def _error(message: str) -> None:
    click.secho(f"Error: {message}", fg="red", err=True)


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

    `now` fixes the clock for windows and freezes: for tests only (see cli_options.current_time).
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
        _error("interrupted; re-run the command (an interrupted apply converges on re-run)")
        code = EXIT_ERROR
    except click.ClickException as error:
        # Usage errors exit 1, never 2: 2 means "changes pending" to --detailed-exitcode.
        error.show()
        code = EXIT_ERROR
    except ControllerError as error:
        _error(str(error))
        code = EXIT_ERROR
    except Exception as error:  # noqa: BLE001 - the one place that catches everything
        if debug:
            traceback.print_exc()
        hint = "" if debug else " (rerun with --debug for details)"
        _error(f"internal error: {type(error).__name__}: {error}{hint}")
        code = EXIT_ERROR
    return code
