"""How aliasctl writes an instant (records, the lock, holds, evidence), in one place."""

from __future__ import annotations

from datetime import UTC, datetime

UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_text(moment: datetime) -> str:
    """An instant as aliasctl writes it: `2026-12-04T18:01:00Z`.

    An aware time is converted to UTC first; a naive one is taken to be UTC already.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(UTC_FORMAT)


def parse_utc(text: object) -> datetime | None:
    """An instant written by `utc_text`, aware; None for anything else."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, UTC_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
