"""What one measurement read: the raw value a condition judges, and a line for people."""

from __future__ import annotations

from dataclasses import dataclass

from controller.errors import ProviderError
from controller.secrets import redact


@dataclass(frozen=True)
class Reading:
    """A provider's answer. `value`: a number, a list of numbers (several series; empty: no
    data, which the judge counts as Inconclusive), JSON (http) or an exit code (command).
    `detail`: what people need to read it (a sample's labels, a command's output tail)."""

    value: object
    detail: str = ""


def provider_error(provider: str, detail: str) -> ProviderError:
    """The provider could not answer: `detail` redacted, since it may quote an answer."""
    return ProviderError(provider, redact(detail))
