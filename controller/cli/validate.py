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
    for path in files or (Path(DEFAULT_FILE),):
        try:
            spec = load_spec(path).spec
        except ControllerError as error:
            print_error(str(error))
            failed = True
            continue
        aliases = sum(len(m.aliases) for m in spec.models.values())
        click.echo(f"{path}: valid ({len(spec.models)} models, {aliases} aliases)")
    return EXIT_ERROR if failed else EXIT_OK


@click.command()
def schema() -> int:
    """Print the JSON Schema of aliases.yaml (for editor completion)."""
    click.echo(json.dumps(json_schema(), indent=2))
    return EXIT_OK
