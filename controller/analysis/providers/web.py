"""One GET of a JSON answer, for the prometheus and http providers (urllib: no new dependency).

Every failure becomes a ProviderError naming the address without its user, password or
query string (registry/uris.py's `redact_uri`), and the body of an error answer is
quoted only briefly (and redacted). A user and password in the address are sent as
HTTP basic auth, which urllib does not do from the address itself.
"""

from __future__ import annotations

import base64
import json
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import Request, urlopen

from controller.analysis.reading import provider_error
from controller.registry.uris import redact_uri
from controller.secrets import remember

if TYPE_CHECKING:
    from collections.abc import Mapping

# An answer to judge is small; a bound keeps a wrong address from filling memory.
MAX_BYTES = 8 * 1024 * 1024
QUOTED_BODY = 200


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


def get(provider: str, url: str, headers: Mapping[str, str], timeout: float) -> Answer:
    """GET `url`: the answer whatever its status (the caller judges it); ProviderError when
    nothing answers, or the answer is cut or too slow."""
    parts = urlsplit(url)
    sent = dict(headers)
    if parts.password is not None:
        user, password = unquote(parts.username or ""), unquote(parts.password)
        remember(password)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        sent.setdefault("Authorization", f"Basic {token}")
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    where = redact_uri(url)
    request = Request(url, headers={"Accept": "application/json", **sent})  # noqa: S310 - http(s) only
    try:
        with urlopen(request, timeout=timeout) as response:  # noqa: S310 - checked by the spec
            return Answer(response.status, response.read(MAX_BYTES))
    except HTTPError as error:
        with error:
            return Answer(error.code, error.read(MAX_BYTES))
    except TimeoutError:
        raise provider_error(provider, f"{where} did not answer within {timeout:g}s") from None
    except URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            raise provider_error(provider, f"{where} did not answer within {timeout:g}s") from None
        raise provider_error(provider, f"cannot reach {where}: {_reason(reason)}") from None
    except (OSError, ValueError) as error:  # a cut connection, a malformed address
        raise provider_error(provider, f"cannot read {where}: {_reason(error)}") from None


def parse_json(provider: str, url: str, answer: Answer) -> object:
    """The answer as JSON; ProviderError for anything else."""
    try:
        return json.loads(answer.body)
    except (ValueError, UnicodeDecodeError):
        raise provider_error(
            provider, f"{redact_uri(url)} answered {answer.status} with no JSON: {quote(answer)}"
        ) from None


def quote(answer: Answer) -> str:
    """The start of an answer's body, on one line, for a message."""
    text = answer.body[:QUOTED_BODY].decode("utf-8", "replace")
    text = " ".join(text.split())
    return repr(text + ("..." if len(answer.body) > QUOTED_BODY else ""))


def _reason(error: object) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
