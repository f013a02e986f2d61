"""`aliasctl history` and `aliasctl rollback`: git as the audit log."""

from __future__ import annotations

from pathlib import Path

import click

from controller.cli.options import (
    DEFAULT_FILE,
    EXIT_OK,
    OUTPUT_HELP,
    OUTPUTS,
    file_argument,
)
from controller.desired.names import split_target


@click.command()
@click.argument("target", required=False, metavar="[MODEL[@ALIAS]]")
@file_argument
@click.option(
    "--at",
    "at",
    metavar="TIMESTAMP|REV",
    help="Show what each alias pointed to at this moment (ISO date/time, UTC if no zone) "
    "or git revision.",
)
@click.option("--output", "-o", type=click.Choice(OUTPUTS), default="text", help=OUTPUT_HELP)
def history(target: str | None, file: Path, at: str | None, output: str) -> int:
    """Timeline of alias changes from the git history of the file."""
    from controller.gitops.history import (  # noqa: PLC0415
        entry_at_revision,
        parse_moment,
        read_timeline,
        select,
    )
    from controller.render.history import render_at, render_history  # noqa: PLC0415

    if target and file == Path(DEFAULT_FILE) and _looks_like_file(target):
        file, target = Path(target), None  # `history FILE`: the one argument is the file
    model, alias = _split_target(target) if target else (None, None)
    if at is None:
        timeline = select(read_timeline(file), model, alias)
        click.echo(render_history(timeline, output))
        return EXIT_OK
    moment = parse_moment(at)
    timeline = read_timeline(file)
    if moment is not None:
        entry = timeline.state_at(moment)
    else:
        entry = entry_at_revision(file, timeline, at)
    click.echo(render_at(select(timeline, model, alias), entry, at, (model, alias), output))
    return EXIT_OK


@click.command()
@click.argument("target", metavar="MODEL@ALIAS")
@file_argument
@click.option(
    "--to",
    "to",
    metavar="VERSION|REV",
    help="Version number, or the git revision whose value to restore (all digits means a "
    "version: give a revision as a name or a hash with a letter). Default: the value before "
    "the change that set the current one.",
)
@click.option("--commit", "make_commit", is_flag=True, help="Also commit the edited file.")
def rollback(target: str, file: Path, to: str | None, make_commit: bool) -> int:
    """Point MODEL@ALIAS back to its previous version by editing the file.

    Then the usual loop carries it out: pull request, merge, apply.
    """
    from controller.gitops import rollback as rb  # noqa: PLC0415

    model, alias = _split_target(target)
    if alias is None:
        raise click.BadParameter("expected MODEL@ALIAS", param_hint="TARGET")
    change = rb.prepare_rollback(file, model, alias, to)
    if change.target == change.current:
        click.echo(f"{change.key} already points to {change.current}: nothing to roll back.")
        return EXIT_OK
    rb.edit_file(file, change)
    click.echo(f"{file}: {change.key} {change.current} -> {change.target}")
    if change.changed_in is not None and change.revert_equivalent:
        click.echo(f"Equivalent: {rb.revert_command(change.changed_in)}")
    if make_commit:
        sha = rb.commit(file, change)
        click.echo(f"Committed {sha[:7]}: {rb.commit_message(change).splitlines()[0]}")
    click.echo("Next: open a pull request; merging it applies the rollback.")
    return EXIT_OK


def _looks_like_file(argument: str) -> bool:
    return argument.endswith((".yaml", ".yml")) or Path(argument).is_file()


def _split_target(target: str) -> tuple[str, str | None]:
    model, alias = split_target(target)
    if not model:
        raise click.BadParameter(f"{target!r}: expected MODEL or MODEL@ALIAS")
    return model, alias or None
