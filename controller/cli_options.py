"""The CLI's shared option groups, and the registry and options they build."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from controller.errors import ControllerError
from controller.policy import DEFAULT_MAX_DELETES, DEFAULT_VERIFY_TIMEOUT
from controller.state import DEFAULT_INSTANCE

if TYPE_CHECKING:
    from controller.reconcile import Options
    from controller.registry import Registry
    from controller.spec import LoadedSpec

# Terraform's -detailed-exitcode: 2 means "changes", so usage errors exit 1, never 2.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
DEFAULT_FILE = "aliases.yaml"
OUTPUTS = ("text", "markdown", "json")
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
        "--output", "-o", type=click.Choice(OUTPUTS), default="text", show_default=True
    )
    return stack(func, [connection_options, output])


def connection_options(func: F) -> F:
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


def open_registry(
    registry_uri: str | None, timeout: float | None, read_mode: str, instance: str
) -> Registry:
    from controller.mlflow_registry import MlflowRegistry, resolve_uri  # noqa: PLC0415
    from controller.registry import ReadMode  # noqa: PLC0415

    return MlflowRegistry(resolve_uri(registry_uri), timeout, ReadMode(read_mode), instance)


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
        click.option(
            "--drift",
            type=click.Choice(["heal", "warn"]),
            default="heal",
            show_default=True,
            help="heal: put aliases moved outside aliasctl back; warn: report and leave them.",
        ),
        click.option(
            "--verify-timeout",
            type=click.FloatRange(min=1),
            default=DEFAULT_VERIFY_TIMEOUT,
            show_default=True,
            help="Seconds to load and score a version for `verify: true` policies.",
        ),
    ]
    return stack(func, options)


def clock_now() -> datetime:
    """The one place the CLI reads the clock: now, in UTC, or ALIASCTL_NOW if set.

    ALIASCTL_NOW (an ISO 8601 date-time; without an offset it is UTC) is for tests and dry
    runs: "would this promotion have soaked by Friday?".
    """
    text = os.environ.get("ALIASCTL_NOW", "").strip()
    if not text:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ControllerError(
            f"ALIASCTL_NOW: {text!r} is not an ISO 8601 date-time (like 2026-11-27T14:00Z)"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def reconcile_options(
    loaded: LoadedSpec,
    instance: str,
    allow_delete: bool,
    max_deletes: int,
    drift: str,
    verify_timeout: float,
) -> Options:
    from controller.reconcile import DriftMode, Options  # noqa: PLC0415

    return Options(
        instance=instance,
        drift=DriftMode(drift),
        allow_delete=allow_delete,
        max_deletes=max_deletes,
        verify_timeout=verify_timeout,
        spec_file=Path(loaded.source.path),
        policies=dict(loaded.spec.policies),
        removals=tuple(loaded.spec.removals),
        now=clock_now(),
    )
