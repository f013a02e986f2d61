"""The CLI's shared option groups, and the registry and options they build."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from controller.core.policy import DEFAULT_MAX_DELETES, DEFAULT_VERIFY_TIMEOUT
from controller.core.state import DEFAULT_INSTANCE
from controller.registry.lock import DEFAULT_LEASE_SECONDS

if TYPE_CHECKING:
    from controller.desired.spec import LoadedSpec
    from controller.reconcile import Options
    from controller.registry.seam import Registry

# Terraform's -detailed-exitcode: 2 means "changes", so usage errors exit 1, never 2.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
DEFAULT_FILE = "aliases.yaml"
OUTPUTS = ("text", "markdown", "json")
OUTPUT_HELP = "Report format: text for a terminal, markdown for a PR comment, json for machines."
READ_MODES = ("auto", "bulk", "per-model")

F = TypeVar("F", bound=Callable[..., Any])


def file_argument(func: F) -> F:
    return click.argument(
        "file", type=click.Path(path_type=Path), default=DEFAULT_FILE, required=False
    )(func)


def stack(func: F, options: list[Callable[[Any], Any]]) -> F:
    """Apply click options so that --help lists them in the order written."""
    for option in reversed(options):
        func = option(func)
    return func


def registry_options(func: F) -> F:
    """Connection options plus --output (for commands that render a report)."""
    output = click.option(
        "--output",
        "-o",
        type=click.Choice(OUTPUTS),
        default="text",
        show_default=True,
        help=OUTPUT_HELP,
    )
    return stack(func, [connection_options, output])


REGISTRY_URI_OPTION = click.option(
    "--registry-uri",
    envvar="ALIASCTL_REGISTRY_URI",
    help="MLflow registry URI. Default: MLflow's own resolution "
    "(MLFLOW_REGISTRY_URI, MLFLOW_TRACKING_URI, then sqlite:///mlflow.db).",
)
TIMEOUT_OPTION = click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=None,
    help="Seconds before an unreachable registry is an error (default 30).",
)


def server_options(func: F) -> F:
    """Only where the registry is and how long to wait (commands that touch no models)."""
    return stack(func, [REGISTRY_URI_OPTION, TIMEOUT_OPTION])


def connection_options(func: F) -> F:
    options = [
        server_options,
        click.option(
            "--instance",
            default=DEFAULT_INSTANCE,
            show_default=True,
            envvar="ALIASCTL_INSTANCE",
            help="Name of this controller, recorded on every model it manages, so that two "
            "repositories sharing a registry never prune each other's aliases.",
        ),
        click.option(
            "--read-mode",
            type=click.Choice(READ_MODES),
            default="auto",
            show_default=True,
            envvar="ALIASCTL_READ_MODE",
            help="bulk: filtered searches (few requests); per-model: one read per model, for "
            "registries without filtered search; auto: per-model on Unity Catalog, else bulk.",
        ),
    ]
    return stack(func, options)


def lock_options(timeout_default: float, timeout_help: str) -> Callable[[F], F]:
    """--lock-timeout and --lock-lease, for the commands that write (apply, serve)."""

    def decorate(func: F) -> F:
        options = [
            click.option(
                "--lock-timeout",
                type=click.FloatRange(min=0),
                default=timeout_default,
                show_default=True,
                help=timeout_help,
            ),
            click.option(
                "--lock-lease",
                type=click.FloatRange(min=5),
                default=DEFAULT_LEASE_SECONDS,
                show_default=True,
                help="Seconds the lock stays ours without renewal: if this process dies, "
                "another may take the lock over this long after its last renewal.",
            ),
        ]
        return stack(func, options)

    return decorate


def revert_options(func: F) -> F:
    """What follows a rollback by analysis (`analyze` and `serve`)."""
    return stack(
        func,
        [
            click.option(
                "--revert-branch/--no-revert-branch",
                default=True,
                show_default=True,
                help="After a rollback by analysis, prepare the file's revert on a branch "
                "(git stays the truth).",
            ),
            click.option(
                "--push/--no-push",
                default=True,
                show_default=True,
                help="Push that branch to the file's remote where it is reachable.",
            ),
        ],
    )


def open_registry(
    registry_uri: str | None, timeout: float | None, read_mode: str, instance: str
) -> Registry:
    from controller.registry.mlflow.adapter import MlflowRegistry  # noqa: PLC0415
    from controller.registry.mlflow.connection import resolve_uri  # noqa: PLC0415
    from controller.registry.seam import ReadMode  # noqa: PLC0415

    return MlflowRegistry(resolve_uri(registry_uri), timeout, ReadMode(read_mode), instance)


# `apply` and `serve` alike.
DRIFT_OPTION = click.option(
    "--drift",
    type=click.Choice(["heal", "warn"]),
    default="heal",
    show_default=True,
    help="heal: put aliases moved outside aliasctl back; warn: report them and leave them.",
)


def safety_options(func: F) -> F:
    options = [
        click.option(
            "--allow-delete",
            is_flag=True,
            help="Allow deleting protected aliases, every managed alias of a model, or more "
            "than --max-deletes aliases.",
        ),
        click.option(
            "--max-deletes",
            type=click.IntRange(min=0),
            default=DEFAULT_MAX_DELETES,
            show_default=True,
            help="More deletes than this in one plan need --allow-delete.",
        ),
        DRIFT_OPTION,
        click.option(
            "--verify-timeout",
            type=click.FloatRange(min=1),
            default=DEFAULT_VERIFY_TIMEOUT,
            show_default=True,
            help="Seconds to load and score a version for `verify: true` policies.",
        ),
        click.option(
            "--break-glass",
            metavar="REASON",
            help="Move aliases outside their promotion windows and during freezes (no other "
            "gate); the reason is recorded on every model changed and shown in the report.",
        ),
    ]
    return stack(func, options)


def current_time() -> datetime:
    """The instant windows and freezes are judged at: the clock, or main(now=...) in tests.

    Only a Python caller can fix it: an environment variable or a flag would let a job
    move aliases during a freeze without the audit trail --break-glass leaves.
    """
    given = click.get_current_context().find_root().obj
    return given if isinstance(given, datetime) else datetime.now(UTC)


def reconcile_options(
    loaded: LoadedSpec,
    instance: str,
    allow_delete: bool,
    max_deletes: int,
    drift: str,
    verify_timeout: float,
    break_glass: str | None = None,
    *,
    evidence: bool = False,
) -> Options:
    """The reconcile options of a command; `evidence` only where a plan is shown to people."""
    from controller.reconcile import DriftMode, Options  # noqa: PLC0415

    return replace(
        Options.for_spec(loaded),
        instance=instance,
        drift=DriftMode(drift),
        allow_delete=allow_delete,
        max_deletes=max_deletes,
        verify_timeout=verify_timeout,
        now=current_time(),
        break_glass=check_reason(break_glass),
        evidence=evidence,
    )


def check_reason(reason: str | None) -> str | None:
    if reason is not None and not reason.strip():
        raise click.BadParameter(
            "give a reason, it is written to the audit record", param_hint="--break-glass"
        )
    return reason.strip() if reason is not None else None


def print_error(message: str) -> None:
    """The one way an expected error is shown: one red line on stderr."""
    click.secho(f"Error: {message}", fg="red", err=True)
