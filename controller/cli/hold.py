"""`aliasctl hold list` and `aliasctl hold release`: the holds analysis leaves, by hand."""

from __future__ import annotations

import os
from functools import partial
from typing import TYPE_CHECKING

import click

from controller.cli.environments import open_for_file
from controller.cli.options import (
    EXIT_OK,
    connection_options,
    current_time,
    file_argument,
    lock_options,
    registry_options,
)
from controller.desired.names import split_target

if TYPE_CHECKING:
    from pathlib import Path


@click.group()
def hold() -> None:
    """Holds written after a failed analysis: list them, release one by hand."""


@hold.command("list")
@file_argument
@registry_options
def list_holds(
    file: Path, registry_uri: str | None, timeout: float | None, instance: str, read_mode: str,
    output: str,
) -> int:  # fmt: skip
    """List the holds on the file's models: the version each keeps an alias off, and why."""
    import json  # noqa: PLC0415

    from controller.registry import holds  # noqa: PLC0415
    from controller.render.holds import hold_list_json, hold_list_text  # noqa: PLC0415

    registry, _, models = open_for_file(file, registry_uri, timeout, read_mode, instance)
    found = holds.list_holds(registry, models)
    if output == "json":
        click.echo(json.dumps(hold_list_json(found, registry.display_uri), indent=2))
    else:
        click.echo(hold_list_text(found, registry.display_uri))
    return EXIT_OK


@hold.command("release")
@click.argument("target", metavar="MODEL@ALIAS")
@file_argument
@connection_options
@click.option(
    "--reason",
    required=True,
    help="Required: why the held version may take the alias again; recorded on the model.",
)
@lock_options(30, "Seconds to wait for the registry lock when an apply holds it.")
def release(
    target: str, file: Path, registry_uri: str | None, timeout: float | None, instance: str,
    read_mode: str, reason: str, lock_timeout: float, lock_lease: float,
) -> int:  # fmt: skip
    """Release the hold on MODEL@ALIAS, so the next apply moves it to what the file names.

    The hold tag is deleted and an `aliasctl.released.<alias>` tag records who released
    which version, when and why. Under the registry lock, as apply writes.
    """
    from controller.gitops.provenance import actor  # noqa: PLC0415
    from controller.registry.holds import release_hold  # noqa: PLC0415
    from controller.registry.lock import held, lock_name  # noqa: PLC0415
    from controller.render.holds import released_text  # noqa: PLC0415

    model, alias = split_target(target)
    if not alias or not model:
        raise click.BadParameter("expected MODEL@ALIAS", param_hint="MODEL@ALIAS")
    if not reason.strip():
        raise click.BadParameter(
            "give a reason, it is recorded on the model", param_hint="--reason"
        )
    # The lock apply takes for this file (beside its first model on Unity Catalog), on the
    # registry and as the instance of the file's environment when it names one.
    registry, instance, models = open_for_file(file, registry_uri, timeout, read_mode, instance)
    models = models or [model]
    say = partial(click.echo, err=True)
    name = lock_name(registry, instance, models)
    with held(registry, name, timeout_seconds=lock_timeout, lease_seconds=lock_lease, say=say):
        found, released = release_hold(
            registry, model, alias, by=actor(os.environ), reason=reason.strip(), now=current_time()
        )
    click.echo(released_text(found, released, registry.display_uri))
    return EXIT_OK
