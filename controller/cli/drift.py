"""`aliasctl drift`: managed aliases moved outside aliasctl."""

from __future__ import annotations

from pathlib import Path

import click

from controller.cli.environments import drift_environments, environment_option
from controller.cli.options import (
    DEFAULT_FILE,
    EXIT_CHANGES,
    EXIT_OK,
    open_registry,
    registry_options,
)
from controller.desired.spec import load_spec
from controller.environments.files import uses_environments


@click.command("drift")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path), metavar="[FILE...]")
@environment_option
@registry_options
def drift_command(
    files: tuple[Path, ...],
    environments: tuple[str, ...],
    registry_uri: str | None,
    timeout: float | None,
    instance: str,
    read_mode: str,
    output: str,
) -> int:
    """Report aliases moved outside aliasctl since its last apply (exit 2 when any).

    Several files, or a file that names its environment: a section per environment.
    """
    from controller.reconcile import Options, prepare_plan  # noqa: PLC0415
    from controller.render.drift import render_drift  # noqa: PLC0415

    paths = files or (Path(DEFAULT_FILE),)
    if uses_environments(paths):
        return drift_environments(
            paths, environments, registry_uri, timeout, read_mode, output,
            lambda _loaded, instance: Options(instance=instance, evidence=False),
        )  # fmt: skip
    if environments:
        raise click.UsageError("--environment needs files that name their environment")
    file = paths[0]
    loaded = load_spec(file)
    registry = open_registry(registry_uri, timeout, read_mode, instance)
    options = Options(instance=instance, evidence=False)
    the_plan = prepare_plan(loaded.spec.declared(), registry, options)
    click.echo(render_drift(the_plan, registry.display_uri, output))
    return EXIT_CHANGES if the_plan.drift else EXIT_OK
