"""`aliasctl analyze`: judge the versions aliases moved to; roll back and hold on failure."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from controller.cli.environments import environment_option
from controller.cli.options import (
    DEFAULT_FILE,
    current_time,
    lock_options,
    open_registry,
    registry_options,
    revert_options,
)
from controller.desired.spec import load_spec
from controller.environments.files import uses_environments

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

    from controller.analysis.act import Outcome
    from controller.analysis.runner import Report

    # One environment's (or the one file's) pass at `now`.
    Pass = Callable[[datetime], Report]


@click.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path), metavar="[FILE...]")
@environment_option
@registry_options
@click.option(
    "--wait",
    is_flag=True,
    help="Keep measuring until every analysis is decided (or --wait-timeout passes); without "
    "it, take the measurements that are due now and exit (2 while some still run).",
)
@click.option(
    "--wait-timeout",
    type=click.FloatRange(min=1),
    default=3600,
    show_default=True,
    help="Seconds --wait waits at most.",
)
@revert_options
@lock_options(30, "Seconds to wait for the registry lock before a rollback or hold.")
def analyze(
    files: tuple[Path, ...],
    environments: tuple[str, ...],
    registry_uri: str | None,
    timeout: float | None,
    instance: str,
    read_mode: str,
    output: str,
    wait: bool,
    wait_timeout: float,
    revert_branch: bool,
    push: bool,
    lock_timeout: float,
    lock_lease: float,
) -> int:
    """Analyse aliases that moved to a new version, as their policies' `analysis:` says.

    A version that passes is recorded as verified; one that fails is rolled back to the
    last verified version and held there, so no apply, heal or serve brings it back
    until the file names another version or `aliasctl hold release`. Inconclusive
    results and provider errors hold the alias where it is, for a person.
    Several files, or a file that names its environment, are analysed a section per
    environment, each on its own registry, with promotions read as their copies there
    (`--environment` picks some).
    Exit codes: 0 all passed (or nothing to analyse), 2 still running, 1 failed or held
    (the worst across environments).
    """
    from controller.analysis.act import Settings  # noqa: PLC0415
    from controller.analysis.runner import provider_measure, run_pass  # noqa: PLC0415
    from controller.render.analysis import render_analysis  # noqa: PLC0415

    settings = Settings(instance, lock_timeout, lock_lease, revert_branch, push)
    say = partial(click.echo, err=True)
    paths = files or (Path(DEFAULT_FILE),)
    if uses_environments(paths):
        from controller.cli.environments import analysis_passes  # noqa: PLC0415
        from controller.render.analysis import render_environments_analysis  # noqa: PLC0415

        selected, passes = analysis_passes(
            paths, environments, registry_uri, timeout, read_mode, settings, say
        )
        reports = wait_for_analyses(passes, wait, wait_timeout, say)
        sections = [(file.name, file.path, reports[file.name]) for file in selected]
        click.echo(render_environments_analysis(sections, output))
        return max((r.exit_code for r in reports.values()), key=_severity, default=0)
    if environments:
        raise click.UsageError("--environment needs files that name their environment")
    loaded = load_spec(paths[0])
    registry = open_registry(registry_uri, timeout, read_mode, instance)

    def one_pass(now: datetime) -> Report:
        return run_pass(loaded, registry, settings, now, provider_measure, say=say)

    report = wait_for_analyses({"": one_pass}, wait, wait_timeout, say)[""]
    click.echo(render_analysis(report, output))
    return report.exit_code


def _severity(code: int) -> int:
    """1 (failed or held) over 2 (running) over 0 (passed)."""
    return {0: 0, 2: 1, 1: 2}[code]


def wait_for_analyses(
    passes: Mapping[str, Pass], wait: bool, wait_timeout: float, say: Callable[[str], None]
) -> dict[str, Report]:
    """A pass each, then (with --wait) one loop over all of them: sleep until the earliest
    measurement due across them, and run the passes that are due then, until none runs."""
    from controller.analysis.runner import Report  # noqa: PLC0415

    deadline = time.monotonic() + wait_timeout
    seen: dict[str, dict[str, Outcome]] = {name: {} for name in passes}
    due: dict[str, datetime | None] = dict.fromkeys(passes)  # None: no measurement waits
    ready = list(passes)
    while True:
        for name in ready:
            report = passes[name](current_time())  # its own clock: a pass may take minutes
            seen[name] |= {outcome.target.key: outcome for outcome in report.outcomes}
            due[name] = report.next_due if report.running else None
        waiting = {name: at for name, at in due.items() if at is not None}
        if not wait or not waiting:
            break
        earliest = min(waiting.values())
        pause = (earliest - current_time()).total_seconds()
        if time.monotonic() + max(pause, 0) > deadline:
            say(f"--wait-timeout {wait_timeout:g} s passes before the next measurement: stopping")
            break
        if pause > 0:
            say(f"next measurement in {pause:.0f} s")
            time.sleep(pause)  # the schedule's own interval, not a guess
        now = current_time()
        ready = [name for name, at in waiting.items() if at <= now] or [
            min(waiting, key=lambda name: waiting[name])
        ]
    return {name: Report(tuple(found[k] for k in sorted(found))) for name, found in seen.items()}
