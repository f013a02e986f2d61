"""`aliasctl import`: adopt a registry's aliases (and stages) into aliases.yaml."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from controller.cli.options import (
    DEFAULT_FILE,
    EXIT_CHANGES,
    EXIT_OK,
    connection_options,
    open_registry,
)
from controller.core.stages import DEFAULT_MAPPING, STAGES, describe, mapping, parse_pair
from controller.core.state import utc_text
from controller.desired.environment import check_environment_name, check_variable
from controller.desired.spec import load_spec

if TYPE_CHECKING:
    from collections.abc import Callable

    from controller.desired.spec import LoadedSpec
    from controller.environments.importing import Chosen, ImportOptionsError, Into
    from controller.registry.seam import Registry


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
@click.option(
    "--environment",
    metavar="NAME",
    callback=lambda _c, _p, v: _checked(v, check_environment_name, "--environment"),
    help="Write a new file for this environment: it opens with an `environment:` block, and "
    "the models are read under its instance (NAME; --instance given is written as the "
    "block's instance). With --merge into an environment's file: optional, and must name "
    "that file's environment (whose own registry and instance are read).",
)
@click.option(
    "--registry-uri-env",
    metavar="VAR",
    callback=lambda _c, _p, v: _checked(v, check_variable, "--registry-uri-env"),
    help="With --environment: the variable holding the environment's registry URI, read now "
    "as plan and apply will and written to the file as `registry_uri_env: VAR`. A file "
    "never gets the URI itself: a host name (or a password) does not belong in git, and CI "
    "passes a variable from a secret. Without it, the file names no registry and every "
    "command is given --registry-uri.",
)
@click.option(
    "--source",
    "sources",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    metavar="FILE",
    help="Another environment's file (repeatable, e.g. staging.yaml): a live alias at a "
    "copy aliasctl made from it is written as that promotion, {from: staging, version: 7}. "
    "Merging into a file with promotions, give their sources' files.",
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
    environment: str | None,
    registry_uri_env: str | None,
    sources: tuple[Path, ...],
    registry_uri: str | None,
    timeout: float | None,
    instance: str,
    read_mode: str,
) -> int:
    """Write aliases.yaml from the live registry: every alias of the chosen models
    (with --from-stages, also one per stage; with --environment, an environment's file, in
    which copies made from the --source environments are written as promotions)."""
    from controller.environments import importing  # noqa: PLC0415

    if not (models or all_models or filter_string):
        raise click.UsageError("name models to import, or pass --all or --filter")
    stage_map = _stage_map(from_stages, stage_aliases)
    target = out or Path(DEFAULT_FILE)
    loaded = load_spec(target) if merge else None
    if not merge and out is not None and out.exists():
        raise click.UsageError(f"{out} exists: pass --merge to add to it")
    wanted = importing.Wanted(
        environment, registry_uri_env, sources, instance, _explicit("instance")
    )

    def opener(uri: str | None, name: str) -> Registry:
        return open_registry(uri or registry_uri, timeout, read_mode, name)

    try:
        into = importing.import_into(loaded, target, wanted, opener)
    except importing.ImportOptionsError as error:
        raise _usage_error(error) from None
    chosen = importing.choose(
        into, loaded, models, every=all_models, filter_string=filter_string, stage_map=stage_map
    )
    for note in chosen.notes:
        click.echo(f"note: {note}", err=True)
    searched = all_models or filter_string is not None
    if searched and not chosen.selection.models and not allow_empty:
        asked = "--all" if all_models else f"--filter {filter_string!r}"
        _refuse_empty(asked, into.label, chosen.found)
    if loaded is None:
        conflicts = _write_new(out, into, chosen, stage_map)
    else:
        conflicts = _write_merged(target, loaded, chosen)
    for conflict in conflicts:
        click.echo(f"conflict: {conflict}", err=True)
    return EXIT_CHANGES if conflicts else EXIT_OK


def _write_new(
    out: Path | None, into: Into, chosen: Chosen, stage_map: dict[str, str] | None
) -> list[str]:
    """The new file, printed or written to `out`, and its summary; its conflicts."""
    from controller.gitops.importer import render  # noqa: PLC0415

    selection, values = chosen.selection, chosen.values
    moment = utc_text(datetime.now(UTC))
    text = render(
        selection.models, into.label, moment, selection.from_stage, stage_map,
        environment=into.lines, values=values,
    )  # fmt: skip
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")  # the file may name models in any script
    count = len(selection.models)
    aliases = sum(len(a) for a in selection.models.values())
    staged = f" ({len(selection.from_stage)} from stages)" if stage_map else ""
    staged += f" ({_plural(len(values), 'promotion')})" if values else ""
    click.echo(
        f"Imported {_plural(count, 'model')}, {_plural(aliases, 'alias')}{staged}.", err=True
    )
    return list(selection.conflicts)


def _write_merged(target: Path, loaded: LoadedSpec, chosen: Chosen) -> list[str]:
    """`target` with what it lacks added (when anything is), and what was; the conflicts."""
    from controller.desired.yamlsource import write_text  # noqa: PLC0415
    from controller.gitops.import_merge import merge  # noqa: PLC0415

    selection = chosen.selection
    merged = merge(
        loaded, selection.models, selection.from_stage,
        promoted=chosen.promoted, values=chosen.values,
    )  # fmt: skip
    if merged.added:
        write_text(target, merged.text)
    click.echo(f"{target}: added {', '.join(merged.added) or 'nothing'}", err=True)
    return [*selection.conflicts, *merged.conflicts]


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


def _checked(value: str | None, check: Callable[[str], str], option: str) -> str | None:
    try:
        return None if value is None else check(value)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint=f"'{option}'") from None


def _explicit(name: str) -> bool:
    source = click.get_current_context().get_parameter_source(name)
    return source in {ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT}


def _usage_error(error: ImportOptionsError) -> click.UsageError:
    """What the options ask no import can do: shown as click shows its own usage errors."""
    if error.option is None:
        return click.UsageError(str(error))
    return click.BadParameter(str(error), param_hint=f"'{error.option}'")
