"""`plan`, `apply`, `drift` and `analyze` over several files, or a file that names its
environment."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import click

from controller.cli.options import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, open_registry

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime
    from pathlib import Path

    from controller.analysis.act import Settings as AnalysisSettings
    from controller.analysis.runner import Report
    from controller.desired.spec import LoadedSpec
    from controller.environments.files import EnvironmentFile
    from controller.environments.registries import Registries
    from controller.reconcile import Options
    from controller.registry.seam import Registry

environment_option = click.option(
    "--environment",
    "environments",
    multiple=True,
    metavar="NAME",
    help="Only this environment (repeatable); all of the files' environments by default. "
    "Sources are still read to resolve promotions.",
)


def open_for_file(
    file: Path, registry_uri: str | None, timeout: float | None, read_mode: str, instance: str
) -> tuple[Registry, str, list[str]]:
    """The registry, instance and models of a command on one file (hold, unlock): those of
    its environment when it names one (as plan and apply use them, so that the lock is
    theirs too), else the command's options; a missing file names no model."""
    from controller.desired.spec import load_spec  # noqa: PLC0415
    from controller.environments.files import EnvironmentFile  # noqa: PLC0415

    if not file.exists():
        return open_registry(registry_uri, timeout, read_mode, instance), instance, []
    loaded = load_spec(file)
    models = list(loaded.spec.models)  # promoted aliases' models too: no resolution needed
    if loaded.spec.environment is None:
        return open_registry(registry_uri, timeout, read_mode, instance), instance, models
    environment = EnvironmentFile(loaded)
    own = environment.spec.instance_name
    uri = environment.registry_uri() or registry_uri
    return open_registry(uri, timeout, read_mode, own), own, models


def _open(
    files: Sequence[Path],
    names: Sequence[str],
    registry_uri: str | None,
    timeout: float | None,
    read_mode: str,
) -> tuple[list[EnvironmentFile], Registries]:
    """The environments picked (sources first) and their registries, opened when first used;
    an environment that names no registry uses the command's own."""
    from controller.environments.files import load_environments  # noqa: PLC0415
    from controller.environments.registries import Registries  # noqa: PLC0415

    environments = load_environments(files)
    registries = Registries(
        environments,
        lambda uri, instance: open_registry(uri or registry_uri, timeout, read_mode, instance),
    )
    return environments.select(names), registries


def plan_environments(
    files: Sequence[Path],
    names: Sequence[str],
    registry_uri: str | None,
    timeout: float | None,
    read_mode: str,
    output: str,
    options_for: Callable[[LoadedSpec, str], Options],
    detailed_exitcode: bool,
) -> int:
    from controller.environments.run import plan_environment  # noqa: PLC0415
    from controller.render.environments import render_environments  # noqa: PLC0415

    selected, registries = _open(files, names, registry_uri, timeout, read_mode)
    plans = [plan_environment(file, registries, options_for) for file in selected]
    click.echo(render_environments(plans, output))
    if any(p.plan.problems for p in plans):
        return EXIT_ERROR
    if detailed_exitcode and any(p.has_changes for p in plans):
        return EXIT_CHANGES
    return EXIT_OK


def drift_environments(
    files: Sequence[Path],
    names: Sequence[str],
    registry_uri: str | None,
    timeout: float | None,
    read_mode: str,
    output: str,
    options_for: Callable[[LoadedSpec, str], Options],
) -> int:
    """Each environment's drift, a section each; promotions resolve to their copies."""
    from controller.environments.run import plan_environment  # noqa: PLC0415
    from controller.render.environments import render_environments_drift  # noqa: PLC0415

    selected, registries = _open(files, names, registry_uri, timeout, read_mode)
    plans = [plan_environment(file, registries, options_for) for file in selected]
    click.echo(render_environments_drift(plans, output))
    return EXIT_CHANGES if any(p.plan.drift for p in plans) else EXIT_OK


def apply_environments(
    files: Sequence[Path],
    names: Sequence[str],
    registry_uri: str | None,
    timeout: float | None,
    read_mode: str,
    output: str,
    options_for: Callable[[LoadedSpec, str], Options],
    *,
    lock_timeout: float,
    lock_lease: float,
    parallelism: int,
) -> int:
    """Each environment in turn, sources first; the first that fails stops the rest."""
    from controller.environments.run import apply_environment  # noqa: PLC0415
    from controller.render.environments import render_environments  # noqa: PLC0415

    selected, registries = _open(files, names, registry_uri, timeout, read_mode)
    say = partial(click.echo, err=True)
    done = []
    for file in selected:
        applied = apply_environment(
            file, registries, options_for, lock_timeout=lock_timeout, lock_lease=lock_lease,
            parallelism=parallelism, say=say,
        )  # fmt: skip
        done.append(applied)
        if applied.result is not None and not applied.result.ok:
            break
    click.echo(render_environments(done, output))
    failed = any(p.result is not None and not p.result.ok for p in done)
    return EXIT_ERROR if failed or len(done) < len(selected) else EXIT_OK


def analysis_passes(
    files: Sequence[Path],
    names: Sequence[str],
    registry_uri: str | None,
    timeout: float | None,
    read_mode: str,
    settings: AnalysisSettings,
    say: Callable[[str], None],
) -> tuple[list[EnvironmentFile], dict[str, Callable[[datetime], Report]]]:
    """Each picked environment's analysis pass: on its own registry, under its own instance
    and lock, its file read with every promotion as its copy there (read again each pass),
    so a failure rolls back to a version already in that registry and reverts that file."""
    from controller.analysis.runner import provider_measure, run_pass  # noqa: PLC0415
    from controller.environments.registries import resolve_file  # noqa: PLC0415
    from controller.environments.soak import source_stretches  # noqa: PLC0415

    selected, registries = _open(files, names, registry_uri, timeout, read_mode)

    def pass_for(file: EnvironmentFile) -> Callable[[datetime], Report]:
        own = replace(
            settings, instance=file.spec.instance_name, environment=file.name,
            lock_models=tuple(file.loaded.spec.models),
        )  # fmt: skip

        def one_pass(now: datetime) -> Report:
            current = resolve_file(file, registries)
            # A rollback passes promote_from across environments as apply would pass it.
            stretches, _ = source_stretches(registries.environments, file, list(current.promotions))
            acts = replace(own, source_soak=stretches)
            registry = registries.of(file.name)
            return run_pass(current.loaded, registry, acts, now, provider_measure, say=say)

        return one_pass

    return selected, {file.name: pass_for(file) for file in selected}
