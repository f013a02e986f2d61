"""`aliasctl drift`: managed aliases moved outside aliasctl."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from controller.cli.options import (
    EXIT_CHANGES,
    EXIT_OK,
    file_argument,
    open_registry,
    registry_options,
)
from controller.desired.spec import load_spec

if TYPE_CHECKING:
    from pathlib import Path


@click.command("drift")
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
    from controller.render.drift import render_drift  # noqa: PLC0415

    loaded = load_spec(file)
    registry = open_registry(registry_uri, timeout, read_mode, instance)
    options = Options(instance=instance, evidence=False)
    the_plan = prepare_plan(loaded.spec.declared(), registry, options)
    click.echo(render_drift(the_plan, registry.display_uri, output))
    return EXIT_CHANGES if the_plan.drift else EXIT_OK
