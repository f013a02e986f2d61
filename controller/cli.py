"""The thin CLI: load -> compute -> render -> exit code.

Exit codes (Terraform's -detailed-exitcode): 0 success / nothing to do,
2 changes pending (plan --detailed-exitcode only), 1 any error, including
usage errors, so that 2 can never be mistaken for "changes".
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from controller.errors import ControllerError, PreflightError
from controller.spec import LoadedSpec, json_schema, load_spec
from controller.state import DEFAULT_INSTANCE

if TYPE_CHECKING:
    from controller.registry import Registry

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
DEFAULT_FILE = "aliases.yaml"

F = TypeVar("F", bound=Callable[..., Any])


def _file_argument(func: F) -> F:
    return click.argument(
        "file", type=click.Path(path_type=Path), default=DEFAULT_FILE, required=False
    )(func)


def _registry_options(func: F) -> F:
    options = [
        click.option(
            "--registry-uri",
            envvar="ALIASCTL_REGISTRY_URI",
            help="MLflow registry URI. Default: MLflow's own resolution "
            "(MLFLOW_REGISTRY_URI, MLFLOW_TRACKING_URI, then sqlite:///mlflow.db).",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=1),
            default=None,
            help="Seconds before an unreachable registry is an error (default 30).",
        ),
        click.option(
            "--instance",
            default=DEFAULT_INSTANCE,
            show_default=True,
            envvar="ALIASCTL_INSTANCE",
            help="Name of this controller, recorded on every model it manages, so that two "
            "repositories sharing a registry never prune each other's aliases.",
        ),
        click.option(
            "--output",
            "-o",
            type=click.Choice(["text", "markdown", "json"]),
            default="text",
            show_default=True,
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _open_registry(registry_uri: str | None, timeout: float | None) -> Registry:
    from controller.registry import MlflowRegistry, resolve_uri  # noqa: PLC0415 - mlflow is slow

    return MlflowRegistry(resolve_uri(registry_uri), timeout)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks of unexpected errors.")
@click.version_option(package_name="aliasctl")
def cli(debug: bool) -> None:
    """GitOps for MLflow registry aliases: aliases.yaml -> plan -> apply."""


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
@_file_argument
@_registry_options
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there is nothing to do, 2 when changes are pending, 1 on error.",
)
def plan(
    file: Path,
    registry_uri: str | None,
    timeout: float | None,
    instance: str,
    output: str,
    detailed_exitcode: bool,
) -> int:
    """Show what apply would change, changing nothing."""
    from controller.reconcile import prepare_plan  # noqa: PLC0415
    from controller.render import render_plan  # noqa: PLC0415

    loaded = load_spec(file)
    registry = _open_registry(registry_uri, timeout)
    the_plan = prepare_plan(loaded.spec.declared(), registry, instance)
    click.echo(render_plan(the_plan, registry.display_uri, output))
    if the_plan.problems:
        return EXIT_ERROR
    if detailed_exitcode and the_plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


@cli.command()
@_file_argument
@_registry_options
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Concurrent registry writes (a remote registry only; a local database is written "
    "serially).",
)
def apply(
    file: Path,
    registry_uri: str | None,
    timeout: float | None,
    instance: str,
    output: str,
    parallelism: int,
) -> int:
    """Plan, then make the registry match the file; verify by re-reading."""
    from controller.apply import apply_plan  # noqa: PLC0415
    from controller.reconcile import prepare_plan  # noqa: PLC0415
    from controller.render import render_apply  # noqa: PLC0415

    loaded = load_spec(file)
    registry = _open_registry(registry_uri, timeout)
    declared = loaded.spec.declared()
    the_plan = prepare_plan(declared, registry, instance)
    if the_plan.problems:
        raise PreflightError(the_plan.problems)
    result = apply_plan(
        the_plan,
        declared,
        registry,
        instance=instance,
        stamp=_stamp(loaded),
        parallelism=parallelism,
    )
    click.echo(render_apply(the_plan, result, registry.display_uri, output))
    return EXIT_OK if result.ok else EXIT_ERROR


def _stamp(loaded: LoadedSpec) -> Any:
    from controller.apply import Stamp  # noqa: PLC0415

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Stamp(commit=None, applied_at=now, source={"file": loaded.source.path})


def _error(message: str) -> None:
    click.secho(f"Error: {message}", fg="red", err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one handler for every error, as in iterative/gto's gto_command."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or bool(os.environ.get("ALIASCTL_DEBUG"))
    try:
        code = cli.main(args=args, prog_name="aliasctl", standalone_mode=False)
    except click.exceptions.Abort:
        _error("aborted")
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
        _error(f"internal error: {type(error).__name__}: {error} (rerun with --debug for details)")
        code = EXIT_ERROR
    sys.exit(code if isinstance(code, int) else EXIT_OK)
