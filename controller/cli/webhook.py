"""`aliasctl webhook install|test`: register aliasctl's endpoint with the MLflow server."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from controller.cli.options import EXIT_ERROR, EXIT_OK, server_options
from controller.registry.webhook_install import (
    Action,
    DeliveryTest,
    WebhookInfo,
    plan_install,
    select_for_test,
)
from controller.serve.webhook_event import SUBSCRIBED_EVENTS

if TYPE_CHECKING:
    from controller.registry.mlflow.webhooks import MlflowWebhooks

SECRET_ENV = "ALIASCTL_WEBHOOK_SECRET"  # noqa: S105 - the variable's name, not a secret
DEFAULT_NAME = "aliasctl"
SHORT_SECRET = 16  # Standard Webhooks asks for 24 to 64 random bytes


@click.group()
def webhook() -> None:
    """Register aliasctl's endpoint for MLflow's alias and new-version events (MLflow >= 3.3)."""


@webhook.command()
@click.option(
    "--url",
    required=True,
    help="Where MLflow should POST, e.g. https://aliasctl.example/webhooks/mlflow.",
)
@click.option(
    "--name",
    default=DEFAULT_NAME,
    show_default=True,
    help="The webhook's name: a webhook with this name or this URL is updated, never "
    "duplicated (two controllers on one server need two names).",
)
@server_options
def install(url: str, name: str, registry_uri: str | None, timeout: float | None) -> int:
    """Create or update the webhook, signed with $ALIASCTL_WEBHOOK_SECRET (idempotent)."""
    secret = os.environ.get(SECRET_ENV, "")
    if not secret.strip():
        raise click.ClickException(
            f"{SECRET_ENV} is not set: MLflow signs every delivery with it and "
            "`aliasctl serve` refuses unsigned ones (set the same value for both)"
        )
    if len(secret) < SHORT_SECRET:
        click.echo(f"note: {SECRET_ENV} is short; use at least 24 random bytes", err=True)
    hooks = _open(registry_uri, timeout, secret)
    events = frozenset(SUBSCRIBED_EVENTS)
    plan = plan_install(hooks.list_webhooks(), name, url, events)
    if plan.keep is None:
        done = hooks.create(name, url, events, secret)
        click.echo(f"created webhook {done.describe()}, for {', '.join(sorted(events))}")
    else:
        # The secret is sent every time: MLflow never shows it, so it cannot be compared.
        done = hooks.update(plan.keep.id, name, url, events, secret)
        what = "; ".join(plan.changes) if plan.action is Action.UPDATE else "settings as asked"
        click.echo(f"{plan.action} webhook {done.describe()} ({what}; secret re-sent)")
    for duplicate in plan.duplicates:
        hooks.delete(duplicate.id)
        click.echo(f"deleted duplicate webhook {duplicate.describe()}")
    if plan.action is not Action.UNCHANGED or plan.duplicates:
        click.echo(
            "note: a running MLflow server may use its cached webhook list for up to "
            "MLFLOW_WEBHOOK_CACHE_TTL seconds (60 by default)",
            err=True,
        )
    return EXIT_OK


@webhook.command("test")
@click.option("--url", help="Test the webhook(s) with this URL.")
@click.option("--id", "webhook_id", help="Test the webhook with this id.")
@click.option(
    "--name",
    default=DEFAULT_NAME,
    show_default=True,
    help="Without --url or --id: test the webhook(s) with this name.",
)
@server_options
def test_command(
    url: str | None,
    webhook_id: str | None,
    name: str,
    registry_uri: str | None,
    timeout: float | None,
) -> int:
    """Ask MLflow to send its example alias event now, and report what the target answered."""
    if url is not None and webhook_id is not None:
        raise click.ClickException("give --url or --id, not both")
    hooks = _open(registry_uri, timeout, os.environ.get(SECRET_ENV, ""))
    found: list[WebhookInfo] = []
    if webhook_id is not None:
        targets = [webhook_id]
    else:
        found = select_for_test(hooks.list_webhooks(), url=url, name=name)
        if not found:
            which = f"with URL {url}" if url is not None else f"named {name}"
            raise click.ClickException(
                f"no webhook {which} on {hooks.display_uri}: run `aliasctl webhook install`"
            )
        targets = [w.id for w in found]
    failed = False
    for target in targets:
        result = hooks.test(target)
        failed |= not result.success
        click.echo(_describe_test(target, result, _by_id(found, target)))
    return EXIT_ERROR if failed else EXIT_OK


def _by_id(found: list[WebhookInfo], webhook_id: str) -> WebhookInfo | None:
    return next((w for w in found if w.id == webhook_id), None)


def _describe_test(webhook_id: str, result: DeliveryTest, info: WebhookInfo | None) -> str:
    where = info.url if info is not None else f"webhook {webhook_id}"
    if result.status is None:
        return f"test delivery to {where} failed: {_one_line(result.error) or 'no answer'}"
    verdict = "delivered" if result.success else "refused"
    body = _one_line(result.body)
    return f"test delivery to {where}: {verdict}, HTTP {result.status}" + (
        f": {body}" if body else ""
    )


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _open(registry_uri: str | None, timeout: float | None, secret: str) -> MlflowWebhooks:
    from controller.registry.mlflow.connection import resolve_uri  # noqa: PLC0415 - mlflow is slow
    from controller.registry.mlflow.webhooks import MlflowWebhooks  # noqa: PLC0415

    return MlflowWebhooks(resolve_uri(registry_uri), timeout, secret)
