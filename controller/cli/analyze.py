"""`aliasctl analyze`: judge the versions aliases moved to; roll back and hold on failure."""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING

import click

from controller.cli.options import (
    current_time,
    file_argument,
    lock_options,
    open_registry,
    registry_options,
    revert_options,
)
from controller.desired.spec import load_spec

if TYPE_CHECKING:
    from pathlib import Path


@click.command()
@file_argument
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
    file: Path,
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
    Exit codes: 0 all passed (or nothing to analyse), 2 still running, 1 failed or held.
    """
    from controller.analysis.act import Outcome, Settings  # noqa: PLC0415
    from controller.analysis.runner import Report, provider_measure, run_pass  # noqa: PLC0415
    from controller.render.analysis import render_analysis  # noqa: PLC0415

    loaded = load_spec(file)
    registry = open_registry(registry_uri, timeout, read_mode, instance)
    settings = Settings(instance, lock_timeout, lock_lease, revert_branch, push)
    say = partial(click.echo, err=True)
    deadline = time.monotonic() + wait_timeout
    seen: dict[str, Outcome] = {}
    while True:
        report = run_pass(loaded, registry, settings, current_time(), provider_measure, say=say)
        for outcome in report.outcomes:
            seen[outcome.target.key] = outcome
        due = report.next_due
        if not wait or due is None or not report.running:
            break
        pause = (due - current_time()).total_seconds()
        if time.monotonic() + max(pause, 0) > deadline:
            say(f"--wait-timeout {wait_timeout:g} s passes before the next measurement: stopping")
            break
        if pause > 0:
            say(f"next measurement in {pause:.0f} s")
            time.sleep(pause)  # the schedule's own interval, not a guess
    final = Report(tuple(seen[key] for key in sorted(seen)))
    click.echo(render_analysis(final, output))
    return final.exit_code
