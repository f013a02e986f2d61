"""`aliasctl promote`: one reviewed line that promotes a version between environments."""

from __future__ import annotations

from pathlib import Path

import click

from controller.cli.options import DEFAULT_FILE, EXIT_OK


@click.command()
@click.argument("target", metavar="MODEL@ALIAS")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path), metavar="[FILE...]")
@click.option(
    "--from", "source", required=True, metavar="ENV", help="The environment it comes from."
)
@click.option(
    "--to", "target_env", required=True, metavar="ENV", help="The environment it goes to."
)
@click.option(
    "--from-alias",
    metavar="ALIAS",
    help="Promote the version the source names for this alias (default: the same alias).",
)
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=1),
    help="Promote this version of the source registry instead of the one its file names.",
)
@click.option("--commit", "make_commit", is_flag=True, help="Also commit the edited file.")
def promote(
    target: str,
    files: tuple[Path, ...],
    source: str,
    target_env: str,
    from_alias: str | None,
    version: int | None,
    make_commit: bool,
) -> int:
    """Promote MODEL@ALIAS from one environment to the next by editing the target's file.

    The alias's line in the target environment's file becomes {from: SOURCE, version: N},
    N being the version the source's file names for the alias. Then the usual loop
    carries it out: pull request, merge, apply (which copies the version once).
    """
    from controller.desired.names import split_target  # noqa: PLC0415
    from controller.environments import promote as pr  # noqa: PLC0415
    from controller.environments.files import load_environments  # noqa: PLC0415

    model, alias = split_target(target)
    if not model or not alias:
        raise click.BadParameter("expected MODEL@ALIAS", param_hint="MODEL@ALIAS")
    environments = load_environments(files or (Path(DEFAULT_FILE),))
    change = pr.prepare_promote(
        environments, model, alias, source, target_env, from_alias=from_alias, version=version
    )
    pr.edit_file(change)
    click.echo(f"{change.file}: {change.describe()}")
    if make_commit:
        sha = pr.commit(change)
        click.echo(f"Committed {sha[:7]}: {pr.commit_message(change).splitlines()[0]}")
    click.echo("Next: open a pull request; merging it copies the version once and moves the alias.")
    return EXIT_OK
