"""Snapshots for the status page's tests: a realistic one, with every state and a hostile name."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from controller.core.problem import Problem
from controller.registry.seam import ServerVersion
from controller.serve.status import (
    AliasState,
    AliasStatus,
    Applied,
    CycleOutcome,
    Event,
    EventKind,
    Snapshot,
)
from controller.serve.webhook_support import webhook_support

NOW = datetime(2026, 11, 26, 18, 30, 0, tzinfo=UTC)
SHA = "3f9c2a1b7d4e5f60718293a4b5c6d7e8f9012345"
# Model names are user data: a page that does not escape them runs this.
HOSTILE = '<script>alert("pwned")</script>\'q'
LONG = "recommendations-two-tower-retrieval-embedding-model-for-the-homepage-carousel"


def realistic(now: datetime = NOW) -> Snapshot:
    """One of each state, a model with no apply recorded, refusals, and every event kind."""
    aliases = (
        AliasStatus("churn-classifier", "champion", 7, 7, AliasState.IN_SYNC),
        AliasStatus("churn-classifier", "challenger", 9, 8, AliasState.PENDING, "warn mode"),
        AliasStatus(
            "fraud-detector", "champion", 4, 6, AliasState.DRIFTED, "moved outside aliasctl"
        ),
        AliasStatus("fraud-detector", "shadow", None, 2, AliasState.PENDING, "no longer declared"),
        AliasStatus(HOSTILE, "prod", 3, None, AliasState.PENDING, 'reason with <b>tags</b> & "q"'),
        AliasStatus(LONG, "champion", 12, 12, AliasState.IN_SYNC),
        AliasStatus(
            "search-ranker",
            "production",
            31,
            30,
            AliasState.BLOCKED,
            "evidence: ndcg@10 0.412 below the floor 0.420",
        ),
    )
    events = (
        Event(
            EventKind.DRIFT_FOUND,
            now - timedelta(seconds=40),
            "fraud-detector",
            "champion",
            4,
            6,
            SHA,
            "moved outside aliasctl",
        ),
        Event(
            EventKind.DRIFT_HEALED,
            now - timedelta(minutes=12),
            "churn-classifier",
            "champion",
            6,
            7,
            SHA,
        ),
        Event(EventKind.ALIAS_MOVED, now - timedelta(hours=2), LONG, "champion", 11, 12, SHA),
        Event(
            EventKind.CYCLE_FAILED,
            now - timedelta(days=1, hours=3),
            reason="registry unreachable: connection refused",
        ),
    )
    return Snapshot(
        file="deploy/aliases.yaml",
        registry="https://mlflow.example.invalid/",
        instance="prod-eu",
        drift_mode="heal",
        interval_seconds=300,
        started_at=now - timedelta(days=2, hours=5),
        aliases=tuple(sorted(aliases)),
        last_applied={
            "churn-classifier": Applied(SHA, "2026-11-26T18:18:00Z"),
            "fraud-detector": Applied("9a8b7c6d5e4f", "2026-11-20T09:00:00Z"),
            LONG: Applied(SHA, "not a time"),
        },
        problems=(
            Problem(
                "search-ranker", "production", f"search-ranker@production: {HOSTILE} gate refused"
            ),
        ),
        events=events,
        commit=SHA,
        cycles=612,
        last_cycle_at=now - timedelta(seconds=40),
        last_outcome=CycleOutcome.BLOCKED,
        last_error="1 change held back by a gate",
        last_success_at=now - timedelta(seconds=40),
        webhooks=webhook_support(
            "https", True, ServerVersion(3, 17, 2), secret_set=True, interval_seconds=300
        ),
    )


def fresh(now: datetime = NOW) -> Snapshot:
    """Just started: no cycle, no aliases, no events."""
    return Snapshot(
        file="aliases.yaml",
        registry="sqlite:///mlflow.db",
        instance="default",
        drift_mode="warn",
        interval_seconds=60,
        started_at=now - timedelta(seconds=3),
    )


def failing(now: datetime = NOW) -> Snapshot:
    """The registry went away: the last cycle failed long after the last success."""
    return replace(
        realistic(now),
        last_cycle_at=now - timedelta(minutes=20),
        last_outcome=CycleOutcome.FAILED,
        last_error="registry unreachable: <timeout> after 30 s",
        last_success_at=now - timedelta(hours=3),
    )


def many(count: int, now: datetime = NOW) -> Snapshot:
    """`count` aliases over count/2 models, a few of them not in sync."""
    states = (AliasState.IN_SYNC,) * 47 + (
        AliasState.DRIFTED,
        AliasState.PENDING,
        AliasState.BLOCKED,
    )
    aliases = tuple(
        AliasStatus(
            f"model-{i // 2:05d}",
            ("champion", "challenger")[i % 2],
            3,
            3 if i % 50 < 47 else 2,
            states[i % 50],
            "" if i % 50 < 47 else "why",
        )
        for i in range(count)
    )
    applied = {f"model-{m:05d}": Applied(SHA, "2026-11-26T17:00:00Z") for m in range(count // 2)}
    return replace(realistic(now), aliases=aliases, last_applied=applied)
