"""`aliasctl import`: adopt a registry's aliases (and stages) into aliases.yaml."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from controller.cli.options import (
    DEFAULT_FILE,
    EXIT_CHANGES,
    EXIT_OK,
    connection_options,
    open_registry,
)
from controller.core.stages import DEFAULT_MAPPING, STAGES, describe, mapping, parse_pair
from controller.core.state import utc_text
from controller.desired.spec import load_spec


class StageAlias(click.ParamType[tuple[str, str], Any]):
    """`STAGE=ALIAS`, checked as the file's alias names are."""

    name = "STAGE=ALIAS"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        try:
            return parse_pair(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


@click.command("import")
@click.argument("models", nargs=-1, metavar="[MODEL...]")
@click.option(
    "--all",
    "all_models",
    is_flag=True,
    help="Every model with at least one alias (with --from-stages: or a version in a "
    "mapped stage).",
)
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
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Succeed when --all or --filter finds no model to write (else exit 1).",
)
@click.option(
    "--from-stages",
    is_flag=True,
    help="Also write an alias for each model's latest version in each mapped stage "
    "(MLflow's 'Migrating from Stages'): the first apply creates them. An existing alias "
    "of that name at another version is kept and reported as a conflict (exit 2).",
)
@click.option(
    "--stage-alias",
    "stage_aliases",
    type=StageAlias(),
    multiple=True,
    help="With --from-stages: map a stage to an alias; repeatable, replaces the default "
    f"{describe(DEFAULT_MAPPING)}. Stages: {', '.join(STAGES)}.",
)
@connection_options
def import_command(
    models: tuple[str, ...],
    all_models: bool,
    filter_string: str | None,
    out: Path | None,
    merge: bool,
    allow_empty: bool,
    from_stages: bool,
    stage_aliases: tuple[tuple[str, str], ...],
    registry_uri: str | None,
    timeout: float | None,
    instance: str,
    read_mode: str,
) -> int:
    """Write aliases.yaml from the live registry: every alias of the chosen models
    (with --from-stages, also one per stage)."""
    from controller.desired.yamlsource import write_text  # noqa: PLC0415
    from controller.gitops import importer  # noqa: PLC0415

    if not (models or all_models or filter_string):
        raise click.UsageError("name models to import, or pass --all or --filter")
    stage_map = _stage_map(from_stages, stage_aliases)
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
    chosen = importer.select(
        observed, set(models), instance, searched=searched, stage_map=stage_map
    )
    for note in chosen.notes:
        click.echo(f"note: {note}", err=True)
    if searched and not chosen.models and not allow_empty:
        asked = "--all" if all_models else f"--filter {filter_string!r}"
        _refuse_empty(asked, registry.display_uri, len(found.models))
    aliases = sum(len(a) for a in chosen.models.values())
    if loaded is None:
        moment = utc_text(datetime.now(UTC))
        text = importer.render(
            chosen.models, registry.display_uri, moment, chosen.from_stage, stage_map
        )
        if out is None:
            click.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")  # the file may name models in any script
        count = len(chosen.models)
        staged = f" ({len(chosen.from_stage)} from stages)" if stage_map else ""
        click.echo(
            f"Imported {_plural(count, 'model')}, {_plural(aliases, 'alias')}{staged}.", err=True
        )
        conflicts = list(chosen.conflicts)
    else:
        merged = importer.merge(loaded, chosen.models, chosen.from_stage)
        if merged.added:
            write_text(target, merged.text)
        click.echo(f"{target}: added {', '.join(merged.added) or 'nothing'}", err=True)
        conflicts = [*chosen.conflicts, *merged.conflicts]
    for conflict in conflicts:
        click.echo(f"conflict: {conflict}", err=True)
    return EXIT_CHANGES if conflicts else EXIT_OK


def _stage_map(
    from_stages: bool, stage_aliases: tuple[tuple[str, str], ...]
) -> dict[str, str] | None:
    if stage_aliases and not from_stages:
        raise click.UsageError("--stage-alias maps stages for --from-stages: pass that too")
    try:
        return (mapping(stage_aliases) or dict(DEFAULT_MAPPING)) if from_stages else None
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--stage-alias'") from None


def _refuse_empty(asked: str, registry: str, searched: int) -> None:
    """An empty registry is rare; a search that silently answers nothing is not (an old
    server, a filter that matches nothing): never write an empty file quietly."""
    raise click.ClickException(
        f"{asked} found no model with an alias in {registry} ({_plural(searched, 'model')} "
        "searched); pass --allow-empty if that is right"
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "es" if noun.endswith("s") else "s")
