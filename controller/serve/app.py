"""Wiring of `aliasctl serve`: the loop on the main thread, HTTP on another, signals.

SIGTERM or SIGINT stops the loop: the write in flight finishes, the rest of
that apply is not started (the next run converges from there), queued
notifications get a few seconds to go out, and the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.errors import ControllerError
from controller.registry.uris import scheme
from controller.serve.http import Endpoints, make_server
from controller.serve.loop import Controller
from controller.serve.metrics import Metrics
from controller.serve.notify import Notifier
from controller.serve.page import render_page
from controller.serve.watch import FileWatch
from controller.serve.webhook_support import WebhookSupport, webhook_support
from controller.serve.webhooks import WebhookReceiver

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import FrameType

    from controller.registry.seam import Registry
    from controller.serve.cycle import Settings
    from controller.serve.notify import Format
    from controller.serve.status import Event

log = logging.getLogger("aliasctl.serve")

NOTIFY_DRAIN_SECONDS = 5.0


@dataclass(frozen=True)
class Wiring:
    listen: tuple[str, int]
    debounce_seconds: float
    notify_urls: tuple[str, ...] = ()
    notify_format: Format = "json"
    notify_secret: str | None = None
    webhook_secret: str | None = None
    webhook_max_age_seconds: float = 300.0
    watch_seconds: float = 5.0  # 0: only --interval and webhooks start a cycle
    status_token: str | None = None  # asked of / and /status.json when set


def _webhooks(registry: Registry, wiring: Wiring, interval_seconds: float) -> WebhookSupport:
    """Whether the server sends webhooks: one `GET /version` (cached by the registry), asked
    only of an MLflow server over HTTP. A database read directly may have any server in
    front of it; Databricks and SageMaker have none whatever their version (and a plugin's
    signing must not stop `serve` before its first cycle)."""
    kind = scheme(registry.display_uri)
    return webhook_support(
        kind,
        registry.is_remote,
        registry.server_version if kind in {"http", "https"} else None,
        secret_set=bool(wiring.webhook_secret),
        interval_seconds=interval_seconds,
    )


def serve(settings: Settings, registry: Registry, wiring: Wiring) -> None:
    """Run the controller until SIGTERM or SIGINT."""
    metrics = Metrics(instance=settings.instance, drift_mode=str(settings.drift))
    notifier = Notifier(
        wiring.notify_urls,
        wiring.notify_format,
        wiring.notify_secret,
        on_result=metrics.notification,
    )

    def on_events(events: Iterable[Event]) -> None:
        for event in events:
            log.info("event: %s", event.describe())
        notifier.send(events)

    webhooks = _webhooks(registry, wiring, settings.interval_seconds)
    controller = Controller(
        settings,
        registry,
        debounce_seconds=wiring.debounce_seconds,
        on_cycle=metrics.observe_cycle,
        on_events=on_events,
        webhooks=webhooks,
    )
    receiver = WebhookReceiver(
        wiring.webhook_secret,
        controller.queue,
        on_outcome=metrics.webhook,
        max_age_seconds=wiring.webhook_max_age_seconds,
    )
    endpoints = Endpoints(
        snapshot=lambda: controller.snapshot,
        metrics=metrics.render,
        page=render_page,
        webhook=receiver.handle,
        status_token=wiring.status_token,
    )
    try:
        server = make_server(wiring.listen, endpoints)
    except OSError as error:  # the port is taken, or the address is not this host's
        notifier.close(0)
        where = ":".join(str(part) for part in wiring.listen)
        raise ControllerError(f"--listen {where}: {error.strerror or error}") from None
    host, port = server.server_address[:2]
    http = threading.Thread(target=server.serve_forever, name="aliasctl-http", daemon=True)
    http.start()

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: finishing the write in flight, then stopping", signal.Signals(signum).name)
        controller.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    environment = f"environment {settings.served.name}, " if settings.served else ""
    log.info(
        "serving on http://%s:%s (reconcile every %gs, drift %s, %sregistry %s)",
        host,
        port,
        settings.interval_seconds,
        settings.drift,
        environment,
        registry.display_uri,
    )
    log.log(
        logging.WARNING if webhooks.worrying else logging.INFO, "webhooks: %s", webhooks.summary
    )
    watch = None
    if wiring.watch_seconds > 0:
        files = settings.served.files if settings.served else (settings.file,)
        watch = FileWatch(files, controller.queue.request, wiring.watch_seconds).start()
    try:
        controller.run()
    finally:
        if watch is not None:
            watch.stop()
        server.shutdown()
        server.server_close()
        notifier.close(NOTIFY_DRAIN_SECONDS)
        log.info("stopped")
