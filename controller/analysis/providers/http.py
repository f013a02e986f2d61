"""The `http` provider: a GET whose JSON answer (or a part of it) is judged.

Headers may name environment variables as `${NAME}` (a token): the value is read when
the request is sent, never written to the file or any output, and `remember`ed so that
every output redacts it (controller/secrets.py). A missing variable is named, its value
never is. A non-2xx answer, an answer that is not JSON and a `json_path` the answer does
not have are a ProviderError.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from controller.analysis.providers.web import get, parse_json, quote
from controller.analysis.reading import Reading, provider_error
from controller.analysis.template import render
from controller.desired.analysis import seconds
from controller.registry.uris import redact_uri
from controller.secrets import remember

if TYPE_CHECKING:
    from collections.abc import Mapping

    from controller.desired.analysis import HttpCheck

NAME = "http"
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def check(spec: HttpCheck, values: Mapping[str, str]) -> Reading:
    url = render(spec.url, values)
    headers = {name: expand(name, value) for name, value in spec.headers.items()}
    answer = get(NAME, url, headers, seconds(spec.timeout))
    where = redact_uri(url)
    if not 200 <= answer.status < 300:
        raise provider_error(NAME, f"{where} answered {answer.status}: {quote(answer)}")
    body = parse_json(NAME, url, answer)
    if spec.json_path is None:
        return Reading(body)
    return Reading(follow(where, body, spec.json_path), f"{spec.json_path} of {where}")


def expand(header: str, value: str) -> str:
    """A header's value with each `${NAME}` replaced by that environment variable."""

    def variable(match: re.Match[str]) -> str:
        name = match.group(1)
        found = os.environ.get(name)
        if found is None:
            raise provider_error(
                NAME, f"the environment variable {name} (header {header}) is not set"
            )
        remember(found)
        return found

    return VARIABLE.sub(variable, value)


def follow(where: str, body: object, path: str) -> object:
    """`data.error_rate`, `items.0.value`: keys of objects, and whole numbers index lists."""
    found = body
    walked: list[str] = []
    for step in path.split("."):
        walked.append(step)
        if isinstance(found, dict) and step in found:
            found = found[step]
        elif isinstance(found, list) and step.isdigit() and int(step) < len(found):
            found = found[int(step)]
        else:
            raise provider_error(NAME, f"{where} answered without {'.'.join(walked)}")
    return found
