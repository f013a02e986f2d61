"""Registry housekeeping commands: `import` (adopt a registry's aliases) and `unlock`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import click

from controller.cli_options import (
    DEFAULT_FILE,
    EXIT_CHANGES,
    EXIT_OK,
    connection_options,
    file_argument,
    open_registry,
)
from controller.spec import load_spec


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
    from controller.lock import break_lock, lock_name  # noqa: PLC0415

    if not force:
        raise click.UsageError("unlock breaks another apply's lock: pass --force to mean it")
    models = load_spec(file).spec.models if file.exists() else {}
    registry = open_registry(registry_uri, timeout, read_mode, instance)
    name = lock_name(registry, instance, models)
    holder = break_lock(registry, name)
    if holder is None:
        click.echo(f"No registry lock {name}: nothing to break.")
    else:
        click.echo(f"Broke the registry lock {name}, held by {holder.describe()}.")
    return EXIT_OK


@click.command("import")
@click.argument("models", nargs=-1, metavar="[MODEL...]")
@click.option("--all", "all_models", is_flag=True, help="Every model with at least one alias.")
@click.option(
    "--filter",
    "filter_string",
    metavar="TEXT",
    help="Models an MLflow search filter finds, e.g. \"name LIKE 'fraud-%'\".",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the file here instead of printing it (never over an existing file).",
)
@click.option(
    "--merge",
    is_flag=True,
    help="Add what the registry has and the file (--out, default aliases.yaml) lacks; "
    "change no existing line; report conflicts (exit 2 when any).",
)
@connection_options
def import_command(
    models: tuple[str, ...],
    all_models: bool,
    filter_string: str | None,
    out: Path | None,
    merge: bool,
    registry_uri: str | None,
    timeout: float | None,
    instance: str,
    read_mode: str,
) -> int:
    """Write aliases.yaml from the live registry: every alias of the chosen models."""
    from controller import importer  # noqa: PLC0415
    from controller.yamlsource import write_text  # noqa: PLC0415

    if not (models or all_models or filter_string):
        raise click.UsageError("name models to import, or pass --all or --filter")
    target = out or Path(DEFAULT_FILE)
    loaded = load_spec(target) if merge else None
    if not merge and out is not None and out.exists():
        raise click.UsageError(f"{out} exists: pass --merge to add to it")
    registry = open_registry(registry_uri, timeout, read_mode, instance)
    observed = registry.read_models(models, exact=True)  # only what was named
    searched = all_models or filter_string is not None
    if searched:
        found = registry.search_models(None if all_models else filter_string)
        observed = replace(observed, models={**found.models, **observed.models})
    chosen = importer.select(observed, set(models), instance, searched=searched)
    for note in chosen.notes:
        click.echo(f"note: {note}", err=True)
    aliases = sum(len(a) for a in chosen.models.values())
    if loaded is None:
        moment = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = importer.render(chosen.models, registry.display_uri, moment)
        if out is None:
            click.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")  # the file may name models in any script
        count = len(chosen.models)
        click.echo(f"Imported {_plural(count, 'model')}, {_plural(aliases, 'alias')}.", err=True)
        return EXIT_OK
    merged = importer.merge(loaded, chosen.models)
    if merged.added:
        write_text(target, merged.text)
    click.echo(f"{target}: added {', '.join(merged.added) or 'nothing'}", err=True)
    for conflict in merged.conflicts:
        click.echo(f"conflict: {conflict}", err=True)
    return EXIT_CHANGES if merged.conflicts else EXIT_OK


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "es" if noun.endswith("s") else "s")
