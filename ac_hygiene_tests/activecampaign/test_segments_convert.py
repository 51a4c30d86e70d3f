from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from ac_hygiene.activecampaign.convert import meta_total, parse_utc, to_bool_count, to_int
from ac_hygiene.activecampaign.errors import InvalidSegment
from ac_hygiene.activecampaign.segments import ALL, Segment, parse_segment


@pytest.mark.parametrize(
    ("text", "segment"),
    [
        ("all", ALL),
        (" ALL ", ALL),
        ("list-3", Segment("list", 3)),
        ("tag-12", Segment("tag", 12)),
        ("List-7", Segment("list", 7)),
    ],
)
def test_parse_segment(text: str, segment: Segment) -> None:
    parsed = parse_segment(text)
    assert parsed == segment
    assert parse_segment(parsed.key) == parsed


@pytest.mark.parametrize(
    "text",
    ["", "list", "list-", "list-0", "list-03", "tag-x", "segment-1", "list-1|tag-2", "all-1"],
)
def test_bad_segments_are_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(InvalidSegment, match="`all`, `list-<id>` or `tag-<id>`") as excinfo:
        parse_segment(text)
    assert isinstance(excinfo.value, ValueError)


def test_segment_filters() -> None:
    assert ALL.contact_params() == {}
    assert Segment("list", 3).contact_params() == {"listid": 3}
    assert Segment("tag", 9).contact_params() == {"tagid": 9}
    with pytest.raises(InvalidSegment):
        Segment("list")


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
