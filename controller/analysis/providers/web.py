"""One GET of a JSON answer, for the prometheus and http providers (urllib: no new dependency).

Every failure becomes a ProviderError naming the address without its user, password or
query string (registry/uris.py's `redact_uri`), and the body of an error answer is
quoted only briefly (and redacted). A user and password in the address are sent as
HTTP basic auth, which urllib does not do from the address itself. Redirects are not
followed: urllib would send the headers (a token) on to wherever one points.
"""

from __future__ import annotations

import base64
import json
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener

from controller.analysis.reading import provider_error
from controller.registry.uris import redact_uri
from controller.secrets import remember

if TYPE_CHECKING:
    from collections.abc import Mapping

# An answer to judge is small; a bound keeps a wrong address from filling memory.
MAX_BYTES = 8 * 1024 * 1024
QUOTED_BODY = 200


class _NoRedirects(HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # urllib then raises the 3xx as an HTTPError: an answer like any other


_OPENER = build_opener(_NoRedirects)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


def get(provider: str, url: str, headers: Mapping[str, str], timeout: float) -> Answer:
    """GET `url`: the answer whatever its status (the caller judges it); ProviderError when
    nothing answers, or the answer is cut or too slow."""
    parts = urlsplit(url)
    where = redact_uri(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise provider_error(provider, f"{where} is not an http:// or https:// address")
    sent = dict(headers)
    if parts.password is not None:
        user, password = unquote(parts.username or ""), unquote(parts.password)
        remember(password)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        sent.setdefault("Authorization", f"Basic {token}")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        netloc = f"{host}:{parts.port}" if parts.port else host
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    request = Request(url, headers={"Accept": "application/json", **sent})  # noqa: S310 - http(s)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return Answer(response.status, response.read(MAX_BYTES))
    except HTTPError as error:
        with error:
            if 300 <= error.code < 400:  # a redirect
                moved = redact_uri(error.headers.get("Location", "") or "?")
                raise provider_error(
                    provider, f"{where} answered {error.code}, a redirect to {moved}: "
                    "write the address it names"
                ) from None  # fmt: skip
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
