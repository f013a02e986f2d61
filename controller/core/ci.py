"""Where a run happens: the CI's context, read from the environment it is given (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

# GitHub Actions' standard variables: https://docs.github.com/actions/reference/variables
_GITHUB = {
    "actor": "GITHUB_ACTOR",
    "repository": "GITHUB_REPOSITORY",
    "event": "GITHUB_EVENT_NAME",
    "ref": "GITHUB_REF",
    "workflow": "GITHUB_WORKFLOW",
}


def ci_context(env: Mapping[str, str]) -> dict[str, str]:
    if env.get("GITHUB_ACTIONS") != "true":
        return {}
    context = {"ci": "github-actions"}
    context.update({key: env[name] for key, name in _GITHUB.items() if env.get(name)})
    server, repository, run = (
        env.get("GITHUB_SERVER_URL"),
        env.get("GITHUB_REPOSITORY"),
        env.get("GITHUB_RUN_ID"),
    )
    if server and repository and run:
        context["run_url"] = f"{server}/{repository}/actions/runs/{run}"
    return context
