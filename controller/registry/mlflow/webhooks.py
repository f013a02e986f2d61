"""The MLflow adapter for registry webhooks (list, create, update, delete, test).

Webhooks exist from MLflow 3.3, on SQL backends, and are fired only by an `mlflow
server` (never by a client writing to a database directly). On a basic-auth server
they are admin-only. HTTP time is bounded as for the registry adapter. A server that
says (`GET /version`) it runs an older MLflow is refused before any webhook request;
Databricks and SageMaker's managed MLflow have none at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from controller.errors import Fault, RegistryError
from controller.registry.faults import Diagnosis, diagnose
from controller.registry.mlflow.connection import (
    AUTH_FAILED,
    ask_server_version,
    bound_http_time,
    scrub,
)
from controller.registry.seam import WEBHOOKS_SINCE
from controller.registry.uris import ARN_SCHEME, REMOTE_SCHEMES, check_local_uri, redact_uri, scheme
from controller.registry.webhook_install import DeliveryTest, WebhookInfo

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from controller.registry.seam import ServerVersion

T = TypeVar("T")
PAGE_SIZE = 100
SINCE = f"{WEBHOOKS_SINCE.major}.{WEBHOOKS_SINCE.minor}"
NEEDS = f"webhooks need MLflow >= {SINCE} with a SQL backend"
POLLS = "`aliasctl serve` polls it every --interval instead"
ANSWERED = frozenset({"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "RESOURCE_ALREADY_EXISTS"})


class MlflowWebhooks:
    def __init__(self, uri: str, timeout_seconds: float | None = None, secret: str = ""):
        """`secret` is only kept to scrub it from any message MLflow might echo."""
        self.uri = uri
        self._secret = secret
        # Refused before paying for `import mlflow`.
        if scheme(uri).startswith("databricks"):
            raise RegistryError(self.display_uri, f"Databricks has no MLflow webhooks ({NEEDS})")
        if scheme(uri) == ARN_SCHEME:
            raise RegistryError(
                self.display_uri,
                f"SageMaker's managed MLflow has no webhooks (no IAM action for them): {POLLS}",
            )
        bound_http_time(timeout_seconds)
        check_local_uri(uri)
        from mlflow.exceptions import MlflowException  # noqa: PLC0415 - slow import
        from mlflow.tracking import MlflowClient  # noqa: PLC0415

        self._mlflow_error: type[Exception] = MlflowException
        try:
            self._client: Any = MlflowClient(tracking_uri=uri, registry_uri=uri)
            store = self._client._get_registry_client().store  # type: ignore[no-untyped-call]
        except MlflowException as error:
            raise self._translate(error) from None
        if scheme(uri) in REMOTE_SCHEMES:  # a local store is this process's own MLflow
            self._refuse_old_server(ask_server_version(uri, store))

    def _refuse_old_server(self, version: ServerVersion | None) -> None:
        """One line naming both versions, before any webhook request (unknown: try)."""
        if version is not None and version < WEBHOOKS_SINCE:
            raise RegistryError(
                self.display_uri,
                f"webhooks need MLflow {SINCE} or later, and this server runs MLflow "
                f"{version}: {POLLS}",
            )

    @property
    def display_uri(self) -> str:
        return redact_uri(self.uri)

    def _translate(self, error: Exception) -> RegistryError:
        if isinstance(error, NotImplementedError):
            return RegistryError(self.display_uri, f"this registry has no webhooks ({NEEDS})")
        code = str(getattr(error, "error_code", ""))
        found = diagnose(code, str(error))
        if code in ANSWERED:
            # The server answered: a webhook URL it cannot resolve is not an unreachable registry.
            lines = [line for line in str(error).splitlines() if line.strip()]
            found = Diagnosis(Fault.REFUSED, (lines[0] if lines else code)[:500])
        detail = found.detail
        if found.fault is Fault.AUTH and scheme(self.uri) in REMOTE_SCHEMES:
            detail = AUTH_FAILED
        elif found.fault is Fault.PERMISSION:
            detail = "permission denied: webhooks are admin-only on a basic-auth server"
        elif found.status == 404 and code != "RESOURCE_DOES_NOT_EXIST":
            detail = f"this MLflow server has no webhook API ({NEEDS})"
        elif "webhook url" in detail.lower():
            detail += (
                " (the server decides: MLFLOW_WEBHOOK_ALLOWED_SCHEMES, "
                "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS)"
            )
        return RegistryError(
            self.display_uri, scrub(detail, self.uri, self._secret), fault=found.fault
        )

    def _call(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except (self._mlflow_error, OSError, NotImplementedError) as error:
            raise self._translate(error) from None

    def list_webhooks(self) -> list[WebhookInfo]:
        found: list[WebhookInfo] = []
        token: str | None = None
        while True:
            page = self._call(lambda: self._client.list_webhooks(PAGE_SIZE, token))  # noqa: B023
            found += [_info(w) for w in page]
            token = page.token
            if not token:
                return found

    def create(self, name: str, url: str, events: Collection[str], secret: str) -> WebhookInfo:
        return _info(
            self._call(
                lambda: self._client.create_webhook(
                    name, url, sorted(events), secret=secret, status="ACTIVE"
                )
            )
        )

    def update(
        self, webhook_id: str, name: str, url: str, events: Collection[str], secret: str
    ) -> WebhookInfo:
        """Bring one webhook to these settings, active, with this secret."""
        return _info(
            self._call(
                lambda: self._client.update_webhook(
                    webhook_id,
                    name=name,
                    url=url,
                    events=sorted(events),
                    secret=secret,
                    status="ACTIVE",
                )
            )
        )

    def delete(self, webhook_id: str) -> None:
        self._call(lambda: self._client.delete_webhook(webhook_id))

    def test(self, webhook_id: str) -> DeliveryTest:
        """Ask the server to send its example payload for the webhook's first event."""
        result = self._call(lambda: self._client.test_webhook(webhook_id))
        return DeliveryTest(
            success=bool(result.success),
            status=result.response_status,
            body=result.response_body or "",
            error=result.error_message or "",
        )


def _info(webhook: Any) -> WebhookInfo:
    return WebhookInfo(
        id=str(webhook.webhook_id),
        name=str(webhook.name),
        url=str(webhook.url),
        events=frozenset(str(event) for event in webhook.events),
        active=str(webhook.status) == "ACTIVE",
        created_ms=int(webhook.creation_timestamp or 0),
    )
