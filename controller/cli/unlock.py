"""`aliasctl unlock --force`: break a registry lock whose holder is gone."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from controller.cli.environments import open_for_file
from controller.cli.options import (
    EXIT_OK,
    connection_options,
    file_argument,
)

if TYPE_CHECKING:
    from pathlib import Path


@click.command()
@file_argument
@connection_options
@click.option("--force", is_flag=True, help="Required: breaking a lock is never implicit.")
def unlock(
    file: Path,
    registry_uri: str | None,
    timeout: float | None,
    instance: str,
    read_mode: str,
    force: bool,
) -> int:
    """Break the registry lock left by an apply that died (says whose it was)."""
    from controller.registry.lock import break_lock, lock_name  # noqa: PLC0415

    if not force:
        raise click.UsageError("unlock breaks another apply's lock: pass --force to mean it")
    registry, instance, models = open_for_file(file, registry_uri, timeout, read_mode, instance)
    name = lock_name(registry, instance, models)
    holder = break_lock(registry, name)
    if holder is None:
        click.echo(f"No registry lock {name}: nothing to break.")
    else:
        click.echo(f"Broke the registry lock {name}, held by {holder.describe()}.")
    return EXIT_OK
