"""`aliasctl plan`: what an apply would do, for review."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from controller.cli.environments import environment_option, plan_environments
from controller.cli.options import (
    DEFAULT_FILE,
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    open_registry,
    reconcile_options,
    registry_options,
    safety_options,
)
from controller.core.evidence import DEFAULT_EVIDENCE_LIMIT
from controller.desired.spec import load_spec
from controller.environments.files import uses_environments

if TYPE_CHECKING:
    from controller.desired.spec import LoadedSpec
    from controller.reconcile import Options

EVIDENCE_MODES = ("summary", "all", "none")


@click.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path), metavar="[FILE...]")
@environment_option
@registry_options
@safety_options
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there is nothing to do, 2 when changes are pending, 1 on error.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save the plan, with digests of the file and the live state, for `apply PLAN.json`.",
)
@click.option(
    "--evidence",
    "evidence_mode",
    type=click.Choice(EVIDENCE_MODES),
    default="summary",
    show_default=True,
    help="summary: runs, metrics and signatures for the first --evidence-limit creates and "
    "updates (promotions of existing aliases first), one line for the rest; all: for every "
    "one; none: read none. Gates read what they judge for every change either way.",
)
@click.option(
    "--evidence-limit",
    type=click.IntRange(min=0),
    default=DEFAULT_EVIDENCE_LIMIT,
    show_default=True,
    help="Changes shown with evidence under --evidence summary.",
)
def plan(
    files: tuple[Path, ...],
    environments: tuple[str, ...],
    registry_uri: str | None,
    timeout: float | None,
    instance: str,
    read_mode: str,
    output: str,
    allow_delete: bool,
    max_deletes: int,
    drift: str,
    verify_timeout: float,
    break_glass: str | None,
    detailed_exitcode: bool,
    out: Path | None,
    evidence_mode: str,
    evidence_limit: int,
) -> int:
    """Show what apply would change, changing nothing.

    Several files, or a file that names its environment, are planned a section per
    environment, each against its own registry (`--environment` picks some).
    """
    from controller import savedplan  # noqa: PLC0415
    from controller.reconcile import prepare_plan  # noqa: PLC0415
    from controller.render.reports import plan_json, render_plan  # noqa: PLC0415

    def options_for(loaded: LoadedSpec, instance: str) -> Options:
        options = reconcile_options(
            loaded,
            instance,
            allow_delete,
            max_deletes,
            drift,
            verify_timeout,
            break_glass,
            evidence=evidence_mode != "none",  # the plan is what a reviewer reads
        )
        if evidence_mode == "all":
            return replace(options, evidence_limit=None)
        if evidence_mode == "summary":
            return replace(options, evidence_limit=evidence_limit)
        return options

    paths = files or (Path(DEFAULT_FILE),)
    if uses_environments(paths):
        if out is not None:
            raise click.UsageError("--out saves the plan of one file without environments")
        return plan_environments(
            paths, environments, registry_uri, timeout, read_mode, output, options_for,
            detailed_exitcode,
        )  # fmt: skip
    if environments:
        raise click.UsageError("--environment needs files that name their environment")
    file = paths[0]
    loaded = load_spec(file)
    registry = open_registry(registry_uri, timeout, read_mode, instance)
    options = options_for(loaded, instance)
    the_plan = prepare_plan(loaded.spec.declared(), registry, options)
    click.echo(render_plan(the_plan, registry.display_uri, output))
    if the_plan.problems:
        return EXIT_ERROR
    if out is not None:
        body = plan_json(the_plan, registry.display_uri)
        savedplan.save(out, the_plan, body, file, options)
        click.echo(f"Saved the plan to {out}; `aliasctl apply {out}` applies exactly it.", err=True)
    if detailed_exitcode and the_plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK
