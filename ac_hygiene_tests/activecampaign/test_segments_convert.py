from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from ac_hygiene.activecampaign.convert import meta_total, parse_utc, to_bool_count, to_int
from ac_hygiene.activecampaign.errors import InvalidSegment
from ac_hygiene.activecampaign.segments import (
    ALL,
    Segment,
    parse_segment,
    segment_ids,
    segment_sizes,
    select_segment,
)


@pytest.mark.parametrize(
    ("text", "segment"),
    [
        ("all", ALL),
        (" ALL ", ALL),
        ("list-3", Segment("list", 3)),
        ("tag-12", Segment("tag", 12)),
        ("List-7", Segment("list", 7)),
        ("untagged", Segment("untagged")),
        ("Unlisted", Segment("unlisted")),
    ],
)
def test_parse_segment(text: str, segment: Segment) -> None:
    parsed = parse_segment(text)
    assert parsed == segment
    assert parse_segment(parsed.key) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "",
        "list",
        "list-",
        "list-0",
        "list-03",
        "tag-x",
        "segment-1",
        "list-1|tag-2",
        "all-1",
        "untagged-1",
    ],
)
def test_bad_segments_are_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(
        InvalidSegment, match=r"`all`, `list-<id>`, `tag-<id>`.*`untagged` or `unlisted`"
    ) as excinfo:
        parse_segment(text)
    assert isinstance(excinfo.value, ValueError)


def test_segment_filters() -> None:
    assert ALL.contact_params() == {}
    assert Segment("list", 3).contact_params() == {"listid": 3}
    assert Segment("tag", 9).contact_params() == {"tagid": 9}
    assert Segment("untagged").contact_params() == {}
    with pytest.raises(InvalidSegment):
        Segment("list")
    with pytest.raises(InvalidSegment):
        Segment("untagged", 3)


def test_segments_cut_from_a_snapshot_cover_every_contact() -> None:
    snapshot = pl.DataFrame(
        {
            "contact_id": [1, 2, 3, 4, 5],
            "active_list_ids": [[1], [], [2], [], []],
            "unsubscribed_list_ids": [[], [1], [], [], []],
            "tag_ids": [[7, 8], [8], [], [], [9]],
        },
        schema={
            "contact_id": pl.Int64,
            "active_list_ids": pl.List(pl.Int64),
            "unsubscribed_list_ids": pl.List(pl.Int64),
            "tag_ids": pl.List(pl.Int64),
        },
    )

    def ids(segment: str) -> list[int]:
        return select_segment(snapshot, segment)["contact_id"].to_list()

    assert ids("all") == [1, 2, 3, 4, 5]
    assert ids("tag-8") == [1, 2]
    assert ids("list-1") == [1, 2]  # unsubscribed members too, as `listid=` answers
    assert ids("untagged") == [3, 4]
    assert ids("unlisted") == [4, 5]
    for kind, remainder in (("tag", "untagged"), ("list", "unlisted")):
        present = segment_ids(snapshot, kind)
        covered = {i for key in [*(f"{kind}-{i}" for i in present), remainder] for i in ids(key)}
        assert covered == {1, 2, 3, 4, 5}
    assert segment_ids(snapshot, "tag") == [7, 8, 9]
    assert segment_ids(snapshot, "list") == [1, 2]
    # the sizes the planner orders runs by are the sizes of the segments the runs select
    sizes = segment_sizes(snapshot)
    every = [*(f"tag-{i}" for i in (7, 8, 9)), *(f"list-{i}" for i in (1, 2))]
    for segment in [*every, "untagged", "unlisted"]:
        assert sizes[segment] == len(ids(segment)), segment
    assert set(sizes) == {*every, "untagged", "unlisted"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("68", 68),
        (" 7 ", 7),
        (5, 5),
        ("5.0", 5),
        ("", None),
        (None, None),
        ("x", None),
        (True, None),
    ],
)
def test_to_int(value: object, expected: int | None) -> None:
    assert to_int(value) == expected


def test_bounced_hard_is_a_counter() -> None:
    assert [to_bool_count(v) for v in ("0", "1", "3", "", None, 0)] == [
        False,
        True,
        True,
        False,
        False,
        False,
    ]


def test_meta_total_is_a_string_in_the_api() -> None:
    assert meta_total({"meta": {"total": "1234"}}) == 1234
    assert meta_total({"meta": {}}) is None
    assert meta_total({}) is None


def test_dates_become_utc() -> None:
    values = [
        "2026-01-05T10:11:12-06:00",
        "2026-01-05T10:11:12.250+01:00",
        "2026-01-05T10:11:12Z",
        "2026-01-05 16:11:12",
        "0000-00-00 00:00:00",
        "",
        None,
        "garbage",
    ]
    parsed = pl.DataFrame({"d": values}).select(parse_utc(pl.col("d")))["d"].to_list()
    assert parsed == [
        datetime(2026, 1, 5, 16, 11, 12, tzinfo=UTC),
        datetime(2026, 1, 5, 9, 11, 12, 250000, tzinfo=UTC),
        datetime(2026, 1, 5, 10, 11, 12, tzinfo=UTC),
        datetime(2026, 1, 5, 16, 11, 12, tzinfo=UTC),
        None,
        None,
        None,
        None,
    ]
