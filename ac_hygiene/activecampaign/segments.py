"""Segments: which contacts one extraction covers (`all`, `list-<id>`, `tag-<id>`).

The same strings are the Dagster dynamic partition keys, so they are short, stable and never
contain a `|` (the multi-partition separator).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ac_hygiene.activecampaign.errors import InvalidSegment

SegmentKind = Literal["all", "list", "tag"]

_PATTERN = re.compile(r"(all)|(list|tag)-([1-9][0-9]{0,17})")


@dataclass(frozen=True)
class Segment:
    kind: SegmentKind
    id: int | None = None

    def __post_init__(self) -> None:
        if (self.kind == "all") != (self.id is None):
            raise InvalidSegment("segment `all` has no id; `list` and `tag` segments need one")

    @property
    def key(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}-{self.id}"

    def __str__(self) -> str:
        return self.key

    def contact_params(self) -> dict[str, int]:
        """Filters of `GET /contacts` for this segment (`listid` / `tagid`)."""
        if self.kind == "list":
            return {"listid": int(self.id or 0)}
        if self.kind == "tag":
            return {"tagid": int(self.id or 0)}
        return {}


ALL = Segment("all")


def parse_segment(text: str | Segment) -> Segment:
    """`all`, `list-12`, `tag-7` -> Segment; anything else raises InvalidSegment (a ValueError)."""
    if isinstance(text, Segment):
        return text
    match = _PATTERN.fullmatch(text.strip().lower()) if isinstance(text, str) else None
    if match is None:
        raise InvalidSegment(
            f"Invalid segment {text!r}: use `all`, `list-<id>` or `tag-<id>` with the numeric id "
            "of an ActiveCampaign list or tag (e.g. `list-3`, `tag-12`)."
        )
    if match.group(1):
        return ALL
    return Segment(match.group(2), int(match.group(3)))  # type: ignore[arg-type]
