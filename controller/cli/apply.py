"""`aliasctl apply`: plan again under the registry lock, then write."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from controller.cli.environments import apply_environments, environment_option
from controller.cli.options import (
    DEFAULT_FILE,
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    check_reason,
    current_time,
    lock_options,
    open_registry,
    reconcile_options,
    registry_options,
    safety_options,
)
from controller.core.problem import messages
from controller.desired.spec import load_spec
from controller.environments.files import uses_environments
from controller.errors import PreflightError

if TYPE_CHECKING:
    from controller.desired.spec import LoadedSpec
    from controller.reconcile import Options


@click.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path), metavar="[FILE...|PLAN.json]")
@environment_option
@registry_options
@safety_options
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=16,
    show_default=True,
    help="Concurrent registry writes (a remote registry only; a local database is written "
    "serially).",
)
@lock_options(
    0, "Seconds to wait for the registry lock when another apply holds it (0: fail at once)."
)
def apply(
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
    parallelism: int,
    lock_timeout: float,
    lock_lease: float,
) -> int:
    """Plan, then make the registry match the file; verify by re-reading.

    Given a plan saved by `plan --out`, apply exactly that plan, or refuse it
    (changing nothing) when the file or the registry changed since. Several files, or a
    file that names its environment, are applied an environment at a time, sources first:
    a version promoted from another environment is copied once, then the alias moves.
    """
    from controller import savedplan  # noqa: PLC0415
    from controller.apply import apply_plan  # noqa: PLC0415
    from controller.gitops.provenance import make_stamp  # noqa: PLC0415
    from controller.reconcile import DriftMode, prepare_plan  # noqa: PLC0415
    from controller.registry.lock import held, lock_name  # noqa: PLC0415
    from controller.render.reports import plan_json, render_apply  # noqa: PLC0415

    paths = files or (Path(DEFAULT_FILE),)
    file = paths[0]
    saved = savedplan.load(file) if len(paths) == 1 and savedplan.is_saved_plan(file) else None
    if saved is None and uses_environments(paths):

        def options_for(loaded: LoadedSpec, instance: str) -> Options:
            return reconcile_options(
                loaded, instance, allow_delete, max_deletes, drift, verify_timeout, break_glass
            )

        return apply_environments(
            paths, environments, registry_uri, timeout, read_mode, output, options_for,
            lock_timeout=lock_timeout, lock_lease=lock_lease, parallelism=parallelism,
        )  # fmt: skip
    if environments:
        raise click.UsageError("--environment needs files that name their environment")
    if saved is not None:
        savedplan.check_file(saved)
        file = saved.spec_file
    loaded = load_spec(file)
    registry = open_registry(registry_uri, timeout, read_mode, instance)
    declared = loaded.spec.declared()
    if saved is not None:
        options = savedplan.apply_options(saved, loaded, current_time(), check_reason(break_glass))
    else:
        options = reconcile_options(
            loaded, instance, allow_delete, max_deletes, drift, verify_timeout, break_glass
        )
    say = partial(click.echo, err=True)
    name = lock_name(registry, options.instance, declared)
    # Plan under the lock too: what is applied is what was planned against.
    with held(
        registry, name, timeout_seconds=lock_timeout, lease_seconds=lock_lease, say=say
    ) as lock:
        the_plan = prepare_plan(declared, registry, options)
        if the_plan.problems:
            raise PreflightError(messages(the_plan.problems))
        if saved is not None:
            body = plan_json(the_plan, registry.display_uri)
            savedplan.check_live(saved, the_plan, registry.display_uri, body)
        result = apply_plan(
            the_plan,
            declared,
            registry,
            instance=options.instance,
            stamp=make_stamp(file, os.environ, options.now, the_plan.used_break_glass),
            parallelism=parallelism,
            must_stop=lock.lost,
        )
    click.echo(render_apply(the_plan, result, registry.display_uri, output))
    if not result.ok:
        return EXIT_ERROR
    return EXIT_CHANGES if options.drift is DriftMode.WARN and the_plan.drift else EXIT_OK
