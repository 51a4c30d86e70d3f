"""Segments: which contacts one run covers (`all`, `list-<id>`, `tag-<id>`, `untagged`, `unlisted`).

The same strings are the Dagster dynamic partition keys, so they are short, stable and never
contain a `|` (the multi-partition separator).

`untagged` and `unlisted` are the *remainders* of a segmented month: the contacts with no tag (on
no list, active or unsubscribed). With every tag present on the month's contacts planned as a
segment, the tag segments and `untagged` together hold every contact of the account, so
segmenting chunks the work without leaving anyone out. The API has no filter for them: they are
cut from a full read (the month's account snapshot), like every segment of a segmented month.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import polars as pl

from ac_hygiene.activecampaign.errors import InvalidSegment

SegmentKind = Literal["all", "list", "tag", "untagged", "unlisted"]
REMAINDERS: tuple[SegmentKind, ...] = ("untagged", "unlisted")

_PATTERN = re.compile(r"(all|untagged|unlisted)|(list|tag)-([1-9][0-9]{0,17})")


@dataclass(frozen=True)
class Segment:
    kind: SegmentKind
    id: int | None = None

    def __post_init__(self) -> None:
        if (self.kind in ("list", "tag")) != (self.id is not None):
            raise InvalidSegment(
                f"segment `{self.kind}` {'needs' if self.kind in ('list', 'tag') else 'has no'} "
                "id; only `list` and `tag` segments have one"
            )

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.id}" if self.id is not None else self.kind

    def __str__(self) -> str:
        return self.key

    @property
    def filtered_read(self) -> bool:
        """Whether the API can return just this segment (`listid` / `tagid`); a remainder (and
        `all`) is a read of the whole account."""
        return self.kind in ("list", "tag")

    def contact_params(self) -> dict[str, int]:
        """Filters of `GET /contacts` for this segment (`listid` / `tagid`); none for the others,
        which are read whole and cut with `select_segment`."""
        if self.kind == "list":
            return {"listid": int(self.id or 0)}
        if self.kind == "tag":
            return {"tagid": int(self.id or 0)}
        return {}


ALL = Segment("all")


def parse_segment(text: str | Segment) -> Segment:
    """`all`, `list-12`, `tag-7`, `untagged`, `unlisted` -> Segment; anything else raises
    InvalidSegment (a ValueError)."""
    if isinstance(text, Segment):
        return text
    match = _PATTERN.fullmatch(text.strip().lower()) if isinstance(text, str) else None
    if match is None:
        raise InvalidSegment(
            f"Invalid segment {text!r}: use `all`, `list-<id>`, `tag-<id>` (the numeric id of an "
            "ActiveCampaign list or tag, e.g. `list-3`), `untagged` or `unlisted`."
        )
    if match.group(1):
        return ALL if match.group(1) == "all" else Segment(match.group(1))  # type: ignore[arg-type]
    return Segment(match.group(2), int(match.group(3)))  # type: ignore[arg-type]


def _on_lists() -> pl.Expr:
    return pl.concat_list("active_list_ids", "unsubscribed_list_ids")


def select_segment(contacts: pl.DataFrame, segment: Segment | str) -> pl.DataFrame:
    """The contacts of `segment` among `contacts` (a `Contacts` table, e.g. the account snapshot).

    A list segment is what `GET /contacts?listid=` returns: contacts with a membership of the list,
    active or unsubscribed (the only statuses the table keeps).
    """
    segment = parse_segment(segment)
    if segment.kind == "all":
        return contacts
    if segment.kind == "tag":
        return contacts.filter(pl.col("tag_ids").list.contains(segment.id))
    if segment.kind == "list":
        return contacts.filter(_on_lists().list.contains(segment.id))
    if segment.kind == "untagged":
        return contacts.filter(pl.col("tag_ids").list.len() == 0)
    return contacts.filter(_on_lists().list.len() == 0)


def segment_ids(contacts: pl.DataFrame, kind: Literal["tag", "list"]) -> list[int]:
    """Every tag (list) id present on `contacts`: the segments that, with the remainder, cover
    them all."""
    return ids_in(segment_sizes(contacts), kind)


def ids_in(sizes: Mapping[str, int], kind: Literal["tag", "list"]) -> list[int]:
    """The tag (list) ids among the segments of `segment_sizes`."""
    prefix = f"{kind}-"
    return sorted(int(key.removeprefix(prefix)) for key in sizes if key.startswith(prefix))


def segment_sizes(contacts: pl.DataFrame) -> dict[str, int]:
    """Contacts per segment of either kind (`tag-<id>`, `list-<id>`, `untagged`, `unlisted`):
    the planner runs the largest segments first, so that the month does not end on one long run
    while the other run slots stand idle."""
    sizes: dict[str, int] = {}
    for kind, column in (("tag", pl.col("tag_ids")), ("list", _on_lists())):
        counts = (
            contacts.select(column.list.unique().alias("id"))
            .get_column("id")
            .explode()
            .drop_nulls()
            .value_counts()
        )
        for segment_id, n in counts.iter_rows():
            sizes[f"{kind}-{segment_id}"] = int(n)
    sizes["untagged"] = int(contacts.select(pl.col("tag_ids").list.len().eq(0).sum()).item())
    sizes["unlisted"] = int(contacts.select(_on_lists().list.len().eq(0).sum()).item())
    return sizes
