"""Registry URIs printed safely, told apart, and errors scrubbed (no registry needed)."""

from __future__ import annotations

import pytest

from controller.errors import Fault
from controller.registry.mlflow.connection import translate_error
from controller.registry.uris import REMOTE_SCHEMES, check_local_uri, redact_uri, scheme

ARN = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/prod"


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("https://bot:hunter2@mlflow.example:5000/x?token=abc", "https://mlflow.example:5000/x"),
        (ARN, "arn:aws:sagemaker:eu-west-1:********9012:mlflow-tracking-server/prod"),
        (
            "arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/app-ab12",
            "arn:aws:sagemaker:us-east-1:********9012:mlflow-app/app-ab12",
        ),
        ("arn:aws:s3:::bucket", "arn:aws:s3:::bucket"),  # no account to mask
        ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
        ("databricks-uc", "databricks-uc"),
    ],
)
def test_a_uri_is_printed_without_credentials_and_with_the_account_masked(
    uri: str, shown: str
) -> None:
    assert redact_uri(uri) == shown


def test_an_arn_is_a_remote_registry_not_a_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    assert scheme(ARN) == "arn"
    assert scheme(ARN) in REMOTE_SCHEMES
    check_local_uri(ARN)  # not the file store, so no "switched off" or "no file store at"


class _RefusedError(Exception):
    def __init__(self, message: str, error_code: str = "") -> None:
        super().__init__(message)
        self.error_code = error_code


@pytest.mark.parametrize("variable", ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"])
def test_aws_credentials_in_a_message_never_reach_the_error(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    planted = "planted+aws/credential-0123456789"
    monkeypatch.setenv(variable, planted)
    error = translate_error(ARN, _RefusedError(f"SignatureDoesNotMatch: signed with {planted}"))
    assert planted not in str(error)
    assert "***" in str(error)


def test_a_refused_signature_on_sagemaker_names_the_aws_credentials() -> None:
    error = translate_error(ARN, _RefusedError("API request failed with error code 401 != 200"))
    assert error.fault is Fault.AUTH
    assert "check the AWS credentials" in error.detail
    assert "MLFLOW_TRACKING_USERNAME" not in error.detail
    assert "123456789012" not in str(error)
