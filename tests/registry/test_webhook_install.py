"""What `webhook install` decides from the webhooks a server lists (pure)."""

from __future__ import annotations

from controller.registry.webhook_install import Action, WebhookInfo, plan_install, select_for_test
from controller.serve.webhook_event import ALIAS_EVENTS

EVENTS = frozenset(ALIAS_EVENTS)
URL = "https://aliasctl.example/webhooks/mlflow"


def hook(
    id: str,  # noqa: A002
    name: str = "aliasctl",
    url: str = URL,
    events: frozenset[str] = EVENTS,
    active: bool = True,
    created_ms: int = 0,
) -> WebhookInfo:
    return WebhookInfo(id, name, url, events, active, created_ms)


def test_nothing_matching_is_created() -> None:
    other = hook("1", name="slack", url="https://hooks.example/x")
    plan = plan_install([other], "aliasctl", URL, EVENTS)
    assert (plan.action, plan.keep, plan.duplicates) == (Action.CREATE, None, ())


def test_the_same_webhook_is_unchanged() -> None:
    plan = plan_install([hook("1")], "aliasctl", URL, EVENTS)
    assert (plan.action, plan.keep, plan.changes) == (Action.UNCHANGED, hook("1"), ())


def test_each_difference_is_named() -> None:
    stale = hook("1", url="http://old/hook", events=frozenset({"model_version.created"}))
    plan = plan_install(
        [hook("0", name="x", url="y"), replace_active(stale)], "aliasctl", URL, EVENTS
    )
    assert plan.action is Action.UPDATE
    assert plan.changes == (
        f"url http://old/hook -> {URL}",
        "events model_version.created -> model_version_alias.created, model_version_alias.deleted",
        "status DISABLED -> ACTIVE",
    )


def replace_active(info: WebhookInfo) -> WebhookInfo:
    return WebhookInfo(info.id, info.name, info.url, info.events, False, info.created_ms)


def test_the_best_match_is_kept_and_the_rest_are_duplicates() -> None:
    by_name = hook("a", url="http://elsewhere/", created_ms=1)
    by_url = hook("b", name="renamed", created_ms=2)
    exact_new = hook("d", created_ms=9)
    exact_old = hook("c", created_ms=5)
    plan = plan_install([by_name, by_url, exact_new, exact_old], "aliasctl", URL, EVENTS)
    assert plan.keep == exact_old
    assert plan.action is Action.UNCHANGED
    assert plan.duplicates == (exact_new, by_url, by_name)


def test_a_url_match_wins_over_a_name_match() -> None:
    by_name = hook("a", url="http://elsewhere/")
    by_url = hook("b", name="old-name")
    plan = plan_install([by_name, by_url], "aliasctl", URL, EVENTS)
    assert plan.keep == by_url
    assert plan.changes == ("name old-name -> aliasctl",)
    assert plan.duplicates == (by_name,)


def test_select_for_test_by_url_else_by_name() -> None:
    hooks = [hook("1"), hook("2", name="other", url="http://x/")]
    assert select_for_test(hooks, url="http://x/", name="aliasctl") == [hooks[1]]
    assert select_for_test(hooks, url=None, name="aliasctl") == [hooks[0]]
    assert select_for_test(hooks, url="http://nowhere/", name="aliasctl") == []
