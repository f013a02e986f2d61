"""`aliasctl serve`: the continuous controller, as a thin command over controller/serve/."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from controller.cli.options import (
    DEFAULT_FILE,
    DRIFT_OPTION,
    EXIT_OK,
    connection_options,
    lock_options,
    open_registry,
    revert_options,
)
from controller.cli.webhook import SECRET_ENV
from controller.environments.files import uses_environments

if TYPE_CHECKING:
    from controller.serve.desired import ServedEnvironment

NOTIFY_SECRET_ENV = "ALIASCTL_NOTIFY_SECRET"  # noqa: S105 - the variable's name
STATUS_TOKEN_ENV = "ALIASCTL_STATUS_TOKEN"  # noqa: S105 - the variable's name


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"{value!r}: expected HOST:PORT", param_hint="--listen")
    return host.strip("[]") or "127.0.0.1", int(port)


@click.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path), metavar="[FILE...]")
@click.option(
    "--environment",
    metavar="NAME",
    help="With environment files: the one environment to keep (the other files are read "
    "for its promotions' sources). Needed when the files describe several.",
)
@connection_options
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    metavar="HOST:PORT",
    help="Address of the webhook, health, metrics and status endpoints (port 0: any free one).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=1),
    default=300,
    show_default=True,
    help="Seconds between full reconciles; webhooks reconcile their model in between.",
)
@DRIFT_OPTION
@click.option("--pull", is_flag=True, help="`git pull --ff-only` the file's checkout each cycle.")
@click.option(
    "--watch",
    "watch_seconds",
    type=click.FloatRange(min=0),
    default=5,
    show_default=True,
    metavar="SECONDS",
    help="Look at the file this often; a new revision (git-sync, an edit) is reconciled at "
    "once (0: only --interval and webhooks start a cycle).",
)
@click.option(
    "--debounce",
    type=click.FloatRange(min=0),
    default=2,
    show_default=True,
    help="Seconds to gather a burst of webhook events into one reconcile.",
)
@click.option(
    "--notify",
    "notify_urls",
    multiple=True,
    metavar="URL",
    help="POST each event (alias moved, drift found or healed, cycle failed) here; "
    f"signed when {NOTIFY_SECRET_ENV} is set. Repeatable.",
)
@click.option(
    "--notify-format", type=click.Choice(["json", "slack"]), default="json", show_default=True
)
@click.option(
    "--webhook-max-age",
    type=click.FloatRange(min=1),
    default=300,
    show_default=True,
    help="Seconds a signed webhook delivery stays valid (older ones are refused as replays).",
)
@revert_options
@lock_options(30, "Seconds to wait for the registry lock (held by a CI apply); then retry soon.")
def serve(
    files: tuple[Path, ...],
    environment: str | None,
    registry_uri: str | None,
    timeout: float | None,
    instance: str,
    read_mode: str,
    listen: str,
    interval: float,
    drift: str,
    pull: bool,
    watch_seconds: float,
    debounce: float,
    notify_urls: tuple[str, ...],
    notify_format: str,
    webhook_max_age: float,
    revert_branch: bool,
    push: bool,
    lock_timeout: float,
    lock_lease: float,
) -> int:
    """Run as a controller: reconcile every --interval and on MLflow webhooks.

    Endpoints: POST /webhooks/mlflow, GET /healthz, /readyz, /metrics, and / (status page).
    With $ALIASCTL_STATUS_TOKEN set, / and /status.json ask for it (Bearer, or Basic as the
    password).

    Given environment files, serve keeps one environment on its own registry, with its
    instance and lock: a promotion into it is copied once and moved to when its source
    soak, windows and freezes allow, as `apply` would.
    """
    from controller.reconcile import DriftMode  # noqa: PLC0415
    from controller.serve.app import Wiring  # noqa: PLC0415
    from controller.serve.app import serve as run  # noqa: PLC0415
    from controller.serve.cycle import Settings  # noqa: PLC0415

    address = parse_listen(listen)
    _log_to_stderr()
    paths = files or (Path(DEFAULT_FILE),)
    served = _served(paths, environment, registry_uri, timeout, read_mode)
    if served is None:
        file = paths[0]
        registry = open_registry(registry_uri, timeout, read_mode, instance)
    else:
        target, registry = served.target()
        file, instance = Path(target.path), target.spec.instance_name
    settings = Settings(
        file=file,
        served=served,
        instance=instance,
        drift=DriftMode(drift),
        interval_seconds=interval,
        pull=pull,
        lock_timeout=lock_timeout,
        lock_lease=lock_lease,
        revert_branch=revert_branch,
        push=push,
    )
    wiring = Wiring(
        listen=address,
        debounce_seconds=debounce,
        notify_urls=notify_urls,
        notify_format="slack" if notify_format == "slack" else "json",
        notify_secret=os.environ.get(NOTIFY_SECRET_ENV) or None,
        webhook_secret=os.environ.get(SECRET_ENV) or None,
        webhook_max_age_seconds=webhook_max_age,
        watch_seconds=watch_seconds,
        status_token=os.environ.get(STATUS_TOKEN_ENV) or None,
    )
    run(settings, registry, wiring)
    return EXIT_OK


def _served(
    paths: tuple[Path, ...],
    environment: str | None,
    registry_uri: str | None,
    timeout: float | None,
    read_mode: str,
) -> ServedEnvironment | None:
    """The environment to keep, when the files name environments (None: one plain file)."""
    from controller.environments.files import load_environments  # noqa: PLC0415
    from controller.serve.desired import ServedEnvironment  # noqa: PLC0415

    if not uses_environments(paths):
        if environment is not None:
            raise click.UsageError("--environment needs files that name their environment")
        return None
    names = sorted(load_environments(paths).files)
    if environment is None and len(names) > 1:
        raise click.UsageError(
            f"the files describe environments {', '.join(names)}: serve keeps one, "
            "pass --environment (a controller per environment, each with its own credentials)"
        )
    name = environment or names[0]
    if name not in names:
        raise click.UsageError(f"--environment {name!r} is none of the files' ({', '.join(names)})")
    return ServedEnvironment(
        paths, name, lambda uri, inst: open_registry(uri or registry_uri, timeout, read_mode, inst)
    )


def _log_to_stderr() -> None:
    """One timestamped line per cycle and event; --debug (set earlier) keeps its level."""
    logger = logging.getLogger("aliasctl")
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z")
        )
        logger.addHandler(handler)
