"""`aliasctl validate` and `aliasctl schema`: the file checked, and its JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import click

from controller.cli.options import (
    DEFAULT_FILE,
    EXIT_ERROR,
    EXIT_OK,
    print_error,
)
from controller.desired.spec import json_schema, load_spec
from controller.errors import ControllerError


@click.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> int:
    """Check alias files offline (no registry, no mlflow import)."""
    failed = False
    paths = files or (Path(DEFAULT_FILE),)
    environments = False
    for path in paths:
        try:
            spec = load_spec(path).spec
        except ControllerError as error:
            print_error(str(error))
            failed = True
            continue
        environments = environments or spec.environment is not None
        aliases = sum(len(m.aliases) for m in spec.models.values())
        click.echo(f"{path}: valid ({len(spec.models)} models, {aliases} aliases)")
    if environments and not failed:
        failed = not _environments_agree(paths)
    return EXIT_ERROR if failed else EXIT_OK


def _environments_agree(paths: tuple[Path, ...]) -> bool:
    """What plan checks across environment files: each environment named once, promotions
    from a given one and never in a circle, one file per model and registry."""
    from controller.environments.files import load_environments  # noqa: PLC0415

    try:
        environments = load_environments(paths)
    except ControllerError as error:
        print_error(str(error))
        return False
    names = ", ".join(f.name for f in environments.ordered())
    click.echo(f"environments: {names} (in the order apply takes them)")
    return True


@click.command()
def schema() -> int:
    """Print the JSON Schema of aliases.yaml (for editor completion)."""
    click.echo(json.dumps(json_schema(), indent=2))
    return EXIT_OK
