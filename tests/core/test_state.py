"""The ownership record: encoding, and splitting past the 5,000-character tag column."""

from __future__ import annotations

from controller.core.state import MAX_TAG_VALUE, RECORD_TAG, Record, record_part_tags


def big_record(aliases: int = 300, source_chars: int = 0) -> Record:
    return Record(
        {f"alias-number-{i:04}": i + 1 for i in range(aliases)},
        instance="team-a",
        commit="f" * 40,
        applied_at="2026-11-26T12:00:00Z",
        source={"run_url": "https://ci.example/" + "x" * source_chars, "file": "aliases.yaml"},
    )


def test_a_small_record_is_one_tag() -> None:
    record = Record({"champion": 3}, instance="default", commit="abc")
    tags = record.to_tags()
    assert list(tags) == [RECORD_TAG]
    assert Record.from_tags(tags) == record


def test_a_large_record_is_split_into_parts_that_each_fit() -> None:
    record = big_record(aliases=300, source_chars=20_000)
    tags = record.to_tags()
    assert len(tags) > 2
    assert all(len(value) <= MAX_TAG_VALUE for value in tags.values())
    assert Record.from_tags(tags) == record
    assert record_part_tags(tags) == set(tags) - {RECORD_TAG}


def test_a_torn_record_counts_as_absent_never_as_partial() -> None:
    tags = big_record().to_tags()
    part = sorted(record_part_tags(tags))[0]
    assert Record.from_tags({k: v for k, v in tags.items() if k != part}) is None
    assert Record.from_tags({**tags, part: tags[part][:-1] + "!"}) is None


def test_a_new_head_with_old_parts_still_beside_it_reads_the_new_record() -> None:
    old, new = big_record(300), big_record(301)
    tags = {**old.to_tags(), **new.to_tags()}  # new parts and head written, old parts not yet gone
    assert Record.from_tags(tags) == new
